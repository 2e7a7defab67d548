"""The payment operations of the BetterCharge API: authorize, charge, capture, void, refund, stop, read.

Authorize/charge check, in order: the body (400 BAD_REQUEST naming the fields) -> the merchant (404, or 403
for another partner's) -> the account (400 INVALID_ACCOUNT) -> the outcome (see authorization.py).
An operation checks: the body (400: BAD_REQUEST for capture and stop, the "Invalid ... request data" rows for
refund and void) -> the payment (422 PAYMENT_NOT_FOUND, 403 for another partner's) -> its lock (423) -> the
catalog's transition table -> the merchant's refund/void policy -> the simulated PSP call, during which the
payment stays locked, so a second operation meanwhile gets 423 PAYMENT_LOCKED.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from harness.simulator import boundaries
from harness.simulator.bettercharge import defects
from harness.simulator.bettercharge.auth import Principal
from harness.simulator.bettercharge.context import Context
from harness.simulator.bettercharge.payments import RECEIVED, Payment
from harness.simulator.bettercharge.responses import (
    FORBIDDEN,
    INVALID_ACCOUNT,
    INVALID_REFUND,
    INVALID_VOID,
    LOCKED,
    MERCHANT_NOT_FOUND,
    PAYMENT_DOES_NOT_EXIST,
    PAYMENT_NOT_FOUND,
    REFUND_POLICY,
    VOID_POLICY,
    ApiError,
    JsonResponse,
    fields_error,
)
from harness.simulator.bettercharge.transitions import CAPTURE, REFUND, STOP, VOID, Step
from harness.simulator.bettercharge.validation import (
    Invalid,
    authorize_request,
    capture_request,
    is_int,
    json_object,
    read_body,
    refund_request,
    stop_request,
    void_request,
)

Params = dict[str, str]


async def request_object(request: Request, *, empty_ok: bool) -> dict[str, Any]:
    """The body as a JSON object; raises Invalid(["body"]) when it is not one."""
    return json_object(await read_body(request), request.headers.get("content-type"), empty_ok=empty_ok)


def _bad_fields(exc: Invalid) -> ApiError:
    return fields_error(exc.fields)


class PaymentApi:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # operation -> (body parser, the error for a malformed body, whether the PSP is called)
        self._operations: dict[str, tuple[Callable[[dict[str, Any]], int | None],
                                          Callable[[Invalid], ApiError], bool]] = {
            CAPTURE: (capture_request, _bad_fields, True),
            VOID: (void_request, lambda _: ApiError(INVALID_VOID), True),
            REFUND: (refund_request, lambda _: ApiError(INVALID_REFUND), True),
            STOP: (stop_request, _bad_fields, False),
        }

    def _defect(self, name: str) -> bool:
        return self.ctx.state.defect(name)

    def _success(self, operation: str, payment: Payment, *, pan: str | None = None) -> JsonResponse:
        return JsonResponse(payment.to_wire(self._defect, pan=pan), self.ctx.catalog.operation(operation).success)

    # -- authorize / charge ---------------------------------------------------------------------------------

    async def authorize(self, request: Request, principal: Principal, params: Params) -> Response:
        return await self._create(request, principal, "authorize", charge=False)

    async def charge(self, request: Request, principal: Principal, params: Params) -> Response:
        return await self._create(request, principal, "charge", charge=True)

    async def _create(self, request: Request, principal: Principal, operation: str, *, charge: bool) -> Response:
        ctx = self.ctx
        try:
            body = await request_object(request, empty_ok=False)
            if self._defect(defects.VALIDATION_500_WRONG_TYPE) and "amount" in body and not is_int(body["amount"]):
                return JsonResponse({"error": "simulator internal error", "detail": "TypeError"},
                                    HTTPStatus.INTERNAL_SERVER_ERROR)
            body = boundaries.shim_fields(self._defect, "bettercharge", body, lambda field: Invalid([field]))
            req = authorize_request(body)
        except Invalid as exc:
            raise fields_error(exc.fields) from None
        merchant = ctx.merchants.get(req.merchant_id)
        if merchant is None:
            raise ApiError(MERCHANT_NOT_FOUND, merchantId=req.merchant_id)
        if merchant.partner_id != principal.partner_id:
            raise ApiError(FORBIDDEN)
        if req.account_id is not None and req.account_id not in merchant.account_ids:
            raise ApiError(INVALID_ACCOUNT)
        outcome = ctx.authorizer.decide(req, merchant, ctx.now(), charge=charge)
        payment = outcome.payment
        if payment is None:
            assert outcome.error is not None
            raise outcome.error
        response = (ctx.error_response(outcome.error) if outcome.error is not None
                    else self._success(operation, payment, pan=req.card.number if req.card else None))
        if outcome.calls_psp and ctx.psp_seconds > 0:
            # The payment is visible as RECEIVED and locked while the PSP answers. Its outcome is already
            # decided: it is stored with it, and so is the answer, so a crash meanwhile resolves on restart
            # to that outcome and a retry with the same key replays it (payments.py, Payments.recover).
            with ctx.state.store.transaction() as conn:
                ctx.payments.save(replace(payment, state=RECEIVED, decision=None, liability_shift=False,
                                          failure_reason=None, authorized_amount=0, captured_amount=0,
                                          authorized_at=None, processing_until=None), resolves_to=payment)
                ctx.state.idempotency.record(conn, response)
            ctx.locks.add(payment.bc_id)
            try:
                await asyncio.sleep(ctx.psp_seconds)
            finally:
                ctx.locks.discard(payment.bc_id)
        with ctx.state.store.transaction() as conn:
            ctx.payments.save(payment)
            ctx.state.idempotency.record(conn, response)
        return response

    # -- read -----------------------------------------------------------------------------------------------

    def _owned(self, bc_id: str, principal: Principal, missing: ApiError) -> Payment:
        payment = self.ctx.load(bc_id)
        if payment is None:
            raise missing
        if payment.partner_id != principal.partner_id and not self._defect(defects.AUTH_FOREIGN_PAYMENT_VISIBLE):
            raise ApiError(FORBIDDEN)
        return payment

    async def get_payment(self, request: Request, principal: Principal, params: Params) -> Response:
        bc_id = params["bcId"]
        return self._success("get_payment", self._owned(bc_id, principal, ApiError(PAYMENT_DOES_NOT_EXIST,
                                                                                     bcId=bc_id)))

    # -- operations -----------------------------------------------------------------------------------------

    async def capture(self, request: Request, principal: Principal, params: Params) -> Response:
        return await self._operate(request, principal, params["bcId"], CAPTURE)

    async def void(self, request: Request, principal: Principal, params: Params) -> Response:
        return await self._operate(request, principal, params["bcId"], VOID)

    async def refund(self, request: Request, principal: Principal, params: Params) -> Response:
        return await self._operate(request, principal, params["bcId"], REFUND)

    async def stop(self, request: Request, principal: Principal, params: Params) -> Response:
        return await self._operate(request, principal, params["bcId"], STOP)

    def _step(self, payment: Payment, operation: str, amount: int | None) -> Step:
        step = self.ctx.machine.decide(payment, operation, amount)
        if step.error is not None:
            raise ApiError(step.error, bcId=payment.bc_id, identifier=payment.bc_id)
        return step

    def _check_policy(self, payment: Payment, operation: str) -> None:
        merchant = self.ctx.merchants.get(payment.merchant_id)
        if merchant is None:
            return
        if operation == REFUND and not merchant.refunds_allowed:
            raise ApiError(REFUND_POLICY)
        if operation == VOID and not merchant.voids_allowed:
            raise ApiError(VOID_POLICY)

    async def _operate(self, request: Request, principal: Principal, bc_id: str, operation: str) -> Response:
        ctx = self.ctx
        parse, malformed, calls_psp = self._operations[operation]
        try:
            amount = parse(await request_object(request, empty_ok=True))
        except Invalid as exc:
            raise malformed(exc) from None
        missing = (ApiError(PAYMENT_DOES_NOT_EXIST, status=ctx.catalog.error(PAYMENT_NOT_FOUND).status, bcId=bc_id)
                   if self._defect(defects.ERROR_PAYMENT_NOT_FOUND_CODE) else ApiError(PAYMENT_NOT_FOUND))
        payment = self._owned(bc_id, principal, missing)
        if bc_id in ctx.locks and not self._defect(defects.LOCK_NONE):
            raise ApiError(LOCKED, identifier=bc_id)
        step = self._step(payment, operation, amount)
        self._check_policy(payment, operation)
        if calls_psp and ctx.psp_seconds > 0:
            ctx.locks.add(bc_id)
            try:
                await asyncio.sleep(ctx.psp_seconds)
            finally:
                ctx.locks.discard(bc_id)
            reloaded = ctx.load(bc_id)  # time passed: the clock may have changed it meanwhile
            if reloaded is None:
                raise missing
            payment = reloaded
            step = self._step(payment, operation, amount)
        ctx.machine.apply(payment, operation, step, ctx.now())
        response = self._success(operation, payment)
        with ctx.state.store.transaction() as conn:
            ctx.payments.save(payment)
            ctx.state.idempotency.record(conn, response)
        return response
