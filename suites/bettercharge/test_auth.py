"""Authentication on every operation: the two headers, the partner, and another partner's payments.

Proves: a request without x-api-key, with an unknown key or without x-partner-id gets 401 UNAUTHORIZED; a valid
key with an unknown partner gets 404 PARTNER_NOT_FOUND (exact bodies, on every operation of the catalog); and a
payment of another partner can be neither read nor operated (403 FORBIDDEN) and stays as it was. The other
partner's credentials exist only on the simulator, so that part is simulator-only.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Operation
from harness.plugin import Target
from harness.simulator_control import SimulatorControl
from harness.suite.bettercharge.checks import expect_error, expect_payment
from harness.suite.bettercharge.requests import Api, ClientFactory
from harness.suite.bettercharge.views import unique
from harness.suite.failure import same

CATALOG = bettercharge()

AUTH = CATALOG.auth


def _path(op: Operation) -> str:
    return op.path.format(bcId=unique("payment"), merchantId=unique("merchant"))


def _body(op: Operation, api: Api) -> Any:
    """A well-formed body, so that nothing but the credentials can be wrong."""
    if op.method == "GET":
        return None
    if op.name in ("authorize", "charge"):
        return api.body()
    if op.name == "create_merchant":
        return {"merchantId": unique("m"), "name": "paycert auth check"}
    return {}


def _send(api: Api, op: Operation, headers: dict[str, str]) -> httpx.Response:
    return api.client.raw(op.method, _path(op), json=_body(op, api), headers=headers, authenticate=False,
                          idempotency_key=None)


def _rule_cases(rule_id: str) -> list[Any]:
    rule = next(r for r in CATALOG.rules if r.id == rule_id)
    return [pytest.param(op, marks=pytest.mark.requirement(rule.id, rule.error or ""), id=op.name)
            for op in CATALOG.operations]


def _row(rule_id: str) -> Any:
    rule = next(r for r in CATALOG.rules if r.id == rule_id)
    return rule.error or ""


@pytest.mark.parametrize("op", _rule_cases("BC-AUTH-MISSING-KEY"))
def test_missing_api_key(api: Api, paycert_target: Target, op: Operation) -> None:
    headers = {AUTH.partner_header: paycert_target.settings.bettercharge.partner_id}
    expect_error(_send(api, op, headers), _row("BC-AUTH-MISSING-KEY"))


@pytest.mark.parametrize("op", _rule_cases("BC-AUTH-WRONG-KEY"))
def test_wrong_api_key(api: Api, paycert_target: Target, op: Operation) -> None:
    headers = {AUTH.api_key_header: unique("wrong-key"),
               AUTH.partner_header: paycert_target.settings.bettercharge.partner_id}
    expect_error(_send(api, op, headers), _row("BC-AUTH-WRONG-KEY"))


@pytest.mark.parametrize("op", _rule_cases("BC-AUTH-MISSING-PARTNER"))
def test_missing_partner(api: Api, paycert_target: Target, op: Operation) -> None:
    headers = {AUTH.api_key_header: paycert_target.settings.bettercharge.api_key}
    expect_error(_send(api, op, headers), _row("BC-AUTH-MISSING-PARTNER"))


@pytest.mark.parametrize("op", _rule_cases("BC-AUTH-UNKNOWN-PARTNER"))
def test_unknown_partner(api: Api, paycert_target: Target, op: Operation) -> None:
    headers = {AUTH.api_key_header: paycert_target.settings.bettercharge.api_key,
               AUTH.partner_header: unique("no-such-partner")}
    expect_error(_send(api, op, headers), _row("BC-AUTH-UNKNOWN-PARTNER"))


def _payment_operations() -> list[Any]:
    return [pytest.param(op, marks=pytest.mark.requirement("BC-AUTH-OTHER-PARTNER", "BC-ERR-403-FORBIDDEN"),
                         id=op.name)
            for op in CATALOG.operations if "{bcId}" in op.path]


@pytest.mark.simulator_only
@pytest.mark.parametrize("op", _payment_operations())
def test_other_partners_payment_is_forbidden(api: Api, make_client: ClientFactory, simulator_control: SimulatorControl,
                                             op: Operation) -> None:
    sim = CATALOG.simulator
    other = make_client(api_key=sim.other_api_key, partner_id=sim.other_partner_id)
    body = api.body(account_id=sim.other_account_id)
    body["merchantId"] = sim.other_merchant_id
    theirs = expect_payment(other.authorize(body), "authorize", state=CATALOG.approving_card.state)

    response = api.client.raw(op.method, op.path.format(bcId=theirs["bcId"]),
                              json=None if op.method == "GET" else {})
    expect_error(response, "BC-ERR-403-FORBIDDEN")
    # and the other way round: ours is not theirs either
    ours = api.authorized()
    response = other.raw(op.method, op.path.format(bcId=ours["bcId"]), json=None if op.method == "GET" else {})
    expect_error(response, "BC-ERR-403-FORBIDDEN")
    # nothing changed
    after = expect_payment(other.get_payment(theirs["bcId"]), "get_payment", state=theirs["state"])
    same(after, theirs, f"the other partner's payment after our refused {op.name}")
