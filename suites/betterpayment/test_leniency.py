"""Input as lenient as the real gateway evidently is (catalog `leniencies`): each case is a field format a
vendor plugin sends in production, set on an otherwise valid request, which must be accepted with the flow its
payment type implies. The strict side (blank required fields missing, lists or booleans in text fields, an
unknown locale shape invalid) is proven by test_request_validation.py."""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.suite.betterpayment.checks import expect_error, expect_operation, expect_payment, get_transaction
from harness.suite.betterpayment.requests import Urls, body_for, mpi_values
from harness.suite.betterpayment.scenarios import completed
from harness.suite.betterpayment.views import first_answer, payment_type, payment_types

CAT = betterpayment()

CASES = [pytest.param(x, id=x.id.removeprefix("BP-LENIENT-").lower(), marks=pytest.mark.requirement(x.id))
         for x in CAT.leniencies]


def _with(body: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` set on the body as given: a None is sent as JSON null (an absent field is just not sent)."""
    return {**body, **fields}


@pytest.mark.parametrize("case", CASES)
def test_plugin_field_format_is_accepted(client: BetterPaymentClient, urls: Urls, case: Any) -> None:
    pt = payment_type(case.payment_type) if case.payment_type else payment_types(flow="redirect")[0]
    if case.operation == "payment":
        fields = dict(case.fields)
        drop = [k for k, v in fields.items() if v is None and k in pt.also_optional]
        sent = _with(body_for(pt.name, urls, **({} if pt.flow != "threeds" else mpi_values())), fields)
        for name in drop:  # a relaxed required field the plugin does not send at all
            sent.pop(name)
        status, action = first_answer(pt, "payment")
        body = expect_payment(client.payment(sent), "payment", sent, status_code=status, client_action=action)
        assert get_transaction(client, body["transaction_id"])["status_code"] == status
        return
    if case.operation == "refund":
        _sent, tid = completed(client, urls)
        expect_operation(client.refund(tid, extra=case.fields), "refund")
        return
    # capture of a payment captured later (the type the case names)
    sent = body_for(pt.name, urls)
    status, _ = first_answer(pt, "payment")
    tid = expect_payment(client.payment(sent), "payment", sent, status_code=status)["transaction_id"]
    expect_operation(client.capture(tid, extra=case.fields), "capture", CAT.status_named(pt.status_path[-1]).code)


@pytest.mark.requirement("BP-INVALID-VALUES", "BP-ERR-205-INVALID-FIELDS")
@pytest.mark.parametrize("locale", ["DEU", "de_DEU", "d", "de-", "12"])
def test_locale_shapes_outside_the_leniency_stay_invalid(client: BetterPaymentClient, urls: Urls, locale: str) -> None:
    sent = body_for(payment_types(flow="redirect")[0].name, urls, locale=locale)
    expect_error(client.payment(sent), "BP-ERR-205-INVALID-FIELDS", fields="locale")
