"""The Better Payment simulator: /rest API, the ACS and bank pages, postbacks, and its control routes.

Modules, one concept each: context (shared state and credentials), defects (deliberate defect switches),
errors (catalog error bodies), validation (catalog field blocks), money and cards (amount and card helpers),
transactions (storage), operations (what each call does), postbacks (signing and delivery with retries),
api (/rest), acs (customer pages), control (/_simulator/betterpayment).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from harness.simulator.betterpayment import control
from harness.simulator.betterpayment.acs import Pages
from harness.simulator.betterpayment.api import Api
from harness.simulator.betterpayment.context import Context
from harness.simulator.betterpayment.operations import Operations
from harness.simulator.betterpayment.postbacks import Dispatcher
from harness.simulator.state import SimulatorState

__all__ = ["routes"]


def routes(state: SimulatorState) -> list[BaseRoute]:
    ctx = Context.build(state)
    dispatcher = Dispatcher(ctx)
    state.on_clock_moved(dispatcher.settle)
    ops = Operations(ctx, dispatcher)
    return [
        *control.routes(ctx, ops, dispatcher),
        *Api(ctx, ops, dispatcher).routes(),
        *Pages(ctx, ops).routes(),
    ]
