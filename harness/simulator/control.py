"""The simulator's own control interface under /_simulator (never part of either API).

Only what both APIs share lives here: reset, the clock and the defect switches. Each API module adds its
own control routes (faults, toggles, merchant settings, postback log) under /_simulator/<api>/.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from harness.simulator import body
from harness.simulator.state import DEFECTS_ENV, SimulatorState

MAX_CONTROL_BODY_BYTES = 64 * 1024
MAX_ADVANCE_SECONDS = 10**9  # per call; the clock's own bound (clock.py) caps the sum


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The body as a strict JSON object (body.py: size, depth, finite numbers, clean strings), or a 4xx that
    says what is wrong with it."""
    try:
        return body.json_object(await body.read(request, MAX_CONTROL_BODY_BYTES), empty_ok=True)
    except body.BodyError as exc:
        if exc.kind == body.TOO_LARGE:
            return problem(413, f"body larger than {MAX_CONTROL_BODY_BYTES} bytes")
        if exc.kind == body.TIMEOUT:
            return problem(408, "body not received in time")
        if exc.kind == body.BAD_VALUE:
            return problem(400, f"{exc.path or 'a value'} holds a control character or a lone surrogate")
        return problem(400, f"body must be a JSON object (strict JSON, nesting at most {body.MAX_DEPTH} deep)")


def routes(state: SimulatorState) -> list[BaseRoute]:
    from harness.simulator import defects as defect_registry

    async def reset(_: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True, "now": state.clock.now_iso()})

    async def clock(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse({"now": state.clock.now(), "offset": state.clock.offset})
        data = await json_object(request)
        if isinstance(data, JSONResponse):
            return data
        seconds = data.get("advance_seconds")
        if (isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds)
                or not 0 <= seconds <= MAX_ADVANCE_SECONDS):
            return problem(400, f"advance_seconds must be a number of seconds from 0 to {MAX_ADVANCE_SECONDS}")
        try:
            state.clock.advance(float(seconds))
        except ValueError as exc:
            return problem(400, str(exc))
        # What the move made due has happened when the answer comes (a postback retry has been attempted), so
        # a test checks it at once instead of sleeping for a background loop's next tick.
        await state.clock_moved()
        return JSONResponse({"now": state.clock.now(), "offset": state.clock.offset})

    async def defects(request: Request) -> JSONResponse:
        if not state.config.defects_allowed:
            return problem(404, f"defects are only available when the simulator runs with {DEFECTS_ENV}=1")
        if request.method == "GET":
            return JSONResponse({"enabled": sorted(state.defects), "known": defect_registry.names()})
        data = await json_object(request)
        if isinstance(data, JSONResponse):
            return data
        wanted = data.get("enable", [])
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
