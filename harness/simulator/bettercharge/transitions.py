"""The payment state machine, read from the catalog's transition table (the single source of its cells).

A request is placed in the table by the payment's *situation* (its state, refined by its amounts and flags:
PARTIALLY_CAPTURED, PARTIALLY_REFUNDED and AUTO_VOIDED are the same states as CAPTURED, CAPTURED and VOIDED)
and by the kind of amount asked for: none (not sent), full (the whole remainder), partial (less) or over
(more). A cell the table does not list is resolved, in order (adopted):
1. not sent means the whole remainder, so `none` uses the `full` row, and an amount within the remainder
   uses a `none` row when that is all the table has for the operation;
2. when the table lists only errors for the situation and operation, that error holds whatever the amount;
3. the situation's plain state (PARTIALLY_CAPTURED -> CAPTURED) is looked up the same way;
4. nothing found: PAYMENT_NOT_AUTHORIZED, the table's answer for payments that hold no authorization.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.catalog.bettercharge import BetterChargeCatalog, Transition
from harness.simulator import boundaries
from harness.simulator.bettercharge import defects
from harness.simulator.bettercharge.payments import VOIDED, Payment
from harness.simulator.bettercharge.responses import NOT_AUTHORIZED

CAPTURE, VOID, REFUND, STOP = "capture", "void", "refund", "stop"


@dataclass(frozen=True)
class Step:
    """The table's answer: an error id, or the state to move to with the amount to move."""

    error: str | None = None
    state: str | None = None
    amount: int = 0


class StateMachine:
    def __init__(self, catalog: BetterChargeCatalog, defect: Callable[[str], bool]) -> None:
        self._rows = catalog.transitions
        self._situations = catalog.situations
        self._defect = defect
        for name in ("PARTIALLY_CAPTURED", "PARTIALLY_REFUNDED", "AUTO_VOIDED"):
            if name not in self._situations:
                raise ValueError(f"catalog bettercharge.yaml has no situation {name}")
        self._captured_state = self._situations["PARTIALLY_CAPTURED"].state

    def situation(self, p: Payment) -> str:
        if p.auto_voided and p.state == self._situations["AUTO_VOIDED"].state:
            return "AUTO_VOIDED"
        if p.state == self._captured_state and p.refunded_amount > 0:
            return "PARTIALLY_REFUNDED"
        if p.state == self._captured_state and p.captured_amount < p.authorized_amount:
            return "PARTIALLY_CAPTURED"
        return p.state

    @staticmethod
    def _remainder(p: Payment, operation: str) -> int:
        return p.capturable if operation == CAPTURE else p.refundable if operation == REFUND else 0

    @staticmethod
    def _kind(amount: int | None, remainder: int) -> str:
        if amount is None:
            return "none"
        return "full" if amount == remainder else "partial" if amount < remainder else "over"

    def _row(self, situation: str, operation: str, kind: str) -> Transition | None:
        plain = self._situations[situation].state if situation in self._situations else situation
        for where in dict.fromkeys((situation, plain)):
            rows = [r for r in self._rows if r.from_ == where and r.operation == operation]
            if not rows:
                continue
            fallbacks = ["full"] if kind == "none" else ["none"] if kind in ("full", "partial") else []
            for wanted in (kind, *fallbacks):
                for r in rows:
                    if r.amount == wanted:
                        return r
            if not any(r.legal for r in rows):
                return rows[0]
        return None

    def decide(self, p: Payment, operation: str, amount: int | None) -> Step:
        """Where `operation` with `amount` (None = not sent) takes the payment, per the catalog's table."""
        situation = self.situation(p)
        remainder = self._remainder(p, operation)
        kind = self._kind(amount, remainder)
        moved = boundaries.shift(self._defect, "bettercharge", "remaining_amount", operation=operation,
                                 situation=situation)
        if moved < 0 and kind == "full" and amount is not None:
            kind = "over"  # exactly the remainder is refused
        elif moved > 0 and kind == "over" and amount == remainder + 1:
            kind = "full"  # one unit over the remainder is accepted
        if kind == "over" and (
            (operation == CAPTURE and self._defect(defects.AMOUNT_OVER_CAPTURE) and p.capturable)
            or (operation == REFUND and self._defect(defects.AMOUNT_OVER_REFUND) and p.refundable)
        ):
            kind = "full"
        row = self._row(situation, operation, kind)
        if row is None:
            return Step(error=NOT_AUTHORIZED)
        if not row.legal:
            if operation == VOID and p.captured_amount and self._defect(defects.TX_VOID_AFTER_CAPTURE):
                return Step(state=VOIDED)
            if operation == CAPTURE and situation == VOIDED and self._defect(defects.TX_CAPTURE_AFTER_VOID):
                return Step(error=NOT_AUTHORIZED)
            return Step(error=row.expect.error)
        state = row.expect.state
        if operation == REFUND and kind == "partial" and self._defect(defects.TX_PARTIAL_REFUND_REFUNDED):
            full = self._row(situation, operation, "full")
            state = full.expect.state if full is not None else state
        return Step(state=state, amount=remainder if amount is None else amount)

    def apply(self, p: Payment, operation: str, step: Step, at: float) -> None:
        """Move the payment as `step` says (a legal step from `decide`)."""
        assert step.state is not None
        if operation == CAPTURE:
            p.captured_amount = step.amount
        elif operation == REFUND:
            p.refunded_amount += step.amount
        elif operation == STOP:
            p.processing_until = None
        p.state = step.state
        p.updated_at = at

    def capture_all(self, p: Payment, at: float) -> None:
        """Charge = authorize, then capture the whole authorization, as the table's AUTHORIZED row says."""
        step = self.decide(p, CAPTURE, None)
        if step.state is not None:
            self.apply(p, CAPTURE, step, at)
