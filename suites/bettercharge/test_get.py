"""A payment read back with GET is exactly what the API last answered about it (rule BC-PAYMENT-GET).

For every situation of the catalog, each step's answer is compared with a GET made right after it, field by
field (and createdAt never changes, updatedAt never goes back); token payments too.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import bettercharge
from harness.suite.bettercharge.checks import expect_payment
from harness.suite.bettercharge.requests import Api
from harness.suite.bettercharge.scenarios import Scenario
from harness.suite.failure import fail, same

CATALOG = bettercharge()


def _case(name: str) -> Any:
    situation = CATALOG.situations[name]
    marks = [pytest.mark.requirement("BC-PAYMENT-GET")]
    if situation.simulator_only:
        marks.append(pytest.mark.simulator_only)
    return pytest.param(name, marks=marks, id=name)


class CheckedScenario(Scenario):
    """A scenario that reads the payment back after every step that answered with it."""

    def _record(self, response: Any, payment: dict[str, Any]) -> None:
        super()._record(response, payment)
        if response is None:
            return  # a step without an answer (clock, forced state) reads the payment itself
        read = self.api.get(payment["bcId"])
        same(read, payment, f"GET after {response.request.method} {response.request.url.path}")
        first = self.history[0][1]
        same(read["createdAt"], first["createdAt"], "createdAt")
        if read["updatedAt"] < first["updatedAt"]:
            fail(f"updatedAt went back: {first['updatedAt']} -> {read['updatedAt']}")


@pytest.mark.parametrize("situation", [_case(name) for name in CATALOG.situations])
def test_get_matches_every_answer(api: Api, request: pytest.FixtureRequest, situation: str) -> None:
    control = request.getfixturevalue("simulator_control") if CATALOG.situations[situation].simulator_only else None
    scenario = CheckedScenario(api, control)
    scenario.reach(situation)


@pytest.mark.requirement("BC-PAYMENT-GET", CATALOG.tokens[0].id)
def test_get_matches_a_token_payment(api: Api) -> None:
    created = expect_payment(api.client.authorize(api.body(token=CATALOG.tokens[0].token)), "authorize")
    same(api.get(created["bcId"]), created, "GET of the token payment")
