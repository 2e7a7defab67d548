"""Refunds (Better Payment Refund API reference): full, partial, repeated, too much, not allowed, merchant refund
ids, postback.

Proves that a refund without amount refunds everything captured, answers the refund object (successful, 1) and
leaves the transaction refunded (7); that partial refunds may follow each other until the captured amount is used
up and never beyond it (422, nothing refunded); that uncaptured, pending and fully refunded transactions cannot
be refunded; that a merchant's refund_id is used and cannot be used twice; and that each refund is posted to the
original transaction's postback_url in the refund layout.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from harness.cards import random_text
from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
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
from harness.suite.betterpayment.scenarios import authorized, completed, pending
from harness.suite.betterpayment.views import code_of, money, money_text, seed_amount

CAT = betterpayment()

REFUNDED = code_of("refunded")
COMPLETED = code_of("completed")
SUCCESSFUL = CAT.refund_status("successful")
CENT = Decimal("0.01")


def _refund_ok(response: Any, tid: str) -> dict[str, Any]:
    body = expect_operation(response, "refund")
    assert (body["status_code"], body["status"]) == (SUCCESSFUL.code, SUCCESSFUL.name)
    assert body["transaction_id"] == tid
    assert isinstance(body["refund_id"], str) and body["refund_id"]
    return body


def _refunded(client: BetterPaymentClient, tid: str) -> Decimal:
    return money(get_transaction(client, tid)["refunded_amount"])


@pytest.mark.requirement("BP-REFUND-FULL", "BP-STATUS-REFUNDED", "BP-ERR-0-NONE")
def test_full_refund(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = completed(client, urls)
    _refund_ok(client.refund(tid), tid)
    stored = get_transaction(client, tid)
    assert (stored["status_code"], stored["status"]) == (REFUNDED, CAT.status(REFUNDED).name)
    assert money(stored["refunded_amount"]) == seed_amount()


@pytest.mark.requirement("BP-REFUND-FULL", "BP-CAPTURE-PARTIAL")
def test_full_refund_of_a_partly_captured_authorization(client: BetterPaymentClient, urls: Urls) -> None:
    """"Everything captured" is the refundable amount, not the authorized one."""
    _sent, tid = authorized(client, urls)
    captured = Decimal("6.00")
    expect_operation(client.capture(tid, money_text(captured)), "capture", COMPLETED)
    _refund_ok(client.refund(tid), tid)
    stored = get_transaction(client, tid)
    assert stored["status_code"] == REFUNDED
    assert money(stored["refunded_amount"]) == captured


@pytest.mark.requirement("BP-REFUND-PARTIAL")
def test_partial_refund_leaves_the_rest_refundable(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = completed(client, urls)
    part = Decimal("4.00")
    _refund_ok(client.refund(tid, money_text(part)), tid)
    assert _refunded(client, tid) == part
    _refund_ok(client.refund(tid, money_text(seed_amount() - part)), tid)
    stored = get_transaction(client, tid)
    assert money(stored["refunded_amount"]) == seed_amount()
    assert stored["status_code"] == REFUNDED


@pytest.mark.requirement("BP-REFUND-REPEATED", "BP-TX-REFUNDS")
def test_repeated_refunds_up_to_the_captured_amount(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = completed(client, urls)
    parts = [Decimal("1.00"), Decimal("2.00"), seed_amount() - Decimal("3.00")]
    ids = []
    total = Decimal(0)
    for part in parts:
        ids.append(_refund_ok(client.refund(tid, float(part)), tid)["refund_id"])
        total += part
        assert _refunded(client, tid) == total
    assert len(set(ids)) == len(ids), "each refund needs its own refund_id"
    listed = json_body(client.transaction_refunds(tid))
    assert [r["refund_id"] for r in listed] == ids
    assert [money(r["amount"]) for r in listed] == parts


@pytest.mark.requirement("BP-REFUND-TOO-MUCH", "BP-ERR-209-REFUND-EXCEEDS")
@pytest.mark.parametrize("case", ["fresh", "after-partial-refund", "partly-captured"])
def test_refund_above_the_refundable_amount_is_refused(client: BetterPaymentClient, urls: Urls, case: str) -> None:
    if case == "partly-captured":
        _sent, tid = authorized(client, urls)
        available = Decimal("7.00")
        expect_operation(client.capture(tid, money_text(available)), "capture", COMPLETED)
    else:
        _sent, tid = completed(client, urls)
        available = seed_amount()
        if case == "after-partial-refund":
            _refund_ok(client.refund(tid, "3.00"), tid)
            available -= Decimal("3.00")
    before = _refunded(client, tid)
    too_much = available + CENT
    expect_error(client.refund(tid, money_text(too_much)), "BP-ERR-209-REFUND-EXCEEDS",
                 amount=money_text(too_much), available=money_text(available))
    assert _refunded(client, tid) == before


def _uncaptured(client: BetterPaymentClient, urls: Urls) -> str:
    return authorized(client, urls)[1]


def _pending(client: BetterPaymentClient, urls: Urls) -> str:
    return pending(client, urls)[1]


def _fully_refunded(client: BetterPaymentClient, urls: Urls) -> str:
    tid = completed(client, urls)[1]
    _refund_ok(client.refund(tid), tid)
    return tid


NOT_REFUNDABLE = [
    pytest.param(_uncaptured, "authorized", id="uncaptured-authorization"),
    pytest.param(_pending, "pending", id="pending"),
    pytest.param(_fully_refunded, "refunded", id="fully-refunded"),
]


@pytest.mark.requirement("BP-REFUND-NOT-ALLOWED", "BP-ERR-210-STATUS")
@pytest.mark.parametrize(("make", "status"), NOT_REFUNDABLE)
def test_refund_not_allowed_in_this_status(client: BetterPaymentClient, urls: Urls, make: Any, status: str) -> None:
    tid = make(client, urls)
    before, after = expect_refused_in_status(client, tid, status, "refund", lambda: client.refund(tid, "1.00"))
    assert after == before


@pytest.mark.requirement("BP-REFUND-ID")
def test_merchant_refund_id_is_used_once(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = completed(client, urls)
    own = f"PCR{random_text(20)}"
    assert _refund_ok(client.refund(tid, "2.00", refund_id=own), tid)["refund_id"] == own
    again = client.refund(tid, "2.00", refund_id=own)
    body = json_body(again)
    assert again.status_code == 200 or 400 <= again.status_code < 500, f"HTTP {again.status_code}: {again.text[:300]}"
    assert body.get("error_code", 0) != 0, f"a repeated refund_id was accepted: {again.text[:300]}"
    assert set(body) == set(CAT.responses["error"].fields)
    assert body["error_code"] in {e.code for e in CAT.error_codes} - {CAT.error("BP-ERR-0-NONE").code}
    assert _refunded(client, tid) == Decimal("2.00")
    assert [r["refund_id"] for r in json_body(client.transaction_refunds(tid))] == [own]


@pytest.mark.requirement("BP-REFUND-POSTBACK", "BP-PB-REFUND-FIELDS")
@pytest.mark.parametrize("amount", [pytest.param(None, id="full"), pytest.param(Decimal("2.50"), id="partial")])
def test_refund_is_posted_to_the_original_postback_url(client: BetterPaymentClient, urls: Urls,
                                                       postbacks: PostbackReceiver,
                                                       bp_keys: tuple[str, str], amount: Decimal | None) -> None:
    sent, tid = completed(client, urls)
    wait_postbacks(postbacks, tid)
    refund = _refund_ok(client.refund(tid, money_text(amount) if amount else None), tid)
    [delivery] = wait_postbacks(postbacks, tid, where=lambda d: "refund_id" in d.fields)
    status = get_transaction(client, tid)["status_code"]
    fields = expect_postback(delivery, "refund", transaction_id=tid, sent=sent, status_code=status, keys=bp_keys)
    assert fields["refund_id"] == refund["refund_id"]
    assert money(fields["refund_amount"]) == (amount if amount else seed_amount())
    assert fields["refund_status_code"] == str(SUCCESSFUL.code)
    if urls.postback == postbacks.url:
        assert delivery.path == httpx.URL(postbacks.url).path
