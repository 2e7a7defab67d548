"""Builds the one ASGI app that serves both APIs, the 3DS/bank pages and the control interface."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from harness.simulator import bettercharge, betterpayment, control
from harness.simulator.state import SimulatorConfig, SimulatorState


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # A simulator bug must still answer in JSON; the traceback goes to the server log, not the client.
    return JSONResponse({"error": "simulator internal error", "detail": type(exc).__name__}, status_code=500)


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    state = SimulatorState(config or SimulatorConfig())
    routes = [*control.routes(state), *bettercharge.routes(state), *betterpayment.routes(state)]
    app = Starlette(routes=routes, exception_handlers={Exception: _unhandled})
    app.state.simulator = state
    state.start()
    return app
