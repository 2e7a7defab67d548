"""Card numbers: the Luhn check and the first-six/last-four mask, written once for every layer.

The redaction of evidence, the leak audit, the OpenAPI `pan` format, the simulators' validation and storage,
the catalog's requirement titles and the suites all use these functions, so they can never disagree about what
a valid card number is or how a masked one looks (PCI DSS display rule: at most the first six and the last four
digits). Pure functions of their arguments, importing nothing from paycert, so every layer may use them.

The test card numbers themselves are catalog data (fixtures/catalog/*.yaml); `harness.catalog.known_pans()`
lists them, for the masks that must hide a documented card even where it fails Luhn on purpose.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

__all__ = ["PAN_MAX_DIGITS", "PAN_MIN_DIGITS", "luhn_complete", "luhn_valid", "mask_digits", "mask_pan", "random_text"]

#: The lengths of card numbers the redaction treats as PANs (ISO/IEC 7812 issues 13-19 digit card numbers).
PAN_MIN_DIGITS: Final = 13
PAN_MAX_DIGITS: Final = 19


def _luhn_sum(digits: str) -> int:
    """The Luhn sum of `digits`, counting the last digit as position 0 (not doubled)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = (ord(char) - 48) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total


def luhn_valid(digits: str) -> bool:
    """True when `digits` (ASCII digits only) passes the Luhn check; anything else is False, not an error."""
    if not isinstance(digits, str) or not digits or not digits.isascii() or not digits.isdigit():
        return False
    return _luhn_sum(digits) % 10 == 0


def luhn_complete(digits: str) -> str:
    """`digits` with the Luhn check digit appended (for making a valid card number that is not a test card)."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"luhn_complete expects ASCII digits, got a string of length {len(digits)}")
    return digits + str((10 - _luhn_sum(digits + "0")) % 10)


def mask_digits(digits: str) -> str:
    """First six and last four of a digit string, one `*` per hidden digit; no check of length or content.

    For stores and messages that must mask whatever a client sent (the simulators); `mask_pan` is the checked
    form for evidence.
    """
    return digits[:6] + "*" * max(len(digits) - 10, 0) + digits[-4:]


def mask_pan(pan: str) -> str:
    """First six, one `*` per hidden digit, last four; spaces and hyphens between digits are dropped.

    Raises ValueError for anything that is not 13-19 digits. The message gives the length, never the value,
    so the error itself cannot leak a card number.
    """
    if not isinstance(pan, str) or re.fullmatch(r"[0-9][0-9 -]*[0-9]", pan) is None:
        raise ValueError(
            f"mask_pan expects a string of {PAN_MIN_DIGITS}-{PAN_MAX_DIGITS} digits "
            "(spaces and hyphens allowed), "
            f"got {type(pan).__name__} of length {len(pan) if isinstance(pan, str) else 'n/a'}"
        )
    digits = "".join(ch for ch in pan if "0" <= ch <= "9")
    if not PAN_MIN_DIGITS <= len(digits) <= PAN_MAX_DIGITS:
        raise ValueError(f"mask_pan expects {PAN_MIN_DIGITS}-{PAN_MAX_DIGITS} digits, got {len(digits)} digit(s)")
    return mask_digits(digits)


def random_text(length: int) -> str:
    """`length` random lowercase hex characters in which no run of digits is long enough to be a card number.

    Why: the suites make fresh order references and ids from random hex, and about one in 500 such ids held a
    Luhn-valid 13-19 digit run: a target that masks card-number-like text at rest (the simulator does) then
    echoes it masked, and an exact echo check fails at random. A digit that would make a run of
    PAN_MIN_DIGITS - 1 becomes a letter.
    """
    chars: list[str] = []
    run = 0
    for char in secrets.token_hex(length // 2 + 1)[:length]:
        if char.isdigit():
            run += 1
            if run >= PAN_MIN_DIGITS - 1:
                char, run = "abcdef"[int(char) % 6], 0
        else:
            run = 0
        chars.append(char)
    return "".join(chars)
