"""The simulator's own control interface under /_simulator (never part of either API).

Only what both APIs share lives here: reset, the clock and the defect switches. Each API module adds its
own control routes (faults, toggles, merchant settings, postback log) under /_simulator/<api>/.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from harness.simulator.state import DEFECTS_ENV, SimulatorState


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return problem(400, "body is not valid JSON")
    if not isinstance(body, dict):
        return problem(400, "body must be a JSON object")
    return body


def routes(state: SimulatorState) -> list[BaseRoute]:
    from harness.simulator import defects as defect_registry

    async def reset(_: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True, "now": state.clock.now_iso()})

    async def clock(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse({"now": state.clock.now(), "offset": state.clock.offset})
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        seconds = body.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0 or seconds > 10**9:
            return problem(400, "advance_seconds must be a non-negative number of seconds")
        state.clock.advance(float(seconds))
        return JSONResponse({"now": state.clock.now(), "offset": state.clock.offset})

    async def defects(request: Request) -> JSONResponse:
        if not state.config.defects_allowed:
            return problem(404, f"defects are only available when the simulator runs with {DEFECTS_ENV}=1")
        if request.method == "GET":
            return JSONResponse({"enabled": sorted(state.defects), "known": defect_registry.names()})
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        wanted = body.get("enable", [])
        if not isinstance(wanted, list) or not all(isinstance(n, str) for n in wanted):
            return problem(400, "enable must be a list of defect names")
        unknown = sorted(set(wanted) - set(defect_registry.names()))
        if unknown:
            return problem(400, f"unknown defects: {', '.join(unknown)}")
        state.defects.clear()
        state.defects.update(wanted)
        return JSONResponse({"enabled": sorted(state.defects)})

    return [
        Route("/_simulator/reset", reset, methods=["POST"]),
        Route("/_simulator/clock", clock, methods=["GET", "POST"]),
        Route("/_simulator/defects", defects, methods=["GET", "POST"]),
    ]
