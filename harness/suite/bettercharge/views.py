"""Catalog look-ups the BetterCharge suites share: which test email approves plainly, which declines, test ids.

Nothing here holds a test card, an email or a state: all of it is read from `harness.catalog.bettercharge()`
(the one source of truth, fixtures/catalog/bettercharge.yaml) when asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from harness.cards import random_text
from harness.catalog import CatalogError, bettercharge
from harness.catalog.bettercharge import Card, Email, ErrorRow, Transition

T = TypeVar("T")
#: The trigger of an error row that an armed simulator fault provokes: `fault_<kind>`.
FAULT_PREFIX = "fault_"
#: The {error} text a "responded with error" fault is armed with, expected back in the message.
UPSTREAM_ERROR = "paycert injected upstream failure"


def first(rows: Iterable[T], matches: Callable[[T], bool], what: str) -> T:
    """The first row that matches; a CatalogError naming what is missing (never a bare StopIteration)."""
    for row in rows:
        if matches(row):
            return row
    raise CatalogError(f"bettercharge.yaml: no {what}")


def plain_approve_email() -> Email:
    """The documented test email that approves with no side effect (no retry, no liability shift)."""
    return first(bettercharge().emails, lambda e: e.decision["decision"] == "APPROVE" and not e.passes_processing
                 and not e.liability_shift, "test email that plainly approves")


def declining_email() -> Email:
    declined = bettercharge().situations["DECLINED"].state
    return first(bettercharge().emails, lambda e: e.state == declined, "test email that declines")


def retry_email() -> Email:
    return first(bettercharge().emails, lambda e: e.passes_processing, "test email that passes through processing")


def state_id(name: str) -> str:
    return bettercharge().state(name).id


def transition_label(t: Transition) -> str:
    """Readable test id of a transition cell: `AUTHORIZED-capture-over`."""
    return f"{t.from_}-{t.operation}-{t.amount}"


def card_label(card: Card) -> str:
    return f"{card.masked}-{card.outcome}"


def unique(prefix: str) -> str:
    """A fresh identifier matching the contract's Identifier pattern (never reuse state between runs)."""
    return f"paycert-{prefix}-{random_text(24)}"


def month_of(now: float, delta: int = 0) -> tuple[int, int]:
    """(year, month) of `now` moved by `delta` months."""
    d = datetime.fromtimestamp(now, UTC)
    index = d.year * 12 + (d.month - 1) + delta
    return index // 12, index % 12 + 1


def fault_rows() -> list[ErrorRow]:
    """The error rows an armed simulator fault provokes (simulator only)."""
    return [row for row in bettercharge().errors if row.trigger.startswith(FAULT_PREFIX)]


def fault_for(row: ErrorRow) -> tuple[str, dict[str, Any]]:
    """(the fault kind that provokes `row`, the placeholder values to arm it with and expect back)."""
    values = {"error": UPSTREAM_ERROR} if "{error}" in row.message else {}
    return row.trigger.removeprefix(FAULT_PREFIX), values
