"""Two operations at once on one payment: one proceeds, the other gets 423 PAYMENT_LOCKED (exact body).

The simulator's PSP is slowed (control interface) so that the second request arrives while the first holds the
payment; each legal cell of the catalog's state machine from a situation reachable without the control
interface is raced against itself. Proves the winner's transition, the loser's exact 423 body naming the
payment, and that the payment ends as one operation left it.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Transition
from harness.simulator_control import SimulatorControl
from harness.suite.bettercharge.checks import expect_error, expect_payment
from harness.suite.bettercharge.requests import Api, ClientFactory
from harness.suite.bettercharge.scenarios import Scenario, race
from harness.suite.bettercharge.views import transition_label
from harness.suite.failure import fail, same

CATALOG = bettercharge()

_LOCKED = CATALOG.error("BC-ERR-423-LOCKED")

CASES = [
    pytest.param(t, marks=pytest.mark.requirement("BC-LOCK-CONCURRENT", _LOCKED.id, t.id), id=transition_label(t))
    for t in CATALOG.transitions
    if t.legal and not CATALOG.situations[t.from_].simulator_only and t.from_ in ("AUTHORIZED", "CAPTURED")
]


@pytest.mark.simulator_only
@pytest.mark.parametrize("cell", CASES)
def test_concurrent_operations_one_is_locked(api: Api, make_client: ClientFactory, simulator_control: SimulatorControl,
                                             cell: Transition) -> None:
    scenario = Scenario(api)
    scenario.reach(cell.from_)
    amount = scenario.amount_for(cell)

    def operate(client: Any) -> Any:
        method = getattr(client, cell.operation)
        return method(scenario.bc_id, amount) if cell.operation in ("capture", "refund") else method(scenario.bc_id)

    first, second = race(simulator_control, (make_client(), make_client()), operate, operate)
    success = CATALOG.operation(cell.operation).success
    statuses = sorted([first.status_code, second.status_code])
    if statuses != sorted([success, _LOCKED.status]):
        fail(f"{cell.operation} twice at once: expected one {success} and one {_LOCKED.status}, got {statuses}")
    winner, loser = (first, second) if first.status_code == success else (second, first)
    payment = expect_payment(winner, cell.operation, state=cell.expect.state)
    expect_error(loser, _LOCKED.id, identifier=scenario.bc_id)
    same(api.get(scenario.bc_id, state=cell.expect.state), payment, "the payment after the race")
