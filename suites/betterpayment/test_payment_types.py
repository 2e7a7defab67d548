"""Payment types and the create operations each supports (catalog `payment_types`).

Proves, for every payment type and every create operation (payment, authorize, register), that a supported
combination is accepted with the status its flow gives (card types with own-MPI values answer directly; redirect
types start a bank step) and an unsupported one is refused with 422 operation not supported; and that Card POS
completes without any customer step and without redirection URLs.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.catalog.betterpayment import CREATE_OPERATIONS
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_error, expect_payment, get_transaction
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls, body_for, create, mpi_values
from harness.suite.betterpayment.views import first_answer, payment_types

CAT = betterpayment()


def _request(pt: Any, urls: Urls) -> dict[str, Any]:
    extra = mpi_values() if pt.flow == "threeds" else {}
    return body_for(pt.name, urls, **extra)


def _expected(pt: Any, operation: str) -> tuple[int, str | None]:
    return first_answer(pt, operation)


def _cases() -> list[Any]:
    cases = []
    for pt in CAT.payment_types:
        for operation in CREATE_OPERATIONS:
            marks = ([pytest.mark.requirement(pt.id)] if operation in pt.operations else
                     [pytest.mark.requirement("BP-AUTHORIZE-REDIRECT-UNSUPPORTED", "BP-ERR-213-OPERATION-UNSUPPORTED")])
            cases.append(pytest.param(pt, operation, id=f"{pt.name}-{operation}", marks=marks))
    return cases


@pytest.mark.parametrize(("pt", "operation"), _cases())
def test_create_operation_per_payment_type(client: BetterPaymentClient, urls: Urls, pt: Any, operation: str) -> None:
    sent = _request(pt, urls)
    response = create(client, operation, sent)
    if operation not in pt.operations:
        expect_error(response, "BP-ERR-213-OPERATION-UNSUPPORTED", payment_type=pt.name, operation=operation)
        return
    status, action = _expected(pt, operation)
    body = expect_payment(response, operation, sent, status_code=status, client_action=action)
    stored = get_transaction(client, body["transaction_id"])
    assert (stored["status_code"], stored["payment_type"], stored["order_id"]) == (
        status, pt.name, sent["order_id"])
    assert stored["currency"] == sent["currency"]


DIRECT_TYPES = [pytest.param(pt, id=pt.name, marks=pytest.mark.requirement(pt.id))
                for pt in payment_types(flow="direct")]


@pytest.mark.requirement("BP-CARDPOS-DIRECT", "BP-PB-COMPLETED-FIELDS")
@pytest.mark.parametrize("pt", DIRECT_TYPES)
def test_direct_type_completes_without_customer_step(client: BetterPaymentClient, urls: Urls,
                                                     postbacks: PostbackReceiver,
                                                     bp_keys: tuple[str, str], pt: Any) -> None:
    sent = body_for(pt.name, urls)
    absent = [b for b, presence in pt.blocks.items() if presence == "absent"]
    assert not any(name in sent for b in absent for name in CAT.field_blocks[b].names)
    success = CAT.outcomes.success_status["payment"]
    body = expect_payment(client.payment(sent), "payment", sent, status_code=success)
    assert "client_action" not in body
    [delivery] = wait_postbacks(postbacks, body["transaction_id"])
    expect_postback(delivery, CAT.postbacks.kind_for_status(success), transaction_id=body["transaction_id"],
                    sent=sent, status_code=success, keys=bp_keys)
