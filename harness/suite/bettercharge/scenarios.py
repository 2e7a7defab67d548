"""Scenarios of the BetterCharge suites: reaching a situation of the catalog by its steps, checking each step's
answer and the amounts moved (`Scenario` with its `Ledger`), and two requests at once (`race`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Transition
from harness.clients import BetterChargeClient
from harness.simulator_control import SimulatorControl
from harness.suite.failure import fail, same

from .checks import expect_payment
from .requests import Api
from .views import declining_email, retry_email


@dataclass
class Ledger:
    """The amounts a scenario has moved so far (minor units), to check the payment's counters against."""

    authorized: int = 0
    captured: int = 0
    refunded: int = 0

    @property
    def capturable(self) -> int:
        return self.authorized if self.captured == 0 else 0  # one capture; the rest is released

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded


class Scenario:
    """Reaches a situation of the catalog by its steps, checking each step's answer and the amounts."""

    def __init__(self, api: Api, control: SimulatorControl | None = None) -> None:
        self.api = api
        self.control = control
        self._catalog = bettercharge()
        self.ledger = Ledger()
        self.payment: dict[str, Any] = {}
        self.history: list[tuple[httpx.Response | None, dict[str, Any]]] = []  # (answer, payment) per step
        self._situation = ""

    @property
    def bc_id(self) -> str:
        return str(self.payment["bcId"])

    @property
    def client(self) -> BetterChargeClient:
        return self.api.client

    def reach(self, situation: str) -> dict[str, Any]:
        spec = self._catalog.situations[situation]
        self._situation = situation
        for step in spec.steps:
            action = getattr(self, f"_step_{step}", None)
            if action is None:
                fail(f"situation {situation}: no implementation of step {step!r}")
            action()
        self.payment = self.api.get(self.bc_id, state=spec.state)
        self.check_ledger(self.payment, f"after reaching {situation}")
        return self.payment

    def check_ledger(self, payment: Mapping[str, Any], when: str) -> None:
        same(payment.get("capturedAmount"), self.ledger.captured, f"capturedAmount {when}")
        same(payment.get("refundedAmount"), self.ledger.refunded, f"refundedAmount {when}")

    def _record(self, response: httpx.Response | None, payment: dict[str, Any]) -> None:
        self.payment = payment
        self.history.append((response, payment))

    def _authorize(self, state: str, **kwargs: Any) -> None:
        response = self.client.authorize(self.api.body(**kwargs))
        payment = expect_payment(response, "authorize", state=state)
        self.ledger.authorized = payment["amount"] if state == self._catalog.approving_card.state else 0
        same(payment.get("authorizedAmount"), self.ledger.authorized, "authorizedAmount after authorize", response)
        self._record(response, payment)

    def _operate(self, op: str, amount: int | None, state: str) -> None:
        method = getattr(self.client, op)
        response = method(self.bc_id, amount) if op in ("capture", "refund") else method(self.bc_id)
        self._record(response, expect_payment(response, op, state=state))

    def _step_authorize(self) -> None:
        self._authorize(self._catalog.approving_card.state)

    def _step_authorize_declined_email(self) -> None:
        email = declining_email()
        self._authorize(email.state, email=email.email)

    def _step_authorize_declined_card(self) -> None:
        self._authorize(self._catalog.declining_card.state, card=self._catalog.declining_card)

    def _step_authorize_retry_email(self) -> None:
        self._authorize(self._catalog.situations["PROCESSING"].state, email=retry_email().email)

    def _step_capture_full(self) -> None:
        amount = self.ledger.capturable
        self._operate("capture", amount, self._catalog.situations["CAPTURED"].state)
        self.ledger.captured = amount

    def _step_capture_partial(self) -> None:
        amount = self._catalog.amounts.partial_capture
        self._operate("capture", amount, self._catalog.situations["PARTIALLY_CAPTURED"].state)
        self.ledger.captured = amount

    def _step_refund_partial(self) -> None:
        amount = self._catalog.amounts.partial_refund
        self._operate("refund", amount, self._catalog.situations["PARTIALLY_REFUNDED"].state)
        self.ledger.refunded += amount

    def _step_refund_full(self) -> None:
        amount = self.ledger.refundable
        self._operate("refund", amount, self._catalog.situations["REFUNDED"].state)
        self.ledger.refunded += amount

    def _step_void(self) -> None:
        self._operate("void", None, self._catalog.situations["VOIDED"].state)

    def _step_stop(self) -> None:
        self._operate("stop", None, self._catalog.situations["STOPPED"].state)

    def _need_control(self) -> SimulatorControl:
        if self.control is None:
            fail(f"situation {self._situation} needs the simulator's control interface")
        return self.control

    def _step_expire_authorization(self) -> None:
        self._need_control().advance(self._catalog.authorization_validity_seconds)
        payment = self.api.get(self.bc_id, state=self._catalog.situations["AUTO_VOIDED"].state)
        same(payment.get("autoVoided"), True, "autoVoided after the authorization validity")
        self._record(None, payment)

    def _step_force_state(self) -> None:
        state = self._catalog.situations[self._situation].state
        self._need_control().bc_force_state(self.bc_id, state)
        self._record(None, self.api.get(self.bc_id, state=state))

    # the operation of a transition cell

    def amount_for(self, t: Transition) -> int | None:
        """The amount rule of the cell: full = what remains, partial, over = remains + 1, none = no amount."""
        if t.amount == "none":
            return None
        if t.operation == "capture":
            remaining, partial = self.ledger.capturable, self._catalog.amounts.partial_capture
        else:
            remaining, partial = self.ledger.refundable, self._catalog.amounts.partial_refund
        if remaining < 1:  # nothing left: any valid amount, the state decides the answer
            remaining = self._catalog.amounts.authorized
        return {"full": remaining, "partial": partial, "over": remaining + 1}[t.amount]

    def apply(self, t: Transition) -> tuple[httpx.Response, int | None]:
        amount = self.amount_for(t)
        method = getattr(self.client, t.operation)
        if t.operation in ("capture", "refund"):
            return method(self.bc_id, amount), amount
        return method(self.bc_id), amount


def race(control: SimulatorControl, clients: tuple[BetterChargeClient, BetterChargeClient],
         first: Callable[[BetterChargeClient], httpx.Response], second: Callable[[BetterChargeClient], httpx.Response],
         psp_seconds: float = 1.0) -> list[httpx.Response]:
    """Two requests at once (one client each): the simulated PSP is slowed so the second arrives while the
    first is being processed. Returns the two answers in the order the requests were started."""
    control.bc_latency(psp_seconds)
    results: list[httpx.Response | None] = [None, None]

    def run(i: int, op: Callable[[BetterChargeClient], httpx.Response]) -> None:
        results[i] = op(clients[i])

    threads = [threading.Thread(target=run, args=(0, first)), threading.Thread(target=run, args=(1, second))]
    try:
        threads[0].start()
        time.sleep(psp_seconds / 4)
        threads[1].start()
        for thread in threads:
            thread.join(60)
    finally:
        control.bc_latency(0)
    done = [r for r in results if r is not None]
    if len(done) != len(results):
        fail("a concurrent request did not complete")
    return done
