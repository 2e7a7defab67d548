"""The seven system-wide decline reasons, each provoked by its catalog trigger.

A system decline answers 201 with state DECLINED, the reason in `declineReason`, decision null and nothing
authorized. Triggers: an unsupported currency, a disabled merchant and an MIT payment of a merchant without MIT
work on any target (on merchants the suite created); the others are switched on through the simulator's
control interface (toggle_<name>).
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import DeclineReason
from harness.suite.bettercharge.checks import expect_payment
from harness.suite.bettercharge.requests import MIT, Api
from harness.suite.bettercharge.views import state_id
from harness.suite.failure import fail, same

CATALOG = bettercharge()

TOGGLE_PREFIX = "toggle_"
_DECLINED = CATALOG.situations["DECLINED"].state


def unsupported_currency() -> str:
    """A well-formed ISO 4217-shaped code that no exchange rate exists for (never one the simulator supports).

    XTS is ISO 4217's code reserved for testing; should it ever be listed, the first free X-code is used.
    """
    supported = set(CATALOG.simulator.supported_currencies)
    candidates: Iterator[str] = itertools.chain(
        ["XTS"], ("X" + "".join(p) for p in itertools.product(string.ascii_uppercase, repeat=2)))
    return next(c for c in candidates if c not in supported)


def _unsupported_currency(api: Api, request: pytest.FixtureRequest) -> dict[str, Any]:
    return api.body(currency=unsupported_currency())


def _merchant_disabled(api: Api, request: pytest.FixtureRequest) -> dict[str, Any]:
    return api.body(merchant=api.merchants.profile("disabled"))


def _mit_not_allowed(api: Api, request: pytest.FixtureRequest) -> dict[str, Any]:
    return api.body(merchant=api.merchants.profile("no_mit"), initiator=MIT)


TRIGGERS: dict[str, Callable[[Api, pytest.FixtureRequest], dict[str, Any]]] = {
    "unsupported_currency": _unsupported_currency,
    "merchant_disabled": _merchant_disabled,
    "mit_not_allowed": _mit_not_allowed,
}


def _case(reason: DeclineReason) -> Any:
    marks = [pytest.mark.requirement(reason.id, state_id(_DECLINED))]
    if reason.simulator_only:
        marks.append(pytest.mark.simulator_only)
    return pytest.param(reason, marks=marks, id=reason.reason)


@pytest.mark.parametrize("reason", [_case(r) for r in CATALOG.decline_reasons])
def test_decline_reason(api: Api, request: pytest.FixtureRequest, reason: DeclineReason) -> None:
    toggle = reason.trigger.removeprefix(TOGGLE_PREFIX) if reason.trigger.startswith(TOGGLE_PREFIX) else None
    if toggle is not None:
        control = request.getfixturevalue("simulator_control")
        control.bc_toggles(**{toggle: True})
        request.addfinalizer(lambda: control.bc_toggles(**{toggle: False}))
        body = api.body()
    elif reason.trigger in TRIGGERS:
        body = TRIGGERS[reason.trigger](api, request)
    else:
        fail(f"{reason.id}: no way to provoke trigger {reason.trigger!r}")
        return
    response = api.client.authorize(body)
    payment = expect_payment(response, "authorize", state=_DECLINED)
    same(payment["declineReason"], reason.reason, "declineReason", response)
    same(payment["decision"], None, "decision of a system decline", response)
    same(payment["failureReason"], None, "failureReason", response)
    same(payment["authorizedAmount"], 0, "authorizedAmount", response)
    same(payment["initiator"], body.get("initiator"), "initiator", response)
    same(payment["currency"], body["currency"], "currency", response)


@pytest.mark.requirement("BC-DECLINE-MERCHANT-INITIATED", state_id(CATALOG.approving_card.state))
def test_mit_is_authorized_for_a_merchant_with_mit(api: Api) -> None:
    """The counter-check: MIT itself is not what declines, the merchant's setting is."""
    payment = api.authorized(merchant=api.merchants.profile("mit"), initiator=MIT)
    same(payment["initiator"], MIT, "initiator")
    same(payment["declineReason"], None, "declineReason")
