"""harness/simulator_control.py against a real simulator: every call reaches its route, every refusal is a
ControlError naming the path and status (never a bare httpx exception or RuntimeError)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.catalog import bettercharge, betterpayment
from harness.clients.betterpayment import BetterPaymentClient
from harness.errors import ControlError, PaycertError
from harness.simulator.server import RunningSimulator
from harness.simulator_control import SimulatorControl

BP = betterpayment()


@pytest.fixture
def control(sim: RunningSimulator) -> Iterator[SimulatorControl]:
    with SimulatorControl(sim.url) as c:
        c.reset()
        yield c


def test_the_clock_moves_forward_only_when_asked(control: SimulatorControl) -> None:
    before = control.now()
    control.advance(3600)
    assert control.now() - before >= 3600
    with pytest.raises(ControlError, match=r"POST /_simulator/clock answered 400"):
        control.advance(-1)


def test_bettercharge_controls_reach_their_routes(control: SimulatorControl) -> None:
    control.bc_fault("500_generic", count=2)
    control.bc_clear_faults()
    control.bc_toggles(**{next(iter(_toggles(control))): False})
    control.bc_latency(0)
    with pytest.raises(ControlError, match=r"bettercharge/faults answered 400"):
        control.bc_fault("no-such-kind")
    with pytest.raises(ControlError, match=r"/_simulator/bettercharge/payments/missing/state answered 404"):
        control.bc_force_state("missing", bettercharge().states[0].name)


def _toggles(control: SimulatorControl) -> dict[str, bool]:
    return dict(control._call("GET", "/bettercharge/toggles"))


def test_better_payment_view_forced_status_and_postback_log(sim: RunningSimulator, control: SimulatorControl) -> None:
    with BetterPaymentClient(sim.url, BP.simulator.api_key, BP.simulator.api_password) as client:
        tid = client.payment(dict(BP.seed_examples.payment_request)).json()["transaction_id"]
    view = control.bp_transaction(tid)
    assert view["transaction_id"] == tid and BP.seed_card_pan not in str(view)
    chargeback = BP.status_named("chargeback").code
    assert control.bp_force_status(tid, chargeback)["status_code"] == chargeback
    assert control.bp_transaction(tid)["status_code"] == chargeback
    assert any(d["transaction_id"] == tid for d in control.bp_postbacks())
    with pytest.raises(ControlError, match=r"GET /_simulator/betterpayment/transactions/nope answered 404"):
        control.bp_transaction("nope")


def test_an_unreachable_simulator_is_a_control_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with SimulatorControl(f"http://127.0.0.1:{port}", timeout=2) as control, \
                pytest.raises(ControlError, match=r"POST /_simulator/reset: ConnectError") as exc:
            control.reset()
    assert isinstance(exc.value, PaycertError) and isinstance(exc.value, RuntimeError)


def _queued(control: SimulatorControl) -> list[object]:
    return list(control._call("GET", "/bettercharge/faults")["queued"])


def test_armed_faults_are_cleared_after_their_block_even_when_it_fails(control: SimulatorControl) -> None:
    with control.bc_faults("500_generic", 2):
        assert _queued(control), "the fault is armed inside the block"
    assert not _queued(control)
    with pytest.raises(LookupError), control.bc_faults("500_generic", 2):
        raise LookupError("the test failed inside the block")
    assert not _queued(control), "a failing block must not leave its fault armed for the next test"


def test_settings_and_readiness(sim: RunningSimulator, control: SimulatorControl) -> None:
    assert control.bp_settings()["error_transport"] in BP.error_transport.modes
    assert control.ready()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        with SimulatorControl(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=2) as down:
            assert not down.ready()
