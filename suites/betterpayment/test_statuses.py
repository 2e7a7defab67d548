"""Every status of the catalog's status table, reached and read back (catalog `statuses`; Better Payment's public
transaction status page, docs.betterpayment.de resources/transaction-status).

For each status the test drives a transaction there by the API's own means (a payment, a customer step, a
capture, a reversal, a refund), or, for statuses only the acquirer sets (debt collection, chargeback), through the
simulator's control; then GET /rest/transactions/{id} must report exactly the catalog's code and name. A status
without a recipe fails, so a status added to the catalog cannot go untested.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.simulator_control import SimulatorControl
from harness.suite.betterpayment.checks import expect_operation, expect_payment, get_transaction
from harness.suite.betterpayment.requests import Urls, body_for, mpi_body
from harness.suite.betterpayment.scenarios import authorized, completed, pending, reversed_authorization
from harness.suite.betterpayment.views import code_of, payment_types
from harness.threeds import complete_customer_step

CAT = betterpayment()


class Env:
    """What a recipe may use."""

    def __init__(self, client: BetterPaymentClient, urls: Urls, browser: httpx.Client,
                 request: pytest.FixtureRequest) -> None:
        self.client, self.urls, self.browser, self._request = client, urls, browser, request

    def control(self) -> SimulatorControl:
        """The simulator's control interface, asked for only by the recipes that need it (simulator-only)."""
        control: SimulatorControl = self._request.getfixturevalue("simulator_control")
        return control


def _started(env: Env) -> str:
    pt = payment_types(flow="redirect")[0]
    sent = body_for(pt.name, env.urls)
    body = expect_payment(env.client.payment(sent), "payment", sent, status_code=CAT.outcomes.step_status["redirect"],
                          client_action="redirect")
    return str(body["transaction_id"])


def _holder(status: str) -> Callable[[Env], str]:
    def make(env: Env) -> str:
        outcome = next(o for o in CAT.outcomes.card_holders if o.status_code == code_of(status))
        sent = mpi_body(env.urls, card_holder=outcome.card_holder)
        return str(expect_payment(env.client.payment(sent), "payment", sent, status_code=outcome.status_code)[
            "transaction_id"])
    return make


def _bank(status: str) -> Callable[[Env], str]:
    def make(env: Env) -> str:
        choice = next(c for c in CAT.outcomes.pages["bank"].choices if c.status_code == code_of(status))
        pt = payment_types(flow="redirect")[0]
        sent = body_for(pt.name, env.urls)
        body = expect_payment(env.client.payment(sent), "payment", sent,
                              status_code=CAT.outcomes.step_status["redirect"], client_action="redirect")
        complete_customer_step(env.browser, body, choice=choice.value, success_url=sent["success_url"],
                               error_url=sent["error_url"])
        return str(body["transaction_id"])
    return make


def _refunded(env: Env) -> str:
    tid = completed(env.client, env.urls)[1]
    expect_operation(env.client.refund(tid), "refund")
    return tid


def _reversed(env: Env) -> str:
    return reversed_authorization(env.client, env.urls)[1]


def _registered(env: Env) -> str:
    sent = mpi_body(env.urls)
    return str(expect_payment(env.client.register(sent), "register", sent,
                              status_code=CAT.outcomes.success_status["register"])["transaction_id"])


def _forced(code: int) -> Callable[[Env], str]:
    def make(env: Env) -> str:
        tid = completed(env.client, env.urls)[1]
        env.control().bp_force_status(tid, code)
        return tid
    return make


# status name -> (recipe, needs the simulator)
RECIPES: dict[str, tuple[Callable[[Env], str], bool]] = {
    "started": (_started, False),
    "pending": (lambda env: pending(env.client, env.urls)[1], False),
    "completed": (lambda env: completed(env.client, env.urls)[1], False),
    "error": (_holder("error"), True),
    "canceled": (_bank("canceled"), True),
    "declined": (_holder("declined"), True),
    "refunded": (_refunded, False),
    "authorized": (lambda env: authorized(env.client, env.urls)[1], False),
    "registered": (_registered, False),
    "reversed": (_reversed, False),
}


def _cases() -> list[Any]:
    cases = []
    for status in CAT.statuses:
        recipe = RECIPES.get(status.name)
        needs_sim = status.simulator_only or recipe is None or recipe[1]
        marks = [pytest.mark.requirement(status.id)] + ([pytest.mark.simulator_only] if needs_sim else [])
        cases.append(pytest.param(status, id=f"{status.code}-{status.name}", marks=marks))
    return cases


@pytest.mark.parametrize("status", _cases())
def test_status_is_reached_and_read_back(client: BetterPaymentClient, urls: Urls, browser: httpx.Client,
                                         request: pytest.FixtureRequest, status: Any) -> None:
    env = Env(client, urls, browser, request)
    if status.name in RECIPES:
        make = RECIPES[status.name][0]
    else:
        assert status.simulator_only, f"no recipe reaches status {status.code} {status.name}"
        make = _forced(status.code)
    tid = make(env)
    stored = get_transaction(client, tid)
    assert (stored["status_code"], stored["status"]) == (status.code, status.name)

