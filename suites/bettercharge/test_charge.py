"""Charge: authorize and capture in one call (rule BC-PAYMENT-CHARGE).

Proves for every test card: an approving card ends CAPTURED with the whole amount authorized and captured, a
declining card ends FAILED with its failureReason and nothing moved; a declining email ends DECLINED without
an authorization; the token charges; a charged payment is refundable like a captured one.
"""

from __future__ import annotations

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Card, Email
from harness.suite.bettercharge.checks import expect_payment
from harness.suite.bettercharge.requests import TOKEN_METHOD, Api, expected_card
from harness.suite.bettercharge.views import card_label, state_id
from harness.suite.failure import same

CATALOG = bettercharge()

_CAPTURED = CATALOG.situations["CAPTURED"].state
_REFUNDED = CATALOG.situations["REFUNDED"].state


def _charged_state(card: Card) -> str:
    """A charge that authorizes is captured at once; one that fails stays in the card's state."""
    return _CAPTURED if card.outcome == "approve" else card.state


@pytest.mark.parametrize("card", [
    pytest.param(c, marks=pytest.mark.requirement("BC-PAYMENT-CHARGE", c.id, state_id(_charged_state(c))),
                 id=card_label(c))
    for c in CATALOG.cards
])
def test_charge_with_card(api: Api, card: Card) -> None:
    body = api.body(card=card)
    response = api.client.charge(body)
    payment = expect_payment(response, "charge", state=_charged_state(card))
    moved = body["amount"] if card.outcome == "approve" else 0
    same((payment["authorizedAmount"], payment["capturedAmount"], payment["refundedAmount"]), (moved, moved, 0),
         "authorized, captured and refunded amounts", response)
    same(payment["failureReason"], card.failure_reason, "failureReason", response)
    same(payment["card"], expected_card(card, body["card"]), "masked card", response)


@pytest.mark.parametrize("email", [
    pytest.param(e, marks=pytest.mark.requirement("BC-PAYMENT-CHARGE", e.id, state_id(e.state)), id=e.email)
    for e in CATALOG.emails if e.state == CATALOG.situations["DECLINED"].state
])
def test_charge_declined_by_the_decision(api: Api, email: Email) -> None:
    response = api.client.charge(api.body(email=email.email))
    payment = expect_payment(response, "charge", state=email.state)
    same(payment["decision"], email.decision, "decision object", response)
    same((payment["authorizedAmount"], payment["capturedAmount"]), (0, 0), "amounts of a declined charge", response)


@pytest.mark.requirement("BC-PAYMENT-CHARGE", CATALOG.tokens[0].id, state_id(_CAPTURED))
def test_charge_with_token(api: Api) -> None:
    body = api.body(token=CATALOG.tokens[0].token)
    response = api.client.charge(body)
    payment = expect_payment(response, "charge", state=_CAPTURED)
    same((payment["paymentMethod"], payment["card"]), (TOKEN_METHOD, None), "token payment", response)
    same(payment["capturedAmount"], body["amount"], "capturedAmount", response)


@pytest.mark.requirement("BC-PAYMENT-CHARGE", state_id(_REFUNDED))
def test_charged_payment_refunds_in_parts(api: Api) -> None:
    payment = expect_payment(api.client.charge(api.body()), "charge", state=_CAPTURED)
    part = CATALOG.amounts.partial_refund
    after_part = expect_payment(api.client.refund(payment["bcId"], part), "refund", state=_CAPTURED)
    same(after_part["refundedAmount"], part, "refundedAmount after a partial refund")
    rest = expect_payment(api.client.refund(payment["bcId"]), "refund", state=_REFUNDED)
    same(rest["refundedAmount"], payment["capturedAmount"], "refundedAmount after refunding the rest")
