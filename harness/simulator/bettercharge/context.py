"""Everything the BetterCharge simulator holds besides the shared core: built once per app.

Data (merchants, payments) lives in the store; conditions set through the control interface (toggles,
faults, PSP latency), rate-limit windows and payment locks live in memory and go back to their defaults on
reset (and on a restart).
"""

from __future__ import annotations

from harness.catalog import bettercharge
from harness.simulator import boundaries
from harness.simulator.bettercharge import defects
from harness.simulator.bettercharge.auth import Partners
from harness.simulator.bettercharge.authorization import Authorizer
from harness.simulator.bettercharge.faults import Faults
from harness.simulator.bettercharge.merchants import Merchants
from harness.simulator.bettercharge.payments import Payment, Payments, settle
from harness.simulator.bettercharge.ratelimit import RateLimiter
from harness.simulator.bettercharge.responses import ApiError, JsonResponse, check_catalog
from harness.simulator.bettercharge.transitions import StateMachine
from harness.simulator.state import SimulatorState


class Context:
    def __init__(self, state: SimulatorState) -> None:
        check_catalog()
        self.state = state
        self.catalog = bettercharge()
        self.partners = Partners(self.catalog, state)
        self.merchants = Merchants(state.store)
        self.payments = Payments(state.store)
        self.machine = StateMachine(self.catalog, state.defect)
        self.authorizer = Authorizer(self.catalog, state, self.machine, self.payments.order_taken)
        self.limiter = RateLimiter(self.catalog.rate_limit, state)
        self.faults = Faults(self.catalog)
        self.locks: set[str] = set()  # bcIds with an operation in flight
        self.psp_seconds = 0.0

    def reset(self) -> None:
        """The state.on_reset hook: the store is already empty; seed it and forget in-memory conditions."""
        self.merchants.seed(self.partners.all)
        self.authorizer.toggles = dict.fromkeys(self.authorizer.toggles, False)
        self.faults.clear()
        self.limiter.clear()
        self.locks.clear()
        self.psp_seconds = 0.0

    def now(self) -> float:
        return self.state.clock.now()

    def load(self, bc_id: str) -> Payment | None:
        """The payment as of now on the simulator clock (lazy retry completion and auto-void applied)."""
        payment = self.payments.get(bc_id)
        validity = (self.catalog.authorization_validity_seconds
                    + boundaries.shift(self.state.defect, "bettercharge", "auth_validity"))
        if payment is not None and settle(payment, self.now(), self.machine.capture_all, validity=validity):
            self.payments.save(payment)
        return payment

    def error_response(self, exc: ApiError) -> JsonResponse:
        body = exc.body(fill=not self.state.defect(defects.ERROR_TEMPLATE_UNFILLED))
        return JsonResponse(body, exc.status, effect=exc.effect)
