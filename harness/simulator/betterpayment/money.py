"""Amounts: the API speaks decimal euros (15.90, "15.90"); the simulator counts integer cents.

Why cents: sums of partial captures and refunds must be exact; floats would let 0.1 + 0.2 exceed 0.3.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_CENTS = 9_999_999_999  # 99,999,999.99 (adopted ceiling)
_TEXT = re.compile(r"^\d{1,12}(\.\d{1,2})?\Z", re.ASCII)  # ASCII digits: "١٥.٩٠" is not an amount
# A JSON float this close to a whole cent is that cent: PHP plugins send sums of floats (2.5399999999999996 for
# 2.54, catalog leniency BP-LENIENT-NUMBERS-FOR-AMOUNTS); text must still have at most two decimals.
_FLOAT_NOISE = Decimal("0.000001")


def parse_cents(value: object, *, allow_zero: bool = False) -> int | None:
    """Cents for a JSON number or numeric string with at most two decimals; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return None
    elif isinstance(value, str) and (text := _TEXT.match(value.strip())):
        # The usual case ("15.90"): digits with at most two decimals are their cents without Decimal.
        whole, _, fraction = text.group().partition(".")
        cents = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
        return None if cents > MAX_CENTS or (cents == 0 and not allow_zero) else cents
    else:
        return None
    if not amount.is_finite() or not Decimal(0) <= amount <= Decimal(MAX_CENTS) / 100:
        return None
    cent = amount.quantize(Decimal("0.01"))
    if amount != cent:
        if not isinstance(value, float) or abs(amount - cent) > _FLOAT_NOISE:
            return None
        amount = cent
    cents = int(amount * 100)
    if cents < 0 or cents > MAX_CENTS or (cents == 0 and not allow_zero):
        return None
    return cents


def as_number(cents: int) -> float:
    """The JSON number the API answers (15.9 == 15.90)."""
    return cents / 100


def as_text(cents: int) -> str:
    """Two-decimal text, as postbacks and messages show amounts ("15.90")."""
    return f"{cents // 100}.{cents % 100:02d}"
