"""Card data never comes back (PCI DSS requirement 3; catalog rule BP-CARD-MASKED).

Proves that after a card's whole life (payment, authorization, partial capture, refund, registration and a
recurring charge) no response, lookup, log, refund list or postback contains the full card number or the CVV,
and the capture response shows only the last four digits and the brand; on the simulator, its own delivery log
and transaction view keep the card masked as first six + last four.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.simulator_control import SimulatorControl
from harness.suite.betterpayment.checks import expect_no_card_data, expect_operation, expect_payment, json_body
from harness.suite.betterpayment.postbacks import wait_postbacks
from harness.suite.betterpayment.requests import Urls, body_for, mpi_body
from harness.suite.betterpayment.scenarios import authorized, completed
from harness.suite.betterpayment.views import card_fields, card_type

CAT = betterpayment()

PAN = CAT.seed_card_pan


def _lifecycle(client: BetterPaymentClient, urls: Urls) -> tuple[list[httpx.Response], dict[str, Any], list[str]]:
    """Every kind of answer a card transaction produces, and the ids involved."""
    responses: list[httpx.Response] = []
    sent, paid = completed(client, urls)
    _sent, auth = authorized(client, urls)
    responses.append(client.capture(auth, "5.00"))
    expect_operation(responses[-1], "capture")
    responses.append(client.refund(paid, "1.00"))
    responses.append(client.refund(auth, "1.00"))
    registration = mpi_body(urls)
    responses.append(client.register(registration))
    reg_id = json_body(responses[-1])["transaction_id"]
    recurring = body_for(card_type().name, urls, original_transaction_id=reg_id, recurring=1,
                         **{name: None for name in card_fields()})
    responses.append(client.payment(recurring))
    ids = [paid, auth, reg_id, json_body(responses[-1])["transaction_id"]]
    for tid in ids:
        responses += [client.get_transaction(tid), client.transaction_log(tid), client.transaction_refunds(tid)]
    return responses, sent, ids


@pytest.mark.requirement("BP-CARD-MASKED")
def test_no_response_carries_card_data(client: BetterPaymentClient, urls: Urls) -> None:
    responses, sent, _ids = _lifecycle(client, urls)
    for response in responses:
        assert response.status_code == 200, f"{response.request.url.path}: {response.text[:300]}"
        expect_no_card_data(json_body(response), sent)


@pytest.mark.requirement("BP-CARD-MASKED")
def test_capture_shows_last_four_and_brand_only(client: BetterPaymentClient, urls: Urls) -> None:
    sent, tid = authorized(client, urls)
    body = expect_operation(client.capture(tid), "capture")
    card_keys = sorted(k for k in body if k.startswith("card_"))
    assert card_keys == sorted(k for k in CAT.responses["capture"].fields if k.startswith("card_"))
    assert body["card_last_four"] == PAN[-4:] and len(body["card_last_four"]) == 4
    expect_no_card_data(body, sent)


@pytest.mark.requirement("BP-CARD-MASKED")
def test_postbacks_carry_no_card_data(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver) -> None:
    _responses, sent, ids = _lifecycle(client, urls)
    for tid in ids:
        for delivery in wait_postbacks(postbacks, tid):
            expect_no_card_data(delivery.raw_body.decode("utf-8"), sent)
            assert not any("card" in name for name in delivery.fields), f"card field in a postback: {delivery.fields}"


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-CARD-MASKED")
def test_simulator_keeps_the_card_masked(client: BetterPaymentClient, urls: Urls,
                                         simulator_control: SimulatorControl) -> None:
    sent = mpi_body(urls)
    tid = expect_payment(client.payment(sent), "payment", sent,
                         status_code=CAT.outcomes.success_status["payment"])["transaction_id"]
    view = simulator_control.bp_transaction(tid)
    text = json.dumps(view) + json.dumps(simulator_control.bp_postbacks())
    assert PAN not in text, "the simulator keeps the full card number"
    assert f"{PAN[:6]}" in text and PAN[-4:] in text, "the simulator's view should show first six + last four"
    expect_no_card_data(view, sent)
