"""Invoice and SEPA (catalog payment_types with flow `synchronous`): authorized at once without a customer step,
captured later the way the Shopware plugin captures an invoice (invoice_id, execution_date, comment)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_error, expect_operation, expect_payment, get_transaction
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls, body_for
from harness.suite.betterpayment.views import first_answer, money, payment_types

CAT = betterpayment()

SYNC = [pytest.param(pt, id=pt.name, marks=pytest.mark.requirement(pt.id)) for pt in payment_types(flow="synchronous")]


@pytest.mark.requirement("BP-SYNC-AUTHORIZED", "BP-SYNC-CAPTURE", "BP-STATUS-AUTHORIZED", "BP-CAPTURE-FULL")
@pytest.mark.parametrize("pt", SYNC)
def test_synchronous_type_is_authorized_then_captured(client: BetterPaymentClient, urls: Urls,
                                                      postbacks: PostbackReceiver,
                                                      bp_keys: tuple[str, str], pt: Any) -> None:
    sent = body_for(pt.name, urls)
    status, action = first_answer(pt, "payment")
    assert action is None and CAT.status(status).name == pt.status_path[0]
    body = expect_payment(client.payment(sent), "payment", sent, status_code=status)
    tid = body["transaction_id"]
    [delivery] = wait_postbacks(postbacks, tid)
    expect_postback(delivery, CAT.postbacks.kind_for_status(status), transaction_id=tid, sent=sent,
                    status_code=status, keys=bp_keys)
    assert "capture" in pt.follow_ups
    final = CAT.status_named(pt.status_path[-1]).code
    captured = client.capture(tid, extra={"invoice_id": "RE-1001", "execution_date": date.today().isoformat(),
                                          "comment": "Captured using Shopware 6 plugin"})
    expect_operation(captured, "capture", final)
    stored = get_transaction(client, tid)
    assert stored["status_code"] == final and money(stored["captured_amount"]) == money(sent["amount"])
    expect_error(client.capture(tid, "1.00"), "BP-ERR-210-STATUS", operation="capture", status=CAT.status(final).name)
