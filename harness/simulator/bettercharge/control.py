"""The BetterCharge part of the simulator's control interface, under /_simulator/bettercharge/.

    GET|POST|DELETE /faults             {"kind", "count"?, "seconds"?, "error"?, "process"?}  (see faults.py)
    GET|POST        /toggles            {"system_inactive"?, "filter_limit"?, "merchant_not_found"?,
                                         "common_error"?: bool}  (names from the catalog's toggle_* triggers)
    GET|POST        /latency            {"psp_seconds": number}  the simulated PSP call's duration
    POST            /payments/{bcId}/state  {"state": name, "autoVoided"?: bool}  force a state
    GET|PATCH       /merchants/{merchantId} any merchant, settings as in PATCH /merchants/{merchantId}

Bad input gets 400 {"error": what is wrong}. None of this is part of the BetterCharge API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from harness.simulator.bettercharge.context import Context
from harness.simulator.bettercharge.validation import Invalid, merchant_patch
from harness.simulator.control import json_object, problem

PREFIX = "/_simulator/bettercharge"
MAX_PSP_SECONDS = 60.0


def routes(ctx: Context) -> list[BaseRoute]:
    async def faults(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await json_object(request)
            if isinstance(body, JSONResponse):
                return body
            try:
                ctx.faults.arm(body)
            except ValueError as exc:
                return problem(400, str(exc))
        elif request.method == "DELETE":
            ctx.faults.clear()
        return JSONResponse({"queued": ctx.faults.describe(), "kinds": ctx.faults.kinds})

    async def toggles(request: Request) -> JSONResponse:
        current = ctx.authorizer.toggles
        if request.method == "POST":
            body = await json_object(request)
            if isinstance(body, JSONResponse):
                return body
            unknown = sorted(set(body) - set(current))
            if unknown:
                return problem(400, f"unknown toggles: {', '.join(unknown)}; known: {', '.join(current)}")
            wrong = sorted(k for k, v in body.items() if not isinstance(v, bool))
            if wrong:
                return problem(400, f"toggles must be true or false: {', '.join(wrong)}")
            current.update(body)
        return JSONResponse(current)

    async def latency(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await json_object(request)
            if isinstance(body, JSONResponse):
                return body
            seconds = body.get("psp_seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_PSP_SECONDS:
                return problem(400, f"psp_seconds must be a number from 0 to {MAX_PSP_SECONDS:g}")
            ctx.psp_seconds = float(seconds)
        return JSONResponse({"psp_seconds": ctx.psp_seconds})

    async def force_state(request: Request) -> JSONResponse:
        bc_id = request.path_params["bcId"]
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        names = [s.name for s in ctx.catalog.states]
        state = body.get("state")
        if state not in names:
            return problem(400, f"state must be one of {', '.join(names)}")
        auto_voided = body.get("autoVoided", False)
        if not isinstance(auto_voided, bool):
            return problem(400, "autoVoided must be true or false")
        payment = ctx.load(bc_id)
        if payment is None:
            return problem(404, f"no payment {bc_id}")
        payment.state = state
        payment.auto_voided = auto_voided
        payment.processing_until = None  # a forced PROCESSING stays so until forced elsewhere
        payment.updated_at = ctx.now()
        ctx.payments.save(payment)
        return JSONResponse(payment.to_wire(ctx.state.defect))

    async def merchant(request: Request) -> JSONResponse:
        merchant_id = request.path_params["merchantId"]
        current = ctx.merchants.get(merchant_id)
        if current is None:
            return problem(404, f"no merchant {merchant_id}")
        if request.method == "PATCH":
            body = await json_object(request)
            if isinstance(body, JSONResponse):
                return body
            try:
                current = current.changed(merchant_patch(body))
            except Invalid as exc:
                return problem(400, f"invalid fields: {', '.join(exc.fields)}")
            ctx.merchants.save(current)
        return JSONResponse(current.to_wire())

    return [
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/toggles", toggles, methods=["GET", "POST"]),
        Route(f"{PREFIX}/latency", latency, methods=["GET", "POST"]),
        Route(f"{PREFIX}/payments/{{bcId}}/state", force_state, methods=["POST"]),
        Route(f"{PREFIX}/merchants/{{merchantId}}", merchant, methods=["GET", "PATCH"]),
    ]
