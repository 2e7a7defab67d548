"""Card ECOM with the merchant's own 3DS MPI (000 §4 Direct Response): no customer step, a direct answer.

Proves that a card payment carrying both threeds_* values completes at once (status 3) in exactly the seed's
direct-response shape, that amount is accepted as a number and as a numeric string, and (simulator test data)
that declines and processing errors are reported in-band: HTTP 200, error_code 0, status declined/error, with a
declined-layout postback carrying the reason code.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_payment, get_transaction
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls, mpi_body
from harness.suite.betterpayment.views import money

CAT = betterpayment()

SUCCESS = CAT.outcomes.success_status


def _matches_seed_direct_shape(body: dict[str, Any]) -> None:
    seed = CAT.seed_examples.direct_response
    assert set(body) == set(seed), f"fields {sorted(body)} differ from the seed's {sorted(seed)}"
    for key, value in seed.items():
        assert type(body[key]) is type(value), f"{key}: {type(body[key]).__name__}, seed {type(value).__name__}"
    for key in ("payment_type", "status_code", "status", "message", "additional_transaction_data",
                "included_fees", "error_code"):
        assert body[key] == seed[key], f"{key}: {body[key]!r}, seed {seed[key]!r}"


@pytest.mark.requirement("BP-PAYMENT-OWN-MPI", "BP-STATUS-COMPLETED", "BP-ERR-0-NONE", "BP-PT-CARDECOM")
def test_own_mpi_payment_completes_in_the_seed_direct_shape(client: BetterPaymentClient, urls: Urls) -> None:
    sent = mpi_body(urls)
    body = expect_payment(client.payment(sent), "payment", sent, status_code=SUCCESS["payment"])
    _matches_seed_direct_shape(body)
    stored = get_transaction(client, body["transaction_id"])
    assert (stored["status_code"], stored["status"]) == (body["status_code"], body["status"])
    assert money(stored["captured_amount"]) == money(sent["amount"])
    assert money(stored["refunded_amount"]) == Decimal(0)


@pytest.mark.requirement("BP-AMOUNT-FORMATS", "BP-PAYMENT-OWN-MPI")
@pytest.mark.parametrize("form", ["number", "string"])
def test_amount_as_number_or_string(client: BetterPaymentClient, urls: Urls, form: str) -> None:
    amount = money(CAT.seed_examples.payment_request["amount"])
    sent = mpi_body(urls, amount=float(amount) if form == "number" else f"{amount}")
    body = expect_payment(client.payment(sent), "payment", sent, status_code=SUCCESS["payment"])
    assert money(body["amount"]) == amount
    assert money(get_transaction(client, body["transaction_id"])["amount"]) == amount


@pytest.mark.requirement("BP-PAYMENT-OWN-MPI", "BP-PB-COMPLETED-FIELDS", "BP-PB-FORM")
def test_own_mpi_payment_sends_a_completed_postback(client: BetterPaymentClient, urls: Urls,
                                                    postbacks: PostbackReceiver,
                                                    bp_keys: tuple[str, str]) -> None:
    sent = mpi_body(urls, additional_transaction_data="customer_id=PC1, billing_info=paycert")
    body = expect_payment(client.payment(sent), "payment", sent, status_code=SUCCESS["payment"])
    [delivery] = wait_postbacks(postbacks, body["transaction_id"])
    kind = CAT.postbacks.kind_for_status(SUCCESS["payment"])
    expect_postback(delivery, kind, transaction_id=body["transaction_id"], sent=sent,
                    status_code=SUCCESS["payment"], keys=bp_keys)


def _holder_params() -> list[Any]:
    return [pytest.param(o, id=o.card_holder.lower().replace(" ", "-"),
                         marks=[pytest.mark.requirement(o.id, CAT.status(o.status_code).id)])
            for o in CAT.outcomes.card_holders]


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-DECLINE-IN-BAND", "BP-PB-DECLINED-FIELDS", "BP-ERR-0-NONE")
@pytest.mark.parametrize("outcome", _holder_params())
def test_declines_and_errors_are_in_band(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                         bp_keys: tuple[str, str], outcome: Any) -> None:
    sent = mpi_body(urls, card_holder=outcome.card_holder)
    body = expect_payment(client.payment(sent), "payment", sent, status_code=outcome.status_code)
    assert body["message"] == outcome.message
    assert get_transaction(client, body["transaction_id"])["status_code"] == outcome.status_code
    [delivery] = wait_postbacks(postbacks, body["transaction_id"])
    expect_postback(delivery, CAT.postbacks.kind_for_status(outcome.status_code),
                    transaction_id=body["transaction_id"], sent=sent, status_code=outcome.status_code,
                    keys=bp_keys, reason_code=outcome.reason_code, message=outcome.message)
