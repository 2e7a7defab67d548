"""Wallets (catalog payment_types with flow `wallet`, catalog apple_pay): Apple Pay merchant validation on
/db_apple_pay_merchants, and Apple Pay and Google Pay token payments that complete at once, as the vendor's
Shopware and WooCommerce plugins use them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_error, expect_payment, get_transaction, json_body
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls, body_for
from harness.suite.betterpayment.views import first_answer, payment_type, payment_types

CAT = betterpayment()

APPLE = CAT.apple_pay
SHOP_HOST = "shop.paycert.example"
WALLETS = [pytest.param(pt, id=pt.name, marks=pytest.mark.requirement(pt.id)) for pt in payment_types(flow="wallet")]


@pytest.mark.requirement("BP-APPLEPAY-VALIDATION")
def test_apple_pay_merchant_validation_answers_a_session(client: BetterPaymentClient) -> None:
    response = client.apple_pay_merchant_session(SHOP_HOST)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}"
    body = json_body(response)
    token = body.get(APPLE.response_field)
    assert isinstance(token, str) and token, f"no {APPLE.response_field} in {body}"
    try:
        session = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise AssertionError(f"{APPLE.response_field} is not base64 of JSON: {exc}") from None
    assert isinstance(session, dict), session
    missing = [f for f in APPLE.session_fields if f not in session]
    assert not missing, f"the merchant session lacks {missing}"
    assert session["domainName"] == SHOP_HOST


@pytest.mark.requirement("BP-APPLEPAY-VALIDATION-MISSING", "BP-ERR-204-MISSING-FIELDS")
@pytest.mark.parametrize("host", [None, "", "  "], ids=["absent", "empty", "blank"])
def test_apple_pay_merchant_validation_needs_the_host(client: BetterPaymentClient, host: Any) -> None:
    response = client.raw(APPLE.method, APPLE.path, json={} if host is None else {APPLE.request_field: host})
    expect_error(response, "BP-ERR-204-MISSING-FIELDS", fields=APPLE.request_field)


@pytest.mark.requirement("BP-APPLEPAY-VALIDATION-AUTH", "BP-ERR-201-AUTH")
def test_apple_pay_merchant_validation_needs_credentials(client: BetterPaymentClient) -> None:
    response = client.raw(APPLE.method, APPLE.path, json={APPLE.request_field: SHOP_HOST}, authenticate=False)
    expect_error(response, "BP-ERR-201-AUTH")


@pytest.mark.requirement("BP-WALLET-TOKEN", "BP-PB-COMPLETED-FIELDS", "BP-STATUS-COMPLETED")
@pytest.mark.parametrize("pt", WALLETS)
def test_wallet_token_payment_completes_at_once(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                                bp_keys: tuple[str, str], pt: Any) -> None:
    sent = body_for(pt.name, urls)
    assert not any(name in sent for name in CAT.field_blocks["redirection_urls"].names), "wallets need no redirect"
    status, action = first_answer(pt, "payment")
    body = expect_payment(client.payment(sent), "payment", sent, status_code=status, client_action=action)
    assert "client_action" not in body
    assert get_transaction(client, body["transaction_id"])["status_code"] == status
    [delivery] = wait_postbacks(postbacks, body["transaction_id"])
    expect_postback(delivery, CAT.postbacks.kind_for_status(status), transaction_id=body["transaction_id"],
                    sent=sent, status_code=status, keys=bp_keys)


@pytest.mark.requirement("BP-WALLET-TOKEN-FOREIGN", "BP-ERR-204-MISSING-FIELDS")
@pytest.mark.parametrize("pt", WALLETS)
def test_the_other_wallets_token_does_not_count(client: BetterPaymentClient, urls: Urls, pt: Any) -> None:
    own = pt.also_required[0]
    other = next(p for p in payment_types(flow="wallet") if p.name != pt.name)
    foreign = payment_type(other.name).also_required[0]
    sent = body_for(pt.name, urls, **{own: None, foreign: body_for(other.name, urls)[foreign]})
    expect_error(client.payment(sent), "BP-ERR-204-MISSING-FIELDS", fields=own)
