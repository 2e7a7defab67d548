"""Provider faults injected through the simulator, and how the client lives through them.

Proves for each 500 and 502 row (catalog triggers fault_<kind>): the exact body on a payment operation, that the
refused operation changed nothing, and that a persistent fault ends in the client's InfrastructureError after
its attempts with that body as the last answer. For a delayed answer and a dropped connection: the client
without retries raises InfrastructureError (no verdict, no contract failure), and repeating the call with the
same Idempotency-Key, or letting the client retry, yields exactly one payment.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import ErrorRow
from harness.clients import InfrastructureError, RetryPolicy
from harness.simulator_control import SimulatorControl
from harness.suite.bettercharge.checks import expect_error, expect_payment
from harness.suite.bettercharge.requests import Api, ClientFactory
from harness.suite.bettercharge.scenarios import Scenario
from harness.suite.bettercharge.views import fault_for, fault_rows
from harness.suite.failure import fail, same

CATALOG = bettercharge()

_AUTHORIZED = CATALOG.situations["AUTHORIZED"].state
_ALREADY_APPROVED = "BC-ERR-422-ALREADY-APPROVED"
#: Seconds the simulator holds a delayed answer, and the client's read timeout that gives up before it.
DELAY_SECONDS, CLIENT_TIMEOUT = 1.5, 1.0


def _no_wait(_: float) -> None:
    """Retries without sleeping: the suite judges the outcome, not the backoff."""


RETRYING = RetryPolicy(max_attempts=3, sleep=_no_wait)


FAULT_ROWS = [pytest.param(row, marks=pytest.mark.requirement(row.id), id=row.id) for row in fault_rows()]


@pytest.mark.simulator_only
@pytest.mark.parametrize("row", FAULT_ROWS)
def test_fault_on_capture_changes_nothing(api: Api, simulator_control: SimulatorControl, row: ErrorRow) -> None:
    scenario = Scenario(api, simulator_control)
    before = scenario.reach("AUTHORIZED")
    kind, values = fault_for(row)
    with simulator_control.bc_faults(kind, 1, **values):
        response = api.client.without_retries().capture(scenario.bc_id)
    expect_error(response, row.id, **values)
    same(api.get(scenario.bc_id), before, "the payment after a capture answered with a fault")


@pytest.mark.simulator_only
@pytest.mark.parametrize("row", FAULT_ROWS)
def test_persistent_fault_ends_in_infrastructure_error(api: Api, make_client: ClientFactory,
                                                       simulator_control: SimulatorControl, row: ErrorRow) -> None:
    client = make_client(retry=RETRYING)
    kind, values = fault_for(row)
    with simulator_control.bc_faults(kind, RETRYING.max_attempts, **values):
        try:
            client.authorize(api.body())
        except InfrastructureError as exc:
            gave_up = exc
        else:
            fail(f"{row.id}: a fault on every attempt did not end in InfrastructureError")
    same(gave_up.attempts, RETRYING.max_attempts, "attempts before giving up")
    if gave_up.response is None:
        fail(f"{row.id}: the client gave up without an answer")
    expect_error(gave_up.response, row.id, **values)


def _only_one_payment(api: Api, body: dict[str, Any], bc_id: str) -> None:
    """The order has exactly the payment `bc_id`: it exists, and a new attempt is a duplicate order."""
    same(api.get(bc_id)["orderReference"], body["orderReference"], "orderReference of the payment")
    expect_error(api.client.authorize(body), _ALREADY_APPROVED)


@pytest.mark.simulator_only
@pytest.mark.requirement("BC-IDEM-REPLAY", "BC-IDEM-CONCURRENT")
def test_delayed_answer(api: Api, make_client: ClientFactory, simulator_control: SimulatorControl) -> None:
    body, key = api.body(), str(uuid.uuid4())
    impatient = make_client(timeout=CLIENT_TIMEOUT).without_retries()
    with simulator_control.bc_faults("delay", 1, seconds=DELAY_SECONDS), pytest.raises(InfrastructureError) as caught:
        impatient.authorize(body, idempotency_key=key)
    same(caught.value.response, None, "answer seen by the client that timed out")
    # the caller repeats the call with the same key: it waits for the first and gets its payment
    payment = expect_payment(api.client.authorize(body, idempotency_key=key), "authorize", state=_AUTHORIZED)
    _only_one_payment(api, body, payment["bcId"])


@pytest.mark.simulator_only
@pytest.mark.requirement("BC-IDEM-REPLAY", "BC-IDEM-CONCURRENT")
def test_delayed_answer_retried_by_the_client(api: Api, make_client: ClientFactory,
                                              simulator_control: SimulatorControl) -> None:
    body = api.body()
    client = make_client(timeout=CLIENT_TIMEOUT, retry=RETRYING)
    with simulator_control.bc_faults("delay", 1, seconds=DELAY_SECONDS):
        payment = expect_payment(client.authorize(body), "authorize", state=_AUTHORIZED)
    _only_one_payment(api, body, payment["bcId"])


@pytest.mark.simulator_only
@pytest.mark.parametrize("processed", [pytest.param(p, marks=pytest.mark.requirement("BC-IDEM-REPLAY"),
                                                    id="after-processing" if p else "before-processing")
                                       for p in (True, False)])
def test_dropped_connection(api: Api, make_client: ClientFactory, simulator_control: SimulatorControl,
                            processed: bool) -> None:
    body, key = api.body(), str(uuid.uuid4())
    with simulator_control.bc_faults("drop", 1, process=processed), pytest.raises(InfrastructureError) as caught:
        api.client.without_retries().authorize(body, idempotency_key=key)
    same((caught.value.response, caught.value.exception is not None), (None, True), "what the client saw")
    payment = expect_payment(api.client.authorize(body, idempotency_key=key), "authorize", state=_AUTHORIZED)
    _only_one_payment(api, body, payment["bcId"])


@pytest.mark.simulator_only
@pytest.mark.requirement("BC-IDEM-REPLAY")
def test_dropped_connection_retried_by_the_client(api: Api, make_client: ClientFactory,
                                                  simulator_control: SimulatorControl) -> None:
    body = api.body()
    client = make_client(retry=RETRYING)
    with simulator_control.bc_faults("drop", 1, process=True):
        payment = expect_payment(client.authorize(body), "authorize", state=_AUTHORIZED)
    _only_one_payment(api, body, payment["bcId"])
