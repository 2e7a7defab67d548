"""The payment record: what the simulator stores, its wire form, and the changes time alone makes.

The store keeps brand, funding, bin, last4 and expiry of a card, never its number or CVV. Two changes happen
without a request, evaluated lazily whenever a payment is read or operated on, on the simulator clock:
a PROCESSING retry payment completes once the catalog's retry time has passed, and an authorization older
than the catalog's validity is auto-voided.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from harness.catalog import bettercharge
from harness.simulator.bettercharge import defects
from harness.simulator.store import Store

_DDL = """
CREATE TABLE IF NOT EXISTS bc_payments (
    bc_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, merchant_id TEXT NOT NULL,
    order_reference TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bc_payments_order ON bc_payments (merchant_id, order_reference);
CREATE TABLE IF NOT EXISTS bc_pending (bc_id TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


def _state(name: str) -> str:
    """A state name the simulator needs by name, checked against the catalog's list of states."""
    if name not in {s.name for s in bettercharge().states}:
        raise ValueError(f"catalog bettercharge.yaml has no payment state {name}")
    return name


RECEIVED = _state("RECEIVED")
AUTHORIZED = _state("AUTHORIZED")
PROCESSING = _state("PROCESSING")
VOIDED = _state("VOIDED")


def new_bc_id() -> str:
    return f"bc_{uuid.uuid4().hex}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Payment:
    bc_id: str
    partner_id: str
    merchant_id: str
    account_id: str | None
    order_reference: str
    initiator: str
    amount: int
    currency: str
    state: str
    payment_method: str  # "card" | "token"
    created_at: float
    updated_at: float
    card: dict[str, Any] | None = None  # brand, funding, bin, last4, expMonth, expYear
    decision: dict[str, Any] | None = None
    liability_shift: bool = False
    decline_reason: str | None = None
    failure_reason: str | None = None
    authorized_amount: int = 0
    captured_amount: int = 0
    refunded_amount: int = 0
    auto_voided: bool = False
    # Internal, never on the wire:
    authorized_at: float | None = None
    processing_until: float | None = None  # a retry payment completes then; None = never by itself
    capture_on_authorize: bool = False  # a charge: when the retry authorizes, it captures too

    @property
    def capturable(self) -> int:
        """One capture only: once anything is captured, the rest of the authorization is released."""
        return 0 if self.captured_amount else self.authorized_amount

    @property
    def refundable(self) -> int:
        return self.captured_amount - self.refunded_amount

    def authorize(self, at: float) -> None:
        self.state = AUTHORIZED
        self.authorized_amount = self.amount
        self.authorized_at = at
        self.processing_until = None
        self.updated_at = at

    def to_wire(self, defect: Callable[[str], bool], *, pan: str | None = None) -> dict[str, Any]:
        """The payment object (schema `Payment` of fixtures/bettercharge/openapi.yaml): every field, null where not
        applicable."""
        card = None if self.card is None else dict(self.card)
        if card is not None and defect(defects.CARD_WRONG_BRAND):
            card["brand"] = bettercharge().cards[0].brand
        if card is not None and pan is not None and defect(defects.PAN_LEAK):
            card["number"] = pan
        body: dict[str, Any] = {
            "bcId": self.bc_id, "merchantId": self.merchant_id, "accountId": self.account_id,
            "orderReference": self.order_reference, "initiator": self.initiator,
            "amount": str(self.amount) if defect(defects.SCHEMA_AMOUNT_STRING) else self.amount,
            "currency": self.currency, "state": self.state, "decision": self.decision,
            "liabilityShift": self.liability_shift, "declineReason": self.decline_reason,
            "failureReason": self.failure_reason, "authorizedAmount": self.authorized_amount,
            "capturedAmount": self.captured_amount, "refundedAmount": self.refunded_amount,
            "autoVoided": self.auto_voided, "paymentMethod": self.payment_method, "card": card,
            "createdAt": iso(self.created_at), "updatedAt": iso(self.updated_at),
        }
        if defect(defects.SCHEMA_ID_RENAMED):
            body = {("id" if k == "bcId" else k): v for k, v in body.items()}
        return body


_FIELDS = {f.name for f in fields(Payment)}


class Payments:
    """Storage. A payment waiting for the simulated PSP is stored RECEIVED together with the outcome it
    resolves to (`bc_pending`); the final save clears that. A simulator killed meanwhile finds the row on
    restart and completes the payment as decided (`recover`), so nothing stays RECEIVED forever and the stored
    idempotent answer (committed with the RECEIVED row) matches the payment."""

    def __init__(self, store: Store) -> None:
        self._store = store
        store.register_schema(_DDL, ["bc_payments", "bc_pending"])
        self.recover()

    @staticmethod
    def _load(data: str) -> Payment:
        return Payment(**{k: v for k, v in json.loads(data).items() if k in _FIELDS})

    def get(self, bc_id: str) -> Payment | None:
        with self._store.read() as conn:
            row = conn.execute("SELECT data FROM bc_payments WHERE bc_id = ?", (bc_id,)).fetchone()
        return None if row is None else self._load(row["data"])

    def order_taken(self, merchant_id: str, order_reference: str) -> bool:
        with self._store.read() as conn:
            row = conn.execute("SELECT 1 FROM bc_payments WHERE merchant_id = ? AND order_reference = ?",
                               (merchant_id, order_reference)).fetchone()
        return row is not None

    def save(self, payment: Payment, *, resolves_to: Payment | None = None) -> None:
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO bc_payments VALUES (?, ?, ?, ?, ?)",
                         (payment.bc_id, payment.partner_id, payment.merchant_id, payment.order_reference,
                          json.dumps(asdict(payment))))
            if resolves_to is not None:
                conn.execute("INSERT OR REPLACE INTO bc_pending VALUES (?, ?)",
                             (payment.bc_id, json.dumps(asdict(resolves_to))))
            else:
                conn.execute("DELETE FROM bc_pending WHERE bc_id = ?", (payment.bc_id,))

    def recover(self) -> int:
        """Complete every payment a previous process left waiting for the PSP; how many there were."""
        with self._store.read() as conn:
            rows = conn.execute("SELECT data FROM bc_pending").fetchall()
        with self._store.transaction():
            for row in rows:
                self.save(self._load(row["data"]))
        return len(rows)


def settle(payment: Payment, now: float, capture: Callable[[Payment, float], None], *,
           validity: float | None = None) -> bool:
    """Apply what the clock alone changes since the payment was last touched; True if anything did.

    `capture` captures the whole authorization (a charge whose retry has just authorized)."""
    changed = False
    if payment.state == PROCESSING and payment.processing_until is not None and now >= payment.processing_until:
        at = payment.processing_until
        payment.authorize(at)
        if payment.capture_on_authorize:
            capture(payment, at)
        changed = True
    if validity is None:
        validity = bettercharge().authorization_validity_seconds
    if payment.state == AUTHORIZED and payment.authorized_at is not None and now >= payment.authorized_at + validity:
        payment.state = VOIDED
        payment.auto_voided = True
        payment.updated_at = payment.authorized_at + validity
        changed = True
    return changed
