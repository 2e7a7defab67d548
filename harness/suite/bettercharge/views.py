"""Catalog look-ups the BetterCharge suites share: which test email approves plainly, which declines, test ids.

Nothing here holds a test card, an email or a state: all of it is read from `harness.catalog.bettercharge()`
(the one source of truth, fixtures/catalog/bettercharge.yaml) when asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from harness.catalog import CatalogError, bettercharge
from harness.catalog.bettercharge import Card, Email, Transition

T = TypeVar("T")


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
    return f"paycert-{prefix}-{uuid.uuid4().hex[:24]}"


def month_of(now: float, delta: int = 0) -> tuple[int, int]:
    """(year, month) of `now` moved by `delta` months."""
    d = datetime.fromtimestamp(now, UTC)
    index = d.year * 12 + (d.month - 1) + delta
    return index // 12, index % 12 + 1
