"""Authorize, then capture (Better Payment Capture API reference): full, partial, repeated, too much, not allowed.

Proves that an own-MPI authorization is authorized (8) and one without 3DS values waits for the customer; that a
capture without amount takes the whole authorization and answers completed (3) in the documented capture shape
with the card's last four digits, expiry and brand only; that partial captures may follow each other until the
authorization is used up and never beyond it (422, nothing captured); that pending, declined, reversed and
one-step transactions cannot be captured; and that a capture is posted with the transaction's new status.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.plugin import Target
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import (
    expect_error,
    expect_operation,
    expect_refused_in_status,
    get_transaction,
    json_body,
)
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls
from harness.suite.betterpayment.scenarios import authorized, completed, declined, pending, reversed_authorization
from harness.suite.betterpayment.views import code_of, money, money_text, seed_amount

CAT = betterpayment()

COMPLETED = code_of("completed")
AUTHORIZED = CAT.outcomes.success_status["authorize"]
CENT = Decimal("0.01")


def _brand(pan: str) -> str | None:
    """The brand the catalog's BIN ranges give this card number."""
    for entry in CAT.card_brands:
        for prefix in entry.prefixes:
            low, _, high = prefix.partition("-")
            high = high or low
            head = int(pan[: len(low)])
            if int(low) <= head <= int(high):
                return entry.brand
    return None


def _captured(client: BetterPaymentClient, tid: str) -> Decimal:
    return money(get_transaction(client, tid)["captured_amount"])


@pytest.mark.requirement("BP-AUTHORIZE", "BP-STATUS-AUTHORIZED", "BP-STATUS-PENDING")
def test_authorize_with_and_without_own_mpi(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = authorized(client, urls)
    stored = get_transaction(client, tid)
    assert (stored["status_code"], stored["status"]) == (AUTHORIZED, CAT.status(AUTHORIZED).name)
    assert money(stored["captured_amount"]) == 0
    _sent, waiting = pending(client, urls, "authorize")
    assert get_transaction(client, waiting)["status_code"] == CAT.outcomes.step_status["threeds"]


@pytest.mark.requirement("BP-CAPTURE-FULL", "BP-STATUS-COMPLETED", "BP-ERR-0-NONE")
def test_full_capture(client: BetterPaymentClient, urls: Urls, paycert_target: Target) -> None:
    sent, tid = authorized(client, urls)
    body = expect_operation(client.capture(tid), "capture", COMPLETED)
    assert body["transaction_id"] == tid and body["order_id"] == sent["order_id"]
    assert body["message"] == CAT.test_mode_message.text
    assert body["card_last_four"] == str(sent["card_number"])[-4:]
    assert (body["card_expiry_month"], body["card_expiry_year"]) == (
        f"{int(sent['card_expiry_month']):02d}", str(sent["card_expiry_year"]))
    assert isinstance(body["card_brand"], str) and body["card_brand"]
    if paycert_target.is_simulator:  # the BIN table is the simulator's convention
        assert body["card_brand"] == _brand(str(sent["card_number"]))
    stored = get_transaction(client, tid)
    assert stored["status_code"] == COMPLETED
    assert money(stored["captured_amount"]) == money(sent["amount"])


@pytest.mark.requirement("BP-CAPTURE-PARTIAL")
def test_partial_capture_leaves_the_rest_capturable(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = authorized(client, urls)
    first = (seed_amount() / 3).quantize(CENT)
    expect_operation(client.capture(tid, money_text(first)), "capture", COMPLETED)
    assert _captured(client, tid) == first
    expect_operation(client.capture(tid, money_text(seed_amount() - first)), "capture", COMPLETED)
    assert _captured(client, tid) == seed_amount()


@pytest.mark.requirement("BP-CAPTURE-REPEATED")
def test_repeated_partial_captures_up_to_the_authorization(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = authorized(client, urls)
    parts = [Decimal("1.00"), Decimal("2.50"), seed_amount() - Decimal("3.50")]
    total = Decimal(0)
    for part in parts:
        expect_operation(client.capture(tid, float(part)), "capture", COMPLETED)
        total += part
        assert _captured(client, tid) == total
    # Nothing is left: either "exceeds the remaining 0.00" or "not allowed when completed" is a faithful answer.
    response = client.capture(tid, money_text(CENT))
    if json_body(response).get("error_code") == CAT.error("BP-ERR-208-CAPTURE-EXCEEDS").code:
        expect_error(response, "BP-ERR-208-CAPTURE-EXCEEDS", amount=money_text(CENT), available=money_text(Decimal(0)))
    else:
        expect_error(response, "BP-ERR-210-STATUS", operation="capture", status=CAT.status(COMPLETED).name)
    assert _captured(client, tid) == seed_amount()


@pytest.mark.requirement("BP-CAPTURE-TOO-MUCH", "BP-ERR-208-CAPTURE-EXCEEDS")
@pytest.mark.parametrize("before", [pytest.param(Decimal(0), id="fresh"),
                                    pytest.param(Decimal("5.00"), id="after-partial")])
def test_capture_above_the_authorization_is_refused(client: BetterPaymentClient, urls: Urls, before: Decimal) -> None:
    _sent, tid = authorized(client, urls)
    if before:
        expect_operation(client.capture(tid, money_text(before)), "capture", COMPLETED)
    available = seed_amount() - before
    too_much = available + CENT
    expect_error(client.capture(tid, money_text(too_much)), "BP-ERR-208-CAPTURE-EXCEEDS",
                 amount=money_text(too_much), available=money_text(available))
    assert _captured(client, tid) == before


def _pending(client: BetterPaymentClient, urls: Urls) -> str:
    return pending(client, urls, "authorize")[1]


def _declined(client: BetterPaymentClient, urls: Urls) -> str:
    return declined(client, urls)[1]


def _reversed(client: BetterPaymentClient, urls: Urls) -> str:
    return reversed_authorization(client, urls)[1]


def _one_step(client: BetterPaymentClient, urls: Urls) -> str:
    return completed(client, urls)[1]


NOT_CAPTURABLE = [
    pytest.param(_pending, "pending", id="pending"),
    pytest.param(_declined, "declined", id="declined", marks=pytest.mark.simulator_only),
    pytest.param(_reversed, "reversed", id="reversed"),
    pytest.param(_one_step, "completed", id="one-step-payment"),
]


@pytest.mark.requirement("BP-CAPTURE-NOT-ALLOWED", "BP-ERR-210-STATUS")
@pytest.mark.parametrize(("make", "status"), NOT_CAPTURABLE)
def test_capture_not_allowed_in_this_status(client: BetterPaymentClient, urls: Urls, make: Any, status: str) -> None:
    tid = make(client, urls)
    before, after = expect_refused_in_status(client, tid, status, "capture", lambda: client.capture(tid))
    assert (after["status_code"], after["captured_amount"]) == (before["status_code"], before["captured_amount"])


@pytest.mark.requirement("BP-ERR-207-UNKNOWN-TRANSACTION")
@pytest.mark.parametrize("operation", [op.name for op in CAT.operations if op.name in CAT.request_fields])
def test_operation_on_an_unknown_transaction(client: BetterPaymentClient, operation: str) -> None:
    unknown = str(uuid.uuid4())
    expect_error(getattr(client, operation)(unknown), "BP-ERR-207-UNKNOWN-TRANSACTION", transaction_id=unknown)


@pytest.mark.requirement("BP-PB-CAPTURE-REVERSE", "BP-PB-COMPLETED-FIELDS")
def test_capture_is_posted_with_the_new_status(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                               bp_keys: tuple[str, str]) -> None:
    sent, tid = authorized(client, urls)
    [first] = wait_postbacks(postbacks, tid)
    expect_postback(first, CAT.postbacks.kind_for_status(AUTHORIZED), transaction_id=tid, sent=sent,
                    status_code=AUTHORIZED, keys=bp_keys)
    expect_operation(client.capture(tid), "capture", COMPLETED)
    deliveries = wait_postbacks(postbacks, tid, where=lambda d: d.fields.get("status_code") == str(COMPLETED))
    expect_postback(deliveries[0], CAT.postbacks.kind_for_status(COMPLETED), transaction_id=tid, sent=sent,
                    status_code=COMPLETED, keys=bp_keys)
