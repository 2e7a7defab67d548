"""How an authorize or charge request turns out, once it is valid and its merchant and account are known.

The order (adopted, see the package docstring): a duplicate orderReference -> a card outside the test list or
a token that is not the test token (PSP mock error, nothing stored) -> card expiry on the simulator clock
(the payment is stored FAILED and the answer is a 400) -> system decline reasons (201 DECLINED, no decision)
-> the test token (authorizes whatever the email) -> the email's decision (DECLINE -> DECLINED) -> the card's
outcome (AUTHORIZED, PROCESSING first for the retry email, or FAILED with the card's failure reason).
Every fact comes from the catalog: cards, emails, token, default decision, decline reasons, currencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.catalog.bettercharge import BetterChargeCatalog, Card, DeclineReason, Email, ErrorRow
from harness.simulator import boundaries
from harness.simulator.bettercharge import defects
from harness.simulator.bettercharge.merchants import Merchant
from harness.simulator.bettercharge.payments import PROCESSING, Payment, new_bc_id
from harness.simulator.bettercharge.responses import (
    ALREADY_APPROVED,
    CARD_EXPIRED,
    CARD_TOO_CLOSE,
    PSP_VALIDATION,
    ApiError,
)
from harness.simulator.bettercharge.transitions import StateMachine
from harness.simulator.bettercharge.validation import AuthorizeRequest
from harness.simulator.state import SimulatorState

DECLINE = "DECLINE"  # a value of the `Decision` schema (fixtures/bettercharge/openapi.yaml)
MIT = "MIT"
_TOGGLE_PREFIX = "toggle_"


@dataclass
class Authorization:
    """The outcome: a payment to store (or none), an error to answer with (or none), and whether the PSP
    is called (the simulated PSP latency applies then)."""

    payment: Payment | None
    error: ApiError | None = None
    calls_psp: bool = False


class Authorizer:
    def __init__(self, catalog: BetterChargeCatalog, state: SimulatorState, machine: StateMachine,
                 order_taken: Callable[[str, str], bool]) -> None:
        self._catalog = catalog
        self._state = state
        self._machine = machine
        self._order_taken = order_taken
        self._cards: dict[str, Card] = {c.pan: c for c in catalog.cards}
        self._emails: dict[str, Email] = {e.email.lower(): e for e in catalog.emails}
        self._tokens = {t.token: t for t in catalog.tokens}
        self._declining_email = next(e for e in catalog.emails if e.decision.get("decision") == DECLINE)
        self._declined_state = self._declining_email.state
        by_trigger = {d.trigger: d for d in catalog.decline_reasons}
        self.toggle_reasons: dict[str, DeclineReason] = {
            t.removeprefix(_TOGGLE_PREFIX): d for t, d in by_trigger.items() if t.startswith(_TOGGLE_PREFIX)}
        self._merchant_disabled = by_trigger["merchant_disabled"]
        self._mit_not_allowed = by_trigger["mit_not_allowed"]
        self._unsupported_currency = by_trigger["unsupported_currency"]
        self.toggles: dict[str, bool] = dict.fromkeys(self.toggle_reasons, False)

    def _defect(self, name: str) -> bool:
        return self._state.defect(name)

    def _system_decline(self, req: AuthorizeRequest, merchant: Merchant) -> str | None:
        for name, reason in self.toggle_reasons.items():
            if self.toggles[name]:
                return reason.reason
        if not merchant.enabled:
            return self._merchant_disabled.reason
        if req.initiator == MIT and not merchant.mit_allowed:
            return self._mit_not_allowed.reason
        if req.currency not in self._catalog.simulator.supported_currencies:
            return self._unsupported_currency.reason
        return None

    def _decision(self, email: Email | None) -> dict[str, Any]:
        if email is None:
            return dict(self._catalog.default_decision)
        decision = dict(email.decision)
        if email is self._declining_email and self._defect(defects.EMAIL_WRONG_DECISION):
            decision.pop("reason", None)
        return decision

    def _card_outcome(self, card: Card) -> tuple[str, str | None]:
        """(state, failure reason) the card gives once Better approved."""
        if card is self._catalog.declining_card and self._defect(defects.CARD_DECLINE_APPROVED):
            return self._catalog.approving_card.state, None
        return card.state, card.failure_reason

    def decide(self, req: AuthorizeRequest, merchant: Merchant, now: float, *, charge: bool) -> Authorization:
        """The outcome of authorize, or of charge (`charge`: an authorization is captured at once, or as soon
        as the retry authorizes it)."""
        outcome = self._authorize(req, merchant, now)
        p = outcome.payment
        if charge and p is not None and outcome.error is None:
            if p.state == PROCESSING:
                p.capture_on_authorize = True
            else:
                self._machine.capture_all(p, now)  # a no-op unless the payment is authorized
        return outcome

    def _authorize(self, req: AuthorizeRequest, merchant: Merchant, now: float) -> Authorization:
        if self._order_taken(merchant.merchant_id, req.order_reference):
            return Authorization(None, ApiError(ALREADY_APPROVED))
        card = self._cards.get(req.card.number) if req.card else None
        if req.card is not None and card is None:
            return Authorization(None, ApiError(PSP_VALIDATION, details="card.number: not a test card"))
        token = self._tokens.get(req.token) if req.token else None
        if req.token is not None and (token is None or self._defect(defects.TOKEN_REFUSED)):
            return Authorization(None, ApiError(PSP_VALIDATION, details="token: not a test token"))

        p = Payment(bc_id=new_bc_id(), partner_id=merchant.partner_id, merchant_id=merchant.merchant_id,
                    account_id=req.account_id, order_reference=req.order_reference, initiator=req.initiator,
                    amount=req.amount, currency=req.currency, state="", payment_method="card" if card else "token",
                    created_at=now, updated_at=now)
        if card is not None and req.card is not None:
            p.card = {"brand": card.brand, "funding": card.funding, "bin": card.bin, "last4": card.last4,
                      "expMonth": req.card.exp_month, "expYear": req.card.exp_year}
            expiry = self._expiry_error(req.card.exp_year, req.card.exp_month)
            if expiry is not None:
                p.state = self._catalog.declining_card.state
                p.failure_reason = expiry.code.lower()  # card_expired / card_too_close_to_expiration
                return Authorization(p, ApiError(expiry.id, effect=True, bcId=p.bc_id))

        decline_reason = self._system_decline(req, merchant)
        if decline_reason is not None:
            p.state = self._declined_state
            p.decline_reason = decline_reason
            return Authorization(p)
        email = self._emails.get(req.email.lower())
        decision = self._decision(email)
        approves = decision.get("decision") != DECLINE
        if not approves and token is None:
            p.decision = decision
            p.state = email.state if email else self._declined_state
            return Authorization(p)
        p.decision = decision if approves else dict(self._catalog.default_decision)  # the token overrides
        if card is not None:
            state, failure = self._card_outcome(card)
            if failure is not None:
                p.state, p.failure_reason = state, failure
                return Authorization(p, calls_psp=True)
        else:
            assert token is not None
            state = token.state
        p.liability_shift = bool(email and email.liability_shift and approves
                                 and not self._defect(defects.EMAIL_NO_LIABILITY))
        retry = token is None and email is not None and email.passes_processing
        if retry and not self._defect(defects.EMAIL_RETRY_NO_PROCESSING):
            p.state = PROCESSING
            p.processing_until = now + self._catalog.simulator.retry_processing_seconds + boundaries.shift(
                self._defect, "bettercharge", "processing_window")
        else:
            p.authorize(now)
            p.state = state
        return Authorization(p, calls_psp=True)

    def _expiry_error(self, exp_year: int, exp_month: int) -> ErrorRow | None:
        """The catalog row for an expired card or one expiring this month (simulator clock), else None."""
        if self._defect(defects.CARD_EXPIRY_IGNORED):
            return None
        year, month = self._state.clock.today()
        offset = (exp_year * 12 + exp_month) - (year * 12 + month)  # months from the current one
        last_expired = -1 + boundaries.shift(self._defect, "bettercharge", "card_expiry", error=CARD_EXPIRED)
        last_too_close = 0 + boundaries.shift(self._defect, "bettercharge", "card_expiry", error=CARD_TOO_CLOSE)
        if offset <= last_expired:
            return self._catalog.error(CARD_EXPIRED)
        if offset <= last_too_close:
            return self._catalog.error(CARD_TOO_CLOSE)
        return None
