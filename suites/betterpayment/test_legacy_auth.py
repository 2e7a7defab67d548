"""Legacy checksum authentication (catalog `legacy_auth`; the legacy form of systopia/de.systopia.betterpayment):
a form-encoded request carrying api_key and, last, checksum = SHA-1(query string + outgoing key), without a Basic
header, as the CiviCRM extension sends it."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.suite.betterpayment.checks import expect_error, expect_payment
from harness.suite.betterpayment.requests import Urls, body_for
from harness.suite.betterpayment.views import first_answer, payment_type, payment_types, seed_request

CAT = betterpayment()

LEGACY = CAT.legacy_auth


def _form(body: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in body.items()}


@pytest.mark.requirement("BP-LEGACY-AUTH")
@pytest.mark.parametrize("pt", [pytest.param(pt, id=pt.name) for pt in payment_types(flow="redirect")[:2]])
def test_legacy_request_is_accepted(client: BetterPaymentClient, urls: Urls, pt: Any) -> None:
    sent = _form(body_for(pt.name, urls))
    status, action = first_answer(pt, "payment")
    expect_payment(client.legacy("payment", sent), "payment", sent, status_code=status, client_action=action)


@pytest.mark.requirement("BP-LEGACY-CC-AUTHORIZE", "BP-LEGACY-AUTH", "BP-PT-CC")
def test_legacy_hosted_card_authorization_redirects(client: BetterPaymentClient, urls: Urls) -> None:
    """The CiviCRM extension's call: /rest/authorize, payment_type cc, billing fields, answer 1 + redirect."""
    pt = payment_type("cc")
    sent = _form(body_for(pt.name, urls, first_name="Erika", last_name="Mustermann", email="erika@example.com",
                          address="Hauptstr. 1", postal_code="10115", country="DE"))
    body = expect_payment(client.legacy("authorize", sent), "authorize", sent,
                          status_code=CAT.outcomes.step_status["redirect"], client_action="redirect")
    assert body["status_code"] == 1 and body["client_action"] == "redirect"


def _wrong(kind: str, client: BetterPaymentClient, sent: dict[str, str]) -> Any:
    if kind == "wrong-checksum":
        return client.legacy("payment", sent, checksum=hashlib.sha1(b"paycert").hexdigest())
    if kind == "unknown-api-key":
        return client.legacy("payment", sent, api_key="paycert-unknown-key")
    if kind == "no-checksum":
        return client.raw("POST", CAT.operation("payment").path, content="api_key=x&payment_type=cc",
                          headers={"Content-Type": LEGACY.content_type}, authenticate=False)
    # checksum first instead of last
    return client.raw("POST", CAT.operation("payment").path,
                      content=f"{LEGACY.checksum_field}={'0' * 40}&api_key=x&order_id=1",
                      headers={"Content-Type": LEGACY.content_type}, authenticate=False)


@pytest.mark.requirement("BP-LEGACY-AUTH-REFUSED", "BP-ERR-201-AUTH")
@pytest.mark.parametrize("kind", ["wrong-checksum", "unknown-api-key", "no-checksum", "checksum-not-last"])
def test_legacy_request_with_a_bad_checksum_is_refused(client: BetterPaymentClient, urls: Urls, kind: str) -> None:
    sent = _form(body_for(payment_types(flow="redirect")[0].name, urls))
    expect_error(_wrong(kind, client, sent), "BP-ERR-201-AUTH")


@pytest.mark.requirement("BP-PB-CHECKSUM-VECTORS")
def test_legacy_checksum_reproduces_the_documented_example() -> None:
    vector = CAT.postbacks.checksum.vectors[0]  # the older docs' example (C-java), the same SHA-1(body + key)
    assert hashlib.sha1((vector.body + vector.key).encode()).hexdigest() == vector.expected
    assert str(seed_request()["payment_type"])  # the seed's request stays the Basic-auth reference
