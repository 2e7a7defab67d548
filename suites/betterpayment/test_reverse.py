"""Reversal of an authorization (Better Payment Reversal API reference): full, partial, too much, after capture, not
allowed.

Proves that a reversal without amount ends the transaction reversed (12) in the documented reverse shape with
the test-mode message; that a partial reversal answers reversed and leaves the rest authorized (8) and
capturable, and never more than what is left; that a transaction with captures must be refunded instead (422);
that reversed, declined and pending transactions cannot be reversed; and that a reversal is posted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_error, expect_operation, expect_refused_in_status, get_transaction
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls
from harness.suite.betterpayment.scenarios import authorized, declined, pending, reversed_authorization
from harness.suite.betterpayment.views import code_of, money, money_text, seed_amount

CAT = betterpayment()

REVERSED = code_of("reversed")
COMPLETED = code_of("completed")
AUTHORIZED = CAT.outcomes.success_status["authorize"]


@pytest.mark.requirement("BP-REVERSE-FULL", "BP-STATUS-REVERSED", "BP-ERR-0-NONE")
def test_full_reversal(client: BetterPaymentClient, urls: Urls) -> None:
    sent, tid = authorized(client, urls)
    body = expect_operation(client.reverse(tid), "reverse", REVERSED)
    assert (body["transaction_id"], body["order_id"]) == (tid, sent["order_id"])
    assert body["message"] == CAT.test_mode_message.text
    stored = get_transaction(client, tid)
    assert (stored["status_code"], stored["status"]) == (REVERSED, CAT.status(REVERSED).name)
    assert money(stored["captured_amount"]) == 0


@pytest.mark.requirement("BP-REVERSE-PARTIAL")
def test_partial_reversal_leaves_the_rest_authorized(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = authorized(client, urls)
    part = Decimal("5.00")
    expect_operation(client.reverse(tid, money_text(part)), "reverse", REVERSED)
    assert get_transaction(client, tid)["status_code"] == AUTHORIZED
    rest = seed_amount() - part
    expect_error(client.capture(tid, money_text(rest + Decimal("0.01"))), "BP-ERR-208-CAPTURE-EXCEEDS",
                 amount=money_text(rest + Decimal("0.01")), available=money_text(rest))
    expect_operation(client.capture(tid, money_text(rest)), "capture", COMPLETED)
    assert money(get_transaction(client, tid)["captured_amount"]) == rest


@pytest.mark.requirement("BP-REVERSE-PARTIAL", "BP-ERR-208-CAPTURE-EXCEEDS")
@pytest.mark.parametrize("before", [pytest.param(Decimal(0), id="fresh"),
                                    pytest.param(Decimal("5.00"), id="after-partial-reversal")])
def test_reversal_above_what_is_authorized_is_refused(client: BetterPaymentClient, urls: Urls, before: Decimal) -> None:
    _sent, tid = authorized(client, urls)
    if before:
        expect_operation(client.reverse(tid, money_text(before)), "reverse", REVERSED)
    available = seed_amount() - before
    too_much = available + Decimal("0.01")
    expect_error(client.reverse(tid, money_text(too_much)), "BP-ERR-208-CAPTURE-EXCEEDS",
                 amount=money_text(too_much), available=money_text(available))
    assert get_transaction(client, tid)["status_code"] == AUTHORIZED


@pytest.mark.requirement("BP-REVERSE-AFTER-CAPTURE", "BP-ERR-211-REVERSE-CAPTURED")
@pytest.mark.parametrize("captured", [pytest.param(Decimal("5.00"), id="partly-captured"),
                                      pytest.param(None, id="fully-captured")])
def test_reversal_after_a_capture_is_refused(client: BetterPaymentClient, urls: Urls, captured: Decimal | None) -> None:
    _sent, tid = authorized(client, urls)
    expect_operation(client.capture(tid, money_text(captured) if captured else None), "capture", COMPLETED)
    before = get_transaction(client, tid)
    expect_error(client.reverse(tid), "BP-ERR-211-REVERSE-CAPTURED", transaction_id=tid)
    assert get_transaction(client, tid) == before


def _reversed(client: BetterPaymentClient, urls: Urls) -> str:
    return reversed_authorization(client, urls)[1]


def _declined(client: BetterPaymentClient, urls: Urls) -> str:
    return declined(client, urls)[1]


def _pending(client: BetterPaymentClient, urls: Urls) -> str:
    return pending(client, urls, "authorize")[1]


NOT_REVERSIBLE = [
    pytest.param(_reversed, "reversed", id="reversed"),
    pytest.param(_declined, "declined", id="declined", marks=pytest.mark.simulator_only),
    pytest.param(_pending, "pending", id="pending"),
]


@pytest.mark.requirement("BP-REVERSE-NOT-ALLOWED", "BP-ERR-210-STATUS")
@pytest.mark.parametrize(("make", "status"), NOT_REVERSIBLE)
def test_reversal_not_allowed_in_this_status(client: BetterPaymentClient, urls: Urls, make: Any, status: str) -> None:
    tid = make(client, urls)
    before, after = expect_refused_in_status(client, tid, status, "reverse", lambda: client.reverse(tid))
    assert after == before


@pytest.mark.requirement("BP-PB-CAPTURE-REVERSE", "BP-PB-COMPLETED-FIELDS")
def test_reversal_is_posted_with_the_new_status(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                                bp_keys: tuple[str, str]) -> None:
    sent, tid = authorized(client, urls)
    wait_postbacks(postbacks, tid)
    expect_operation(client.reverse(tid), "reverse", REVERSED)
    deliveries = wait_postbacks(postbacks, tid, where=lambda d: d.fields.get("status_code") == str(REVERSED))
    expect_postback(deliveries[0], CAT.postbacks.kind_for_status(REVERSED), transaction_id=tid, sent=sent,
                    status_code=REVERSED, keys=bp_keys)
