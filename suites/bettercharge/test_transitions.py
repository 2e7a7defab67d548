"""Every cell of the catalog's state machine (state x capture/void/refund/stop), legal and illegal.

Each test reaches its starting situation by the catalog's steps (checking every step's answer, the state
reached and the amounts moved), applies the operation with the cell's amount rule, and checks the status and
either the new state and amounts or the exact error body, and then that a refused operation changed nothing at all.
Reaching a situation is what proves its state requirement (BC-STATE-*).
"""

from __future__ import annotations

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Transition
from harness.suite.bettercharge.checks import error_row_of, expect_error, expect_payment
from harness.suite.bettercharge.requests import Api
from harness.suite.bettercharge.scenarios import Scenario
from harness.suite.bettercharge.views import state_id, transition_label
from harness.suite.failure import mismatch, same

CATALOG = bettercharge()


def _marks(t: Transition) -> list[pytest.MarkDecorator]:
    situation = CATALOG.situations[t.from_]
    ids = [t.id, state_id(situation.state)]
    ids.append(t.expect.error if t.expect.error else state_id(t.expect.state or ""))
    if "expire_authorization" in situation.steps:
        ids.append("BC-AUTO-VOID")
    marks = [pytest.mark.requirement(*ids)]
    if situation.simulator_only:
        marks.append(pytest.mark.simulator_only)
    return marks


CASES = [pytest.param(t, marks=_marks(t), id=transition_label(t)) for t in CATALOG.transitions]


@pytest.mark.parametrize("cell", CASES)
def test_transition(api: Api, request: pytest.FixtureRequest, cell: Transition) -> None:
    situation = CATALOG.situations[cell.from_]
    control = request.getfixturevalue("simulator_control") if situation.simulator_only else None
    scenario = Scenario(api, control)
    before = scenario.reach(cell.from_)

    response, amount = scenario.apply(cell)
    if cell.expect.error:
        row = CATALOG.error(cell.expect.error)
        same(cell.expect.status, row.status, f"catalog: status of {cell.id} against its error row {row.id}")
        other = error_row_of(response)
        if other is not None and other.id != row.id:  # another documented error than the adopted choice
            mismatch("bettercharge", cell.id, "expect", {"status": row.status, "error": row.id},
                     {"status": other.status, "error": other.id},
                     f"{cell.id}: expected {row.id} (HTTP {row.status}), got {other.id} (HTTP {other.status})")
        expect_error(response, row.id, bcId=scenario.bc_id, identifier=scenario.bc_id)
        same(api.get(scenario.bc_id, state=situation.state), before, f"the payment after the refused {cell.operation}")
        return

    payment = expect_payment(response, cell.operation, state=cell.expect.state, status=cell.expect.status,
                             entry=cell.id)
    if cell.operation == "capture":
        scenario.ledger.captured = amount if amount is not None else scenario.ledger.capturable
    elif cell.operation == "refund":
        scenario.ledger.refunded += amount if amount is not None else scenario.ledger.refundable
    scenario.check_ledger(payment, f"after {cell.operation} ({cell.amount})")
    same(api.get(scenario.bc_id, state=cell.expect.state), payment, "GET after the operation")
