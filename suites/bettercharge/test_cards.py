"""Each of the 27 sandbox test cards through authorize: the adopted outcome, and the card shown masked only.

Proves per card: its state (AUTHORIZED or FAILED with its failureReason), its brand and funding, bin and last4
(first six and last four of the catalog PAN), the expiry sent, that the PAN and CVV never come back, and that the
decision of the plain approving email is applied before the card is tried.
"""

from __future__ import annotations

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Card
from harness.suite.bettercharge.checks import expect_payment
from harness.suite.bettercharge.requests import CARD_METHOD, CIT, Api, expected_card
from harness.suite.bettercharge.views import card_label, plain_approve_email, state_id
from harness.suite.failure import same

CATALOG = bettercharge()

CASES = [
    pytest.param(card, marks=pytest.mark.requirement(card.id, "BC-PAYMENT-MASKED-CARD", state_id(card.state)),
                 id=card_label(card))
    for card in CATALOG.cards
]


@pytest.mark.parametrize("card", CASES)
def test_card_outcome_through_authorize(api: Api, card: Card) -> None:
    email = plain_approve_email()
    body = api.body(card=card, email=email.email)
    response = api.client.authorize(body)
    payment = expect_payment(response, "authorize", state=card.state)

    same(payment["failureReason"], card.failure_reason, "failureReason", response)
    same(payment["card"], expected_card(card, body["card"]), "masked card", response)
    same(payment["paymentMethod"], CARD_METHOD, "paymentMethod", response)
    same(payment["decision"], email.decision, "decision object", response)
    same(payment["declineReason"], None, "declineReason", response)
    authorized = body["amount"] if card.outcome == "approve" else 0
    same(
        {k: payment[k] for k in ("merchantId", "accountId", "orderReference", "initiator", "amount", "currency",
                                 "authorizedAmount", "capturedAmount", "refundedAmount", "liabilityShift",
                                 "autoVoided")},
        {"merchantId": body["merchantId"], "accountId": body.get("accountId"), "orderReference": body["orderReference"],
         "initiator": CIT, "amount": body["amount"], "currency": body["currency"], "authorizedAmount": authorized,
         "capturedAmount": 0, "refundedAmount": 0, "liabilityShift": email.liability_shift, "autoVoided": False},
        "payment fields", response,
    )
