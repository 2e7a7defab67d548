"""Every error row of the seed's tables, provoked by its catalog `trigger`, with its exact status and body.

Rows whose trigger is `transition` are provoked by the state-machine suite (test_transitions.py), which names
them. A row with a trigger this module does not know fails loudly, so a new catalog row cannot go unchecked.
Rows that need the simulator's control interface (faults, latency, the other partner) are simulator-only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import ErrorRow
from harness.suite.bettercharge.checks import expect_error, expect_payment
from harness.suite.bettercharge.requests import Api, ClientFactory, non_test_pan
from harness.suite.bettercharge.scenarios import Scenario, race
from harness.suite.bettercharge.views import FAULT_PREFIX, fault_for, unique
from harness.suite.failure import fail, same

CATALOG = bettercharge()

#: Triggers that need the simulator although the row itself is not marked so: the other partner's credentials
#: exist only on the simulator (catalog simulator.other_*).
NEEDS_SIMULATOR = {"other_partner_payment"}


@dataclass
class Provoked:
    response: httpx.Response
    operation: str
    values: dict[str, Any]


@dataclass
class Context:
    api: Api
    make_client: ClientFactory
    request: pytest.FixtureRequest

    @property
    def control(self) -> Any:
        return self.request.getfixturevalue("simulator_control")


def _missing_fields(ctx: Context) -> Provoked:
    body = ctx.api.body()
    del body["amount"]
    del body["customer"]["email"]
    return Provoked(ctx.api.client.authorize(body), "authorize", {"fields": "amount, customer.email"})


def _card_expired(ctx: Context) -> Provoked:
    body = ctx.api.body(expiry=ctx.api.expiry(-1))
    return Provoked(ctx.api.client.authorize(body), "authorize", {})


def _card_expiring_this_month(ctx: Context) -> Provoked:
    body = ctx.api.body(expiry=ctx.api.expiry(0))
    return Provoked(ctx.api.client.authorize(body), "authorize", {})


def _non_test_card(ctx: Context) -> Provoked:
    body = ctx.api.body(card=non_test_pan())
    return Provoked(ctx.api.client.authorize(body), "authorize", {})


def _foreign_account(ctx: Context) -> Provoked:
    body = ctx.api.body(account_id=unique("foreign-account"))
    return Provoked(ctx.api.client.authorize(body), "authorize", {})


def _raw_operation(ctx: Context, op: str, bc_id: str, body: Any) -> httpx.Response:
    path = CATALOG.operation(op).path.format(bcId=bc_id)
    return ctx.api.client.raw(CATALOG.operation(op).method, path, json=body, idempotency_key=None)


def _malformed_refund(ctx: Context) -> Provoked:
    scenario = Scenario(ctx.api)
    scenario.reach("CAPTURED")
    # amount must be an integer in minor units: a decimal string is malformed refund data
    body = {"amount": str(CATALOG.amounts.partial_refund / 100)}
    return Provoked(_raw_operation(ctx, "refund", scenario.bc_id, body), "refund", {})


def _malformed_void(ctx: Context) -> Provoked:
    scenario = Scenario(ctx.api)
    scenario.reach("AUTHORIZED")
    return Provoked(_raw_operation(ctx, "void", scenario.bc_id, {"reason": {"text": "not a string"}}), "void", {})


def _refund_policy(ctx: Context) -> Provoked:
    merchant = ctx.api.merchants.profile("no_refunds")
    payment = expect_payment(ctx.api.client.charge(ctx.api.body(merchant=merchant)), "charge",
                             state=CATALOG.situations["CAPTURED"].state)
    return Provoked(ctx.api.client.refund(payment["bcId"]), "refund", {})


def _void_policy(ctx: Context) -> Provoked:
    merchant = ctx.api.merchants.profile("no_voids")
    payment = ctx.api.authorized(merchant=merchant)
    return Provoked(ctx.api.client.void(payment["bcId"]), "void", {})


def _wrong_api_key(ctx: Context) -> Provoked:
    client = ctx.make_client(api_key=unique("wrong-key"))
    return Provoked(client.get_payment(unique("payment")), "get_payment", {})


def _other_partner_payment(ctx: Context) -> Provoked:
    sim = CATALOG.simulator
    other = ctx.make_client(api_key=sim.other_api_key, partner_id=sim.other_partner_id)
    body = ctx.api.body(merchant=None, account_id=sim.other_account_id)
    body["merchantId"] = sim.other_merchant_id
    theirs = expect_payment(other.authorize(body), "authorize", state=CATALOG.approving_card.state)
    return Provoked(ctx.api.client.get_payment(theirs["bcId"]), "get_payment", {})


def _unknown_merchant(ctx: Context) -> Provoked:
    merchant_id = unique("no-such-merchant")
    body = ctx.api.body()
    body["merchantId"] = merchant_id
    body.pop("accountId", None)
    return Provoked(ctx.api.client.authorize(body), "authorize", {"merchantId": merchant_id})


def _get_unknown_payment(ctx: Context) -> Provoked:
    bc_id = unique("no-such-payment")
    return Provoked(ctx.api.client.get_payment(bc_id), "get_payment", {"bcId": bc_id})


def _unknown_partner(ctx: Context) -> Provoked:
    client = ctx.make_client(partner_id=unique("no-such-partner"))
    return Provoked(client.get_payment(unique("payment")), "get_payment", {})


def _operate_unknown_payment(ctx: Context) -> Provoked:
    return Provoked(ctx.api.client.capture(unique("no-such-payment")), "capture", {})


def _duplicate_order_reference(ctx: Context) -> Provoked:
    first = ctx.api.authorized()
    again = ctx.api.body(order_reference=first["orderReference"])
    return Provoked(ctx.api.client.authorize(again), "authorize", {})


def _concurrent_operation(ctx: Context) -> Provoked:
    payment = ctx.api.authorized()
    results = race(ctx.control, (ctx.make_client(), ctx.make_client()),
                   lambda c: c.capture(payment["bcId"]), lambda c: c.capture(payment["bcId"]))
    locked = [r for r in results if r.status_code != CATALOG.operation("capture").success]
    if len(locked) != 1:
        fail(f"two concurrent captures: expected one to proceed and one to be locked, got "
             f"{[r.status_code for r in results]}")
    return Provoked(locked[0], "capture", {"identifier": payment["bcId"]})


def _fault(ctx: Context, row: ErrorRow) -> Provoked:
    kind, values = fault_for(row)
    with ctx.control.bc_faults(kind, 1, **values):
        response = ctx.api.client.without_retries().authorize(ctx.api.body())
    return Provoked(response, "authorize", values)


PROVOKERS: dict[str, Callable[[Context], Provoked]] = {
    "missing_fields": _missing_fields,
    "card_expired": _card_expired,
    "card_expiring_this_month": _card_expiring_this_month,
    "non_test_card": _non_test_card,
    "foreign_account": _foreign_account,
    "malformed_refund": _malformed_refund,
    "malformed_void": _malformed_void,
    "refund_policy": _refund_policy,
    "void_policy": _void_policy,
    "wrong_api_key": _wrong_api_key,
    "other_partner_payment": _other_partner_payment,
    "unknown_merchant": _unknown_merchant,
    "get_unknown_payment": _get_unknown_payment,
    "unknown_partner": _unknown_partner,
    "operate_unknown_payment": _operate_unknown_payment,
    "duplicate_order_reference": _duplicate_order_reference,
    "concurrent_operation": _concurrent_operation,
}


def _case(row: ErrorRow) -> Any:
    marks = [pytest.mark.requirement(row.id)]
    if row.simulator_only or row.trigger in NEEDS_SIMULATOR:
        marks.append(pytest.mark.simulator_only)
    return pytest.param(row, marks=marks, id=row.id)


CASES = [_case(row) for row in CATALOG.errors if row.trigger != "transition"]


@pytest.mark.parametrize("row", CASES)
def test_error_row(api: Api, make_client: ClientFactory, request: pytest.FixtureRequest, row: ErrorRow) -> None:
    ctx = Context(api, make_client, request)
    if row.trigger.startswith(FAULT_PREFIX):
        provoked = _fault(ctx, row)
    elif row.trigger in PROVOKERS:
        provoked = PROVOKERS[row.trigger](ctx)
    else:
        fail(f"{row.id}: no way to provoke trigger {row.trigger!r}; add one to {__name__}")
        return
    values = expect_error(provoked.response, row.id, **provoked.values)
    if "details" in values and not values["details"].strip("[] "):
        fail(f"{row.id}: the validation details are empty")
    if "bcId" in values and "bcId" not in provoked.values:
        # The message names a payment: it must be readable, and be the one this request created.
        sent = json.loads(provoked.response.request.content)
        named = api.get(values["bcId"])
        same(named["orderReference"], sent["orderReference"], f"{row.id}: orderReference of the payment named")


@pytest.mark.requirement("BC-ERR-404-MERCHANT")
def test_unknown_merchant_cannot_be_read(api: Api) -> None:
    merchant_id = unique("no-such-merchant")
    expect_error(api.client.get_merchant(merchant_id), "BC-ERR-404-MERCHANT",
                 merchantId=merchant_id)


@pytest.mark.parametrize("operation", [
    pytest.param(op.name, marks=pytest.mark.requirement("BC-ERR-422-PAYMENT-NOT-FOUND"), id=op.name)
    for op in CATALOG.operations if "{bcId}" in op.path and op.method == "POST"
])
def test_every_operation_on_an_unknown_payment(api: Api, operation: str) -> None:
    bc_id = str(uuid.uuid4())
    response = getattr(api.client, operation)(bc_id)
    expect_error(response, "BC-ERR-422-PAYMENT-NOT-FOUND")
