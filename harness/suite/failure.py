"""How a check of the suites reports: one message naming what differed, redacted, never a bare AssertionError.

pytest rewrites `assert` only in test modules and conftests, so a bare `assert` in a library module fails with
an empty AssertionError: a merchant reading the report would not learn what their integration did wrong. Every
check of both APIs therefore goes through `fail()` (or `same()` and `ensure()`, which call it), and the message
goes through `harness.redaction` first so that an answer that leaks a PAN does not carry the PAN into the report.
"""

from __future__ import annotations

from typing import Any, NoReturn

import httpx

from harness.catalog import known_pans
from harness.catalog.overlay import CALIBRATABLE, Mismatch
from harness.redaction import redact_text

#: How much of a body a failure message shows.
BODY_CHARS = 600


class CheckFailed(AssertionError):
    """A certification check that failed; the message never holds a full PAN or a secret."""


def fail(message: str) -> NoReturn:
    raise CheckFailed(redact_text(message, known_pans=known_pans()))


def mismatch(api: str, entry: str, field: str, expected: Any, observed: Any, message: str) -> NoReturn:
    """Fail because an answer differs from a catalog value that is ours to calibrate (an adopted or observed
    entry): the Mismatch names the entry and field the way a calibration overlay does, so a sandbox run reports
    it as an unconfirmed assumption and `paycert calibrate` can record the observed value (harness/catalog/
    overlay.py). The message is redacted like every other."""
    raise Mismatch(api, entry, field, expected, observed, redact_text(message, known_pans=known_pans()))


def calibratable(provenance: object) -> bool:
    """Whether a catalog entry of this provenance may be calibrated (a documented one never is)."""
    return str(provenance) in CALIBRATABLE  # Provenance is a StrEnum: its str() is the value


def ensure(condition: object, message: str) -> None:
    """Fail with `message` unless `condition` holds (the suites' `assert`, outside test modules)."""
    if not condition:
        fail(message)


def same(actual: Any, expected: Any, what: str, response: httpx.Response | None = None) -> None:
    """Fail naming `what`, the expected and the actual value (and the exchange) unless they are equal."""
    if actual != expected:
        where = f"\n  in: {show(response)}" if response is not None else ""
        fail(f"{what}: expected {expected!r}, got {actual!r}{where}")


def show(response: httpx.Response) -> str:
    """One line naming the exchange, for failure messages (redacted by fail())."""
    request = response.request
    return f"{request.method} {request.url.path} -> HTTP {response.status_code} {response.text[:BODY_CHARS]}"
