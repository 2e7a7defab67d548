"""The sandbox test token: it authorizes automatically, whatever the customer email, and shows no card.

Proves: a token payment ends in the token's documented state at once (never PROCESSING, never DECLINED, even
with the declining and retry test emails), with paymentMethod token and card null.
"""

from __future__ import annotations

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Email
from harness.suite.bettercharge.checks import expect_payment
from harness.suite.bettercharge.requests import TOKEN_METHOD, Api
from harness.suite.bettercharge.views import plain_approve_email, state_id
from harness.suite.failure import same

CATALOG = bettercharge()

TOKEN = CATALOG.tokens[0]


@pytest.mark.requirement(TOKEN.id, state_id(TOKEN.state))
def test_token_authorizes(api: Api) -> None:
    email = plain_approve_email()
    body = api.body(token=TOKEN.token, email=email.email)
    response = api.client.authorize(body)
    payment = expect_payment(response, "authorize", state=TOKEN.state)
    same(payment["paymentMethod"], TOKEN_METHOD, "paymentMethod", response)
    same(payment["card"], None, "card of a token payment", response)
    same(payment["decision"], email.decision, "decision object of the approving email", response)
    same(payment["authorizedAmount"], body["amount"], "authorizedAmount", response)
    same(payment["failureReason"], None, "failureReason", response)
    same(payment["declineReason"], None, "declineReason", response)


@pytest.mark.parametrize("email", [
    pytest.param(e, marks=pytest.mark.requirement(TOKEN.id, "BC-TOKEN-ANY-EMAIL"), id=e.email)
    for e in CATALOG.emails
])
def test_token_authorizes_whatever_the_email(api: Api, email: Email) -> None:
    body = api.body(token=TOKEN.token, email=email.email)
    response = api.client.authorize(body)
    payment = expect_payment(response, "authorize", state=TOKEN.state)
    same(payment["paymentMethod"], TOKEN_METHOD, "paymentMethod", response)
    same(payment["authorizedAmount"], body["amount"], "authorizedAmount", response)
