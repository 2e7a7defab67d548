"""The merchant operations of the BetterCharge API: create, read, update (a partner's own merchants only).

A merchantId that is taken answers 400 BAD_REQUEST naming merchantId (adopted: the seed has no conflict row).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from harness.simulator.bettercharge.auth import Principal
from harness.simulator.bettercharge.context import Context
from harness.simulator.bettercharge.merchants import Merchant
from harness.simulator.bettercharge.payment_api import Params, request_object
from harness.simulator.bettercharge.responses import FORBIDDEN, MERCHANT_NOT_FOUND, ApiError, JsonResponse, fields_error
from harness.simulator.bettercharge.validation import Invalid, merchant_create, merchant_patch


class MerchantApi:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _answer(self, operation: str, merchant: Merchant) -> JsonResponse:
        return JsonResponse(merchant.to_wire(), self.ctx.catalog.operation(operation).success)

    def _owned(self, merchant_id: str, principal: Principal) -> Merchant:
        merchant = self.ctx.merchants.get(merchant_id)
        if merchant is None:
            raise ApiError(MERCHANT_NOT_FOUND, merchantId=merchant_id)
        if merchant.partner_id != principal.partner_id:
            raise ApiError(FORBIDDEN)
        return merchant

    async def create_merchant(self, request: Request, principal: Principal, params: Params) -> Response:
        try:
            merchant_id, changes = merchant_create(await request_object(request, empty_ok=False))
        except Invalid as exc:
            raise fields_error(exc.fields) from None
        assert changes.name is not None
        merchant = Merchant(merchant_id, principal.partner_id, changes.name).changed(changes)
        response = self._answer("create_merchant", merchant)
        with self.ctx.state.store.transaction() as conn:
            if not self.ctx.merchants.insert(merchant):
                raise fields_error(["merchantId"])
            self.ctx.state.idempotency.record(conn, response)
        return response

    async def get_merchant(self, request: Request, principal: Principal, params: Params) -> Response:
        return self._answer("get_merchant", self._owned(params["merchantId"], principal))

    async def update_merchant(self, request: Request, principal: Principal, params: Params) -> Response:
        try:
            changes = merchant_patch(await request_object(request, empty_ok=False))
        except Invalid as exc:
            raise fields_error(exc.fields) from None
        merchant = self._owned(params["merchantId"], principal).changed(changes)
        response = self._answer("update_merchant", merchant)
        with self.ctx.state.store.transaction() as conn:
            self.ctx.merchants.save(merchant)
            self.ctx.state.idempotency.record(conn, response)
        return response
