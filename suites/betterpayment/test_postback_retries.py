"""Postback retries (Better Payment's postbacks documentation, catalog
`postbacks.retry`): anything but a 200 is retried every
10 minutes, 10 attempts in all.

The receiver is told to fail the first N deliveries; the simulator clock is moved by the retry spacing (just short
of it first, to prove no attempt comes early); the receiver and the simulator's delivery log must then show each
attempt, its simulator time and its answer. Needs the simulator's clock and delivery log.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.simulator_control import SimulatorControl
from harness.suite.betterpayment.checks import expect_payment
from harness.suite.betterpayment.postbacks import deliveries_log, wait_log, wait_postbacks
from harness.suite.betterpayment.requests import Urls, mpi_body

CAT = betterpayment()

pytestmark = [pytest.mark.simulator_only, pytest.mark.usefixtures("clock_lock")]

RETRY = CAT.postbacks.retry
EARLY = min(5.0, RETRY.interval_seconds / 10)  # how far short of the spacing the clock is moved first
TOLERANCE = 30.0  # real seconds that may pass between steps on a loaded machine
SUCCESS = CAT.outcomes.success_status["payment"]


@pytest.fixture
def failing_receiver(bp_keys: tuple[str, str]) -> Iterator[PostbackReceiver]:
    """A receiver of this test's own, so no other test's late delivery can use up its failures."""
    with PostbackReceiver(incoming_key=bp_keys[0], webhook_key=bp_keys[1]) as rx:
        yield rx


def _pay(client: BetterPaymentClient, urls: Urls, rx: PostbackReceiver) -> str:
    sent = mpi_body(urls, postback_url=rx.url)
    return str(expect_payment(client.payment(sent), "payment", sent, status_code=SUCCESS)["transaction_id"])


def _next_attempt(control: Any, rx: PostbackReceiver, tid: str, number: int) -> None:
    """Move the clock to just before the next attempt (none may come), then to it (it must come)."""
    control.advance(RETRY.interval_seconds - EARLY)  # answers once what the move made due was attempted
    early = len(rx.for_transaction(tid))
    assert early == number - 1, f"attempt {number} came less than {RETRY.interval_seconds:g} s after the last"
    control.advance(EARLY)
    wait_postbacks(rx, tid, number, timeout=5)


def _spacing_ok(log: list[dict[str, Any]]) -> None:
    times = [float(d["at"]) for d in log]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for number, gap in enumerate(gaps, start=2):
        assert RETRY.interval_seconds <= gap < RETRY.interval_seconds + TOLERANCE, (
            f"attempt {number} came {gap:.1f} s after attempt {number - 1}; expected {RETRY.interval_seconds:g} s")


CASES = [
    pytest.param(1, 500, id="one-500"),
    pytest.param(1, 404, id="one-404"),
    pytest.param(1, 202, id="one-202-is-not-200"),
    pytest.param(RETRY.max_attempts - 1, 500, id=f"{RETRY.max_attempts - 1}-failures-last-attempt-succeeds"),
]


@pytest.mark.requirement("BP-PB-RETRY-UNTIL-200", "BP-PB-RETRY-SPACING", "BP-PB-RETRY-POLICY")
@pytest.mark.parametrize(("failures", "status"), CASES)
def test_retried_until_a_200(client: BetterPaymentClient, urls: Urls, simulator_control: SimulatorControl,
                             failing_receiver: PostbackReceiver,
                             failures: int, status: int) -> None:
    rx = failing_receiver
    rx.fail_next(failures, status)
    tid = _pay(client, urls, rx)
    wait_postbacks(rx, tid, 1, timeout=5)
    for number in range(2, failures + 2):
        _next_attempt(simulator_control, rx, tid, number)
    seen = rx.for_transaction(tid)
    assert [d.answered for d in seen] == [status] * failures + [RETRY.success_status]
    assert len({d.raw_body for d in seen}) == 1, "a retry must resend the same signed body"
    assert all(d.verified for d in seen)
    log = wait_log(simulator_control, tid, failures + 1)
    assert [d["attempt"] for d in log] == list(range(1, failures + 2))
    assert [d["status"] for d in log] == [status] * failures + [RETRY.success_status]
    _spacing_ok(log)
    # Delivered: no further attempt, however long we wait.
    simulator_control.advance(RETRY.interval_seconds * 2)
    assert len(rx.for_transaction(tid)) == failures + 1
    assert len(deliveries_log(simulator_control, tid)) == failures + 1


@pytest.mark.requirement("BP-PB-RETRY-MAX", "BP-PB-RETRY-SPACING", "BP-PB-RETRY-POLICY")
def test_gives_up_after_the_last_attempt(client: BetterPaymentClient, urls: Urls, simulator_control: SimulatorControl,
                                         failing_receiver: PostbackReceiver) -> None:
    rx = failing_receiver
    rx.fail_next(RETRY.max_attempts + 5, 500)
    tid = _pay(client, urls, rx)
    wait_postbacks(rx, tid, 1, timeout=5)
    for number in range(2, RETRY.max_attempts + 1):
        _next_attempt(simulator_control, rx, tid, number)
    for _ in range(3):
        simulator_control.advance(RETRY.interval_seconds)
    assert len(rx.for_transaction(tid)) == RETRY.max_attempts, "attempted again after the last attempt"
    log = wait_log(simulator_control, tid, RETRY.max_attempts)
    assert [d["attempt"] for d in log] == list(range(1, RETRY.max_attempts + 1))
    assert all(d["status"] == 500 for d in log)
    _spacing_ok(log)
