"""The BetterCharge API as one route: every request under its path prefixes runs the same pipeline.

rate limit (every request with an x-api-key counts; 429 past the limit) -> armed fault -> authentication ->
routing (the catalog's operations table; unknown path 404, wrong method 405, both JSON) -> idempotency (POST
with Idempotency-Key) -> the operation. Every answer, errors and replays included, gets X-RateLimit-*.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from harness.catalog.bettercharge import Operation
from harness.simulator import boundaries
from harness.simulator.bettercharge import defects
from harness.simulator.bettercharge.auth import Principal
from harness.simulator.bettercharge.context import Context
from harness.simulator.bettercharge.faults import DELAY, DROP, DroppedResponse
from harness.simulator.bettercharge.merchant_api import MerchantApi
from harness.simulator.bettercharge.payment_api import Params, PaymentApi
from harness.simulator.bettercharge.responses import ApiError, JsonResponse, fields_error, http_error
from harness.simulator.bettercharge.validation import IDEMPOTENCY_KEY, Invalid, read_body
from harness.simulator.idempotency import Keyed

Handler = Callable[[Request, Principal, Params], Awaitable[Response]]
_IDEMPOTENCY_API = "bettercharge"
_SHARED_SCOPE = "shared"


def _compile(template: str) -> re.Pattern[str]:
    """/payments/{bcId}/capture -> a regex with one named group per path parameter."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)))


class Dispatcher:
    """Maps method and path to a catalog operation. A literal path wins over a templated one."""

    def __init__(self, operations: list[Operation], handlers: dict[str, Handler]) -> None:
        missing = [op.name for op in operations if op.name not in handlers]
        if missing:
            raise ValueError(f"the simulator has no handler for catalog operations: {', '.join(missing)}")
        ordered = sorted(operations, key=lambda op: op.path.count("{"))
        self._table = [(op, _compile(op.path), handlers[op.name]) for op in ordered]
        self.prefixes = sorted({"/" + op.path.strip("/").split("/", 1)[0] for op in operations})

    def resolve(self, method: str, path: str) -> tuple[Operation, Handler, Params] | JsonResponse:
        allowed: list[str] = []
        specificity: int | None = None
        for op, pattern, handler in self._table:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            # The most literal matching path owns the request, as in OpenAPI: GET /payments/authorize is a
            # 405 on authorize, not a read of a payment called "authorize".
            level = op.path.count("{")
            if specificity is not None and level > specificity:
                break
            specificity = level
            if op.method == method:
                return op, handler, match.groupdict()
            allowed.append(op.method)
        if allowed:
            response = http_error(HTTPStatus.METHOD_NOT_ALLOWED, f"Method {method} is not allowed on {path}")
            response.headers["Allow"] = ", ".join(sorted(set(allowed)))
            return response
        return http_error(HTTPStatus.NOT_FOUND, f"Path {path} does not exist")


class BetterChargeApi:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        payments, merchants = PaymentApi(ctx), MerchantApi(ctx)
        handlers: dict[str, Handler] = {
            "authorize": payments.authorize, "charge": payments.charge, "capture": payments.capture,
            "void": payments.void, "refund": payments.refund, "stop": payments.stop,
            "get_payment": payments.get_payment, "create_merchant": merchants.create_merchant,
            "get_merchant": merchants.get_merchant, "update_merchant": merchants.update_merchant,
        }
        self.dispatcher = Dispatcher(ctx.catalog.operations, handlers)

    async def answer(self, request: Request) -> Response:
        ctx = self.ctx
        quota = ctx.limiter.hit(request.headers.get(ctx.catalog.auth.api_key_header))
        response = ctx.limiter.too_many(quota) if quota.exceeded else await self._with_fault(request)
        ctx.limiter.decorate(response, quota)
        return response

    async def _with_fault(self, request: Request) -> Response:
        fault = self.ctx.faults.take()
        if fault is None:
            return await self._serve(request)
        if fault.kind == DELAY:
            await asyncio.sleep(fault.seconds)
            return await self._serve(request)
        if fault.kind == DROP:
            if fault.process:
                await self._serve(request)
            return DroppedResponse()
        assert fault.error_id is not None
        return self.ctx.error_response(ApiError(fault.error_id, error=fault.error))

    async def _serve(self, request: Request) -> Response:
        ctx = self.ctx
        headers = request.headers
        try:
            principal = ctx.partners.authenticate(headers.get(ctx.catalog.auth.api_key_header),
                                                  headers.get(ctx.catalog.auth.partner_header))
        except ApiError as exc:
            return ctx.error_response(exc)
        resolved = self.dispatcher.resolve(request.method, request.url.path)
        if isinstance(resolved, Response):
            return resolved
        op, handler, params = resolved

        async def run() -> Response:
            try:
                return await handler(request, principal, params)
            except ApiError as exc:
                return ctx.error_response(exc)

        policy = ctx.catalog.idempotency
        if op.method not in policy.methods or ctx.state.defect(defects.IDEM_OFF):
            return await run()
        key = headers.get(policy.header)
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            return ctx.error_response(fields_error([policy.header]))
        try:
            await read_body(request)  # read at the edge already; too large or too slow claims no key
        except Invalid:
            return await run()  # the operation answers with its own invalid-body row
        shared = ctx.state.defect(defects.IDEM_SHARED_SCOPE)
        retention = float("inf") if ctx.state.defect(defects.IDEM_NO_EXPIRY) else (
            policy.retention_seconds + boundaries.shift(ctx.state.defect, "bettercharge", "idem_retention"))
        keyed = Keyed(api=_IDEMPOTENCY_API, scope=_SHARED_SCOPE if shared else principal.key_hash, key=key,
                      endpoint=f"{request.method} {request.url.path}", retention=retention)
        return await ctx.state.idempotency.run(keyed, handler=run, should_store=self._storable, busy=_busy)

    def _storable(self, response: Response) -> bool:
        """Keep answers that took effect: 2xx, 422 and errors that stored a payment; never validation
        failures, auth failures, 423, 429 or 5xx, so the client may fix the request and reuse the key."""
        if self.ctx.state.defect(defects.IDEM_STORE_VALIDATION) and response.status_code < 500:
            return True
        status = response.status_code
        return 200 <= status < 300 or status == HTTPStatus.UNPROCESSABLE_ENTITY or (
            isinstance(response, JsonResponse) and response.effect)


def _busy() -> Response:
    """A duplicate whose first request is still running after the claim timeout: 409, as the IETF idempotency
    draft says (the seed is silent; the seed's error shape, adopted). Retry later with the same key."""
    return http_error(HTTPStatus.CONFLICT, "A request with this Idempotency-Key is still being processed; "
                                           "retry later with the same key")


class BetterChargeRoute(BaseRoute):
    """Claims every path under the API's prefixes (from the catalog's operations), so that unknown paths and
    wrong methods there get the API's JSON answers and rate-limit headers rather than Starlette's defaults."""

    def __init__(self, api: BetterChargeApi) -> None:
        self.api = api
        self.prefixes = api.dispatcher.prefixes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path: str = scope["path"]
            if any(path == p or path.startswith(p + "/") for p in self.prefixes):
                return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.api.answer(Request(scope, receive))
        await response(scope, receive, send)
