"""Builds the one ASGI app that serves both APIs, the 3DS/bank pages and the control interface."""

from __future__ import annotations

from collections.abc import Callable

from starlette._utils import is_async_callable
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.simulator import bettercharge, betterpayment, control
from harness.simulator.edge import EdgeMiddleware, is_control_path
from harness.simulator.state import SimulatorConfig, SimulatorState


class SimulatorApp(Starlette):
    """A Starlette app whose only layer is the edge (edge.py), around the router.

    Starlette's own stack puts ServerErrorMiddleware outside and ExceptionMiddleware inside the user middleware
    (starlette/applications.py `build_middleware_stack`). Neither does anything here: the edge answers every
    exception itself (see edge.py for why it replaces the error middleware), and no simulator route raises
    HTTPException. What ExceptionMiddleware did answer, an unknown path (404 "Not Found") or method (405 "Method
    Not Allowed" with Allow), the router answers identically when no app is in the scope (starlette/routing.py
    `Router.not_found`, `Route.handle`). Each layer costs every request a coroutine and a send wrapper.
    """

    def __init__(self, routes: list[BaseRoute], edge: Callable[[ASGIApp], ASGIApp]) -> None:
        super().__init__(routes=routes)
        self._edge = edge
        self._stack: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._stack is None:
            self._stack = self._edge(self.router)
        await self._stack(scope, receive, send)


def _direct(endpoint: Callable[[Request], object]) -> ASGIApp:
    """A route's ASGI app without Starlette's per-request exception wrapper (starlette/routing.py
    `request_response`, starlette/_exception_handler.py), which only acts on exception handlers the scope
    names, and the simulator registers none: an endpoint's exception reaches the edge either way."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))  # type: ignore[misc]
        await response(scope, receive, send)

    return app


def create_app(config: SimulatorConfig | None = None, *,
               access_log: Callable[[Scope, int], None] | None = None) -> Starlette:
    """`access_log`: called with the scope and status of every answer (access.py; `paycert simulate`)."""
    config = config or SimulatorConfig()
    state = SimulatorState(config)
    routes = [*control.routes(state), *bettercharge.routes(state), *betterpayment.routes(state)]
    # The control routes (all under /_simulator) and the others (BetterCharge's API prefixes, /rest..., the
    # Apple Pay and customer pages) answer disjoint paths, so moving the control routes last decides no request's
    # route, only how many the router tries before an API's (Starlette tries them in order).
    routes.sort(key=lambda r: isinstance(r, Route) and is_control_path(r.path))
    for route in routes:
        if isinstance(route, Route) and is_async_callable(route.endpoint):
            route.app = _direct(route.endpoint)
    app = SimulatorApp(routes, lambda inner: EdgeMiddleware(
        inner, control_token=config.control_token, body_timeout=config.body_timeout, access_log=access_log))
    app.state.simulator = state
    state.start()
    return app
