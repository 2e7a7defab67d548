"""The six sandbox test emails with an approving card: the documented decision object, exactly, and its outcome.

Proves per email: the decision object (decision, confidence, reason) as documented, the resulting state
(AUTHORIZED or DECLINED, no authorization attempted on DECLINE), liabilityShift, and for the retry email the
PROCESSING state observed before AUTHORIZED once the simulator clock passes Better's retry. Also the plain
decision given to an email outside the test list.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Email
from harness.simulator_control import SimulatorControl
from harness.suite.bettercharge.checks import expect_payment
from harness.suite.bettercharge.requests import Api
from harness.suite.bettercharge.views import state_id, unique
from harness.suite.failure import same

CATALOG = bettercharge()

_APPROVED = CATALOG.approving_card.state
_PROCESSING = CATALOG.situations["PROCESSING"].state


def _marks(email: Email) -> list[pytest.MarkDecorator]:
    ids = [email.id, state_id(email.state)]
    if email.passes_processing:
        return [pytest.mark.requirement(*ids, "BC-RETRY-PROCESSING", state_id(_PROCESSING)),
                pytest.mark.simulator_only]
    return [pytest.mark.requirement(*ids)]


CASES = [pytest.param(e, marks=_marks(e), id=e.email) for e in CATALOG.emails]


def _check_outcome(payment: dict[str, Any], email: Email, state: str, body: dict[str, Any]) -> None:
    same(payment["decision"], email.decision, "decision object")
    same(payment["liabilityShift"], email.liability_shift, "liabilityShift")
    same(payment["declineReason"], None, "declineReason (a decision decline is not a system decline)")
    same(payment["failureReason"], None, "failureReason")
    same(payment["authorizedAmount"], body["amount"] if state == _APPROVED else 0, f"authorizedAmount in {state}")
    same(payment["capturedAmount"], 0, "capturedAmount")


@pytest.mark.parametrize("email", CASES)
def test_email_decision(api: Api, request: pytest.FixtureRequest, email: Email) -> None:
    body = api.body(email=email.email)
    response = api.client.authorize(body)
    if not email.passes_processing:
        payment = expect_payment(response, "authorize", state=email.state)
        _check_outcome(payment, email, email.state, body)
        return
    # Better's retry: PROCESSING now (answer and GET), AUTHORIZED once the simulator clock passes the retry.
    control: SimulatorControl = request.getfixturevalue("simulator_control")
    payment = expect_payment(response, "authorize", state=_PROCESSING)
    _check_outcome(payment, email, _PROCESSING, body)
    _check_outcome(api.get(payment["bcId"], state=_PROCESSING), email, _PROCESSING, body)
    control.advance(CATALOG.simulator.retry_processing_seconds)
    _check_outcome(api.get(payment["bcId"], state=email.state), email, email.state, body)


@pytest.mark.requirement("BC-PAYMENT-DEFAULT-DECISION", state_id(_APPROVED))
def test_email_outside_the_list_gets_the_plain_decision(api: Api) -> None:
    email = f"{unique('customer')}@example.com"
    response = api.client.authorize(api.body(email=email))
    payment = expect_payment(response, "authorize", state=_APPROVED)
    same(payment["decision"], CATALOG.default_decision, "decision object", response)
    same(payment["liabilityShift"], False, "liabilityShift", response)
