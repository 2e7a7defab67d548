"""Reading transactions back (the calls the vendor's plugins make, e.g.
better-payment/bp-plugin-shopware6-api2): the transaction, its log and its refunds.

Proves that GET /rest/transactions/{id} returns exactly the documented fields (no error_code) with the request's
values and running captured/refunded totals; that the log lists each operation with its type, resulting status,
amount and time, in order; that the refunds list holds the refund objects; that an unknown id gets 404 on all
three; and that another merchant cannot see the transaction.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.suite.betterpayment.checks import (
    expect_error,
    expect_ok,
    expect_operation,
    expect_shape,
    get_transaction,
    iso_time,
)
from harness.suite.betterpayment.requests import Urls
from harness.suite.betterpayment.scenarios import authorized, completed
from harness.suite.betterpayment.views import code_of, money, money_text, seed_amount

CAT = betterpayment()

READS = [op.name for op in CAT.operations if op.method == "GET"]
_CLIENT_METHOD = {"get_transaction": "get_transaction", "get_log": "transaction_log",
                  "get_refunds": "transaction_refunds"}


def _read(client: BetterPaymentClient, operation: str, tid: str) -> Any:
    return getattr(client, _CLIENT_METHOD[operation])(tid)


@pytest.mark.requirement("BP-TX-GET")
def test_transaction_has_the_documented_fields_and_values(client: BetterPaymentClient, urls: Urls) -> None:
    reference = f"PC-REF-{uuid.uuid4().hex[:10]}"
    sent, tid = completed(client, urls, merchant_reference=reference)
    stored = get_transaction(client, tid)
    assert stored["transaction_id"] == tid
    assert (stored["order_id"], stored["payment_type"], stored["currency"], stored["merchant_reference"]) == (
        sent["order_id"], sent["payment_type"], sent["currency"], reference)
    assert money(stored["amount"]) == seed_amount()
    assert (money(stored["captured_amount"]), money(stored["refunded_amount"])) == (seed_amount(), Decimal(0))


@pytest.mark.requirement("BP-TX-GET")
def test_default_merchant_reference_names_the_order(client: BetterPaymentClient, urls: Urls) -> None:
    """Without merchant_reference the gateway uses the order id plus the merchant's name (D-pay)."""
    sent, tid = completed(client, urls)
    reference = get_transaction(client, tid)["merchant_reference"]
    assert sent["order_id"] in reference and reference != sent["order_id"]


@pytest.mark.requirement("BP-TX-GET", "BP-TX-LOG", "BP-TX-REFUNDS")
def test_running_totals_log_and_refunds(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = authorized(client, urls)
    captures = [Decimal("4.00"), Decimal("6.00")]
    refunds = [Decimal("1.50"), Decimal("2.00")]
    refund_ids = []
    for amount in captures:
        expect_operation(client.capture(tid, money_text(amount)), "capture", code_of("completed"))
    for amount in refunds:
        refund_ids.append(expect_operation(client.refund(tid, money_text(amount)), "refund")["refund_id"])
    stored = get_transaction(client, tid)
    assert money(stored["captured_amount"]) == sum(captures)
    assert money(stored["refunded_amount"]) == sum(refunds)

    log = expect_ok(client.transaction_log(tid), "get_log")
    assert isinstance(log, list)
    for entry in log:
        expect_shape(entry, "log_entry")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in log:
        by_type.setdefault(entry["type"], []).append(entry)
    capture_name, refund_name = CAT.operation("capture").name, CAT.operation("refund").name
    assert [money(e["amount"]) for e in by_type.get(capture_name, [])] == captures
    assert {e["status"] for e in by_type[capture_name]} == {code_of("completed")}
    assert [money(e["amount"]) for e in by_type.get(refund_name, [])] == refunds
    assert {e["status"] for e in by_type[refund_name]} == {code_of("refunded")}
    first = log[0]
    assert (first["type"], first["status"]) == (CAT.operation("authorize").name,
                                                CAT.outcomes.success_status["authorize"])
    assert money(first["amount"]) == seed_amount()
    times = [iso_time(e["created_at"]) for e in log]
    assert times == sorted(times), "log entries are not in order"
    assert [e["type"] for e in log] == [CAT.operation("authorize").name, capture_name, capture_name,
                                        refund_name, refund_name]

    listed = expect_ok(client.transaction_refunds(tid), "get_refunds")
    for entry in listed:
        expect_shape(entry, "refund_object")
        assert entry["transaction_id"] == tid
        assert (entry["status_code"], entry["status"]) == (CAT.refund_status("successful").code,
                                                           CAT.refund_status("successful").name)
    assert [e["refund_id"] for e in listed] == refund_ids
    assert [money(e["amount"]) for e in listed] == refunds


@pytest.mark.requirement("BP-TX-REFUNDS")
def test_refunds_of_a_transaction_without_refunds(client: BetterPaymentClient, urls: Urls) -> None:
    _sent, tid = completed(client, urls)
    assert expect_ok(client.transaction_refunds(tid), "get_refunds") == []


@pytest.mark.requirement("BP-TX-GET-UNKNOWN", "BP-ERR-207-UNKNOWN-TRANSACTION")
@pytest.mark.parametrize("operation", READS)
def test_unknown_transaction(client: BetterPaymentClient, operation: str) -> None:
    unknown = str(uuid.uuid4())
    expect_error(_read(client, operation, unknown), "BP-ERR-207-UNKNOWN-TRANSACTION", transaction_id=unknown)


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-TX-OTHER-KEY", "BP-ERR-207-UNKNOWN-TRANSACTION")
@pytest.mark.parametrize("operation", [*READS, "capture", "refund", "reverse"])
def test_another_merchant_cannot_see_or_touch_the_transaction(client: BetterPaymentClient, other_client: Any,
                                                              urls: Urls,
                                                              operation: str) -> None:
    _sent, tid = authorized(client, urls)
    before = get_transaction(client, tid)
    if operation in _CLIENT_METHOD:
        response = _read(other_client, operation, tid)
    else:
        response = getattr(other_client, operation)(tid)
    expect_error(response, "BP-ERR-207-UNKNOWN-TRANSACTION", transaction_id=tid)
    assert get_transaction(client, tid) == before
