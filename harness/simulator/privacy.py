"""Card numbers a merchant types into free text (a reference, a comment, `additional_transaction_data`) are
masked before the simulator stores, logs or shows them (issue 11, nothing secret at rest).

The detection is harness.redaction's (one home for Luhn and masking); this module only applies it to what the
simulator keeps.
"""

from __future__ import annotations

import logging
import re
from typing import Any, overload

from harness.redaction import find_pans, mask_pan

_WORD = re.compile(r"[0-9A-Za-z_]")


@overload
def mask_pans(text: str, *, word_bounded: bool = False) -> str: ...
@overload
def mask_pans(text: None, *, word_bounded: bool = False) -> None: ...


def mask_pans(text: str | None, *, word_bounded: bool = False) -> str | None:
    """`text` with every Luhn-valid 13-19 digit run (harness.redaction.find_pans) masked to first six / last
    four. `word_bounded`: only runs not glued to a letter, digit or underscore (so an id like bc_<hex> whose hex
    happens to hold a digit run is left alone)."""
    if not text:
        return text
    found = find_pans(text)
    if not found:
        return text
    out: list[str] = []
    last = 0
    for start, pan in found:
        end = start + len(pan)
        if start < last:
            continue
        if word_bounded and ((start and _WORD.match(text[start - 1])) or (end < len(text) and _WORD.match(text[end]))):
            continue
        out.extend((text[last:start], mask_pan(pan)))
        last = end
    out.append(text[last:])
    return "".join(out)



class MaskingFilter(logging.Filter):
    """Masks card numbers in a log record's message (uvicorn's access log shows paths and query strings)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(mask_pans(a) if isinstance(a, str) else a for a in _args(record.args))
        if isinstance(record.msg, str):
            record.msg = mask_pans(record.msg)
        return True


def _args(args: Any) -> tuple[Any, ...]:
    return tuple(args) if isinstance(args, tuple) else (args,)
