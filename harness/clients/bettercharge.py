"""BetterCharge client: one method per operation of the adopted contract, nothing more.

Why so thin: the suites judge the API, so the client must not interpret it. Each method sends the request the
caller describes and returns the ``httpx.Response`` untouched (status, headers, exact body). Methods, paths,
auth header names, the idempotency header and the rate limit come from the catalog
(fixtures/catalog/bettercharge.yaml), so a user holding the real Postman collection re-targets the harness by
editing data, not this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from harness.catalog import bettercharge as bettercharge_catalog
from harness.catalog.bettercharge import BetterChargeCatalog
from harness.clients.base import (
    DEFAULT_TIMEOUT,
    ApiClient,
    HeaderAuth,
    IdempotencyKey,
    RetryPolicy,
)
from harness.clients.budget import Budget, RequestBudget

__all__ = ["BetterChargeClient", "rate_limit_budget"]


def rate_limit_budget(api_key: str, **kwargs: Any) -> RequestBudget:
    """A RequestBudget sized by the catalog's documented rate limit (requests per window, per API key), reading
    the documented Remaining and Reset headers of every answer."""
    limit = bettercharge_catalog().rate_limit
    named = {name.rsplit("-", 1)[-1].lower(): name for name in limit.headers}
    return RequestBudget(api_key, limit.limit, float(limit.window_seconds), remaining_header=named.get("remaining"),
                         reset_header=named.get("reset") if limit.reset_format == "unix_seconds" else None, **kwargs)


class BetterChargeClient(ApiClient):
    """BetterCharge API client. `budget=None` means no client-side rate limiting (see rate_limit_budget).

    POST operations get an ``Idempotency-Key`` (a fresh v4 UUID unless `idempotency_key` is given; OMIT sends
    none), reused on every retry. `headers` on each method adds or overrides request headers.
    """

    api_name = "bettercharge"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        partner_id: str,
        *,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        for name, value in (("api_key", api_key), ("partner_id", partner_id)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"BetterChargeClient: {name} must be a non-empty string")
        catalog = bettercharge_catalog()
        self._catalog: BetterChargeCatalog = catalog
        self._auth_headers = {catalog.auth.api_key_header: api_key, catalog.auth.partner_header: partner_id}
        super().__init__(
            base_url,
            auth=HeaderAuth(self._auth_headers),
            secrets=(api_key,),
            idempotency_header=catalog.idempotency.header,
            idempotent_methods=catalog.idempotency.methods,
            retry=retry,
            budget=budget,
            timeout=timeout,
            transport=transport,
        )

    def _speaks_for_budget(self, request: httpx.Request) -> bool:
        """The documented limit is per API key: only an answer to a request that carried ours speaks for its
        window (harness.clients.base.ApiClient._speaks_for_budget)."""
        header = self._catalog.auth.api_key_header
        return request.headers.get(header) == self._auth_headers[header]

    @property
    def auth_headers(self) -> dict[str, str]:
        """The credential headers, for raw(authenticate=False) requests that must drop or alter one of them."""
        return dict(self._auth_headers)

    def _operation(
        self,
        name: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
        **path_params: str,
    ) -> httpx.Response:
        spec = next((op for op in self._catalog.operations if op.name == name), None)
        if spec is None:
            raise LookupError(f"catalog bettercharge.yaml has no operation named {name!r}")
        return self._call(spec, body=body, headers=headers, idempotency_key=idempotency_key, **path_params)

    def authorize(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Authorize (CIT or MIT): `body` is the request object as the contract defines it, sent as given."""
        return self._operation("authorize", body=body, idempotency_key=idempotency_key, headers=headers)

    def charge(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Authorize and capture in one step; same body as authorize."""
        return self._operation("charge", body=body, idempotency_key=idempotency_key, headers=headers)

    def capture(
        self,
        bc_id: str,
        amount: int | None = None,
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Capture the whole authorization (`amount` None) or part of it (minor units)."""
        body = {} if amount is None else {"amount": amount}
        return self._operation("capture", body=body, idempotency_key=idempotency_key, headers=headers, bcId=bc_id)

    def void(
        self,
        bc_id: str,
        reason: str | None = None,
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Void an uncaptured authorization."""
        body = {} if reason is None else {"reason": reason}
        return self._operation("void", body=body, idempotency_key=idempotency_key, headers=headers, bcId=bc_id)

    def refund(
        self,
        bc_id: str,
        amount: int | None = None,
        reason: str | None = None,
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Refund all that remains refundable (`amount` None) or part of it (minor units)."""
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = amount
        if reason is not None:
            body["reason"] = reason
        return self._operation("refund", body=body, idempotency_key=idempotency_key, headers=headers, bcId=bc_id)

    def stop(
        self,
        bc_id: str,
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Stop Better's retry process for the payment (body ``{}``)."""
        return self._operation("stop", body={}, idempotency_key=idempotency_key, headers=headers, bcId=bc_id)

    def get_payment(self, bc_id: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Read a payment."""
        return self._operation("get_payment", headers=headers, bcId=bc_id)

    def create_merchant(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Create a merchant from the contract's merchant body."""
        return self._operation("create_merchant", body=body, idempotency_key=idempotency_key, headers=headers)

    def get_merchant(self, merchant_id: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Read a merchant."""
        return self._operation("get_merchant", headers=headers, merchantId=merchant_id)

    def update_merchant(
        self,
        merchant_id: str,
        changes: Mapping[str, Any],
        *,
        idempotency_key: IdempotencyKey = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Change any subset of a merchant's fields (PATCH)."""
        return self._operation(
            "update_merchant",
            body=changes,
            idempotency_key=idempotency_key,
            headers=headers,
            merchantId=merchant_id,
        )
