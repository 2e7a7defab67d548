"""Better Payment's part of the simulator control interface, under /_simulator/betterpayment/.

    GET  /_simulator/betterpayment/postbacks[?transaction_id=ID]
         -> {"postbacks": [...], "deliveries": [...]}   every queued postback and every attempt
    GET  /_simulator/betterpayment/transactions/{id}
         -> everything kept about the transaction (card masked)
    POST /_simulator/betterpayment/transactions/{id}/status  {"status_code": int, "postback": bool = true}
         -> sets a status the API cannot reach itself (10, 11, 13...) and sends its postback

    GET  /_simulator/betterpayment/settings  -> {"error_transport": "in_band" | "http"}
    POST /_simulator/betterpayment/settings  {"error_transport": ...}: how application errors travel (catalog
         error_transport); kept across resets, like the way the simulator was started

Errors answer {"error": "..."} like the shared control routes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from harness.simulator.betterpayment.context import Context
from harness.simulator.betterpayment.operations import Operations
from harness.simulator.betterpayment.postbacks import Dispatcher
from harness.simulator.control import json_object, problem

PREFIX = "/_simulator/betterpayment"


def routes(ctx: Context, ops: Operations, dispatcher: Dispatcher) -> list[BaseRoute]:
    async def postbacks(request: Request) -> JSONResponse:
        dispatcher.kick()
        transaction_id = request.query_params.get("transaction_id") or None
        return JSONResponse(dispatcher.log(transaction_id))

    async def transaction(request: Request) -> JSONResponse:
        view = ops.internal_view(str(request.path_params["transaction_id"]))
        if view is None:
            return problem(404, "no such transaction")
        return JSONResponse(view)

    async def force_status(request: Request) -> JSONResponse:
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        code = body.get("status_code")
        known = {s.code for s in ctx.catalog.statuses}
        if isinstance(code, bool) or not isinstance(code, int) or code not in known:
            return problem(400, f"status_code must be one of {sorted(known)}")
        postback = body.get("postback", True)
        if not isinstance(postback, bool):
            return problem(400, "postback must be true or false")
        view = ops.force_status(str(request.path_params["transaction_id"]), code, postback)
        if view is None:
            return problem(404, "no such transaction")
        return JSONResponse(view)

    async def settings(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await json_object(request)
            if isinstance(body, JSONResponse):
                return body
            modes = ctx.catalog.error_transport.modes
            unknown = sorted(set(body) - {"error_transport"})
            if unknown:
                return problem(400, f"unknown settings {unknown}; known: error_transport")
            value = body.get("error_transport", ctx.error_transport)
            if value not in modes:
                return problem(400, f"error_transport must be one of {', '.join(modes)}")
            ctx.error_transport = str(value)
        return JSONResponse({"error_transport": ctx.error_transport})

    return [
        Route(f"{PREFIX}/settings", settings, methods=["GET", "POST"]),
        Route(f"{PREFIX}/postbacks", postbacks, methods=["GET"]),
        Route(f"{PREFIX}/transactions/{{transaction_id}}", transaction, methods=["GET"]),
        Route(f"{PREFIX}/transactions/{{transaction_id}}/status", force_status, methods=["POST"]),
    ]
