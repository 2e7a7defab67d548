"""Builds the one ASGI app that serves both APIs, the 3DS/bank pages and the control interface."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from harness.simulator import bettercharge, betterpayment, control
from harness.simulator.edge import EdgeMiddleware
from harness.simulator.state import SimulatorConfig, SimulatorState


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    config = config or SimulatorConfig()
    state = SimulatorState(config)
    routes = [*control.routes(state), *bettercharge.routes(state), *betterpayment.routes(state)]
    # The edge (token, bodies, last resort) wraps everything; see edge.py for why it replaces Starlette's
    # error handler.
    app = Starlette(routes=routes, middleware=[
        Middleware(EdgeMiddleware, control_token=config.control_token, body_timeout=config.body_timeout)])
    app.state.simulator = state
    state.start()
    return app
