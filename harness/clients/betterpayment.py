"""Better Payment client: the /rest endpoints, Basic auth, and a choice of idempotency header.

Why the header is a choice: the seed documents both ``X-Idempotency-Key`` and ``Idempotency-Key``, and the
suites must show that each works, so neither may be baked in. Like the BetterCharge client, every method
returns the ``httpx.Response`` untouched; judging it is the suites' job. Methods, paths and the header names
come from the catalog (fixtures/catalog/betterpayment.yaml).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx

from harness.catalog import betterpayment as betterpayment_catalog
from harness.clients.base import DEFAULT_TIMEOUT, ApiClient, IdempotencyKey, RetryPolicy
from harness.clients.budget import Budget
from harness.postback_signing import php_http_build_query

__all__ = ["BetterPaymentClient", "idempotency_headers"]


def idempotency_headers() -> tuple[str, ...]:
    """The idempotency header names the catalog documents (seed 000 §3), the client's default first."""
    return tuple(betterpayment_catalog().idempotency.headers)


Amount = str | int | float


class _BasicAuthUnlessSet(httpx.BasicAuth):
    """httpx Basic auth that leaves a request's own Authorization header alone (to send wrong credentials)."""

    def auth_flow(self, request: httpx.Request) -> Any:
        """Add Basic credentials unless the request already has an Authorization header."""
        if "Authorization" in request.headers:
            yield request
        else:
            yield from super().auth_flow(request)


def _check_header(name: str) -> str:
    allowed = idempotency_headers()
    if name not in allowed:
        raise ValueError(f"idempotency_header must be one of {', '.join(allowed)}, got {name!r}")
    return name


def _fields(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class BetterPaymentClient(ApiClient):
    """Better Payment REST client (HTTP Basic: API key as user name, API password as password).

    POSTs carry an idempotency key (a fresh v4 UUID unless `idempotency_key` is given; OMIT sends none) under
    `idempotency_header` (None: the catalog's first name), chosen per client and overridable per call. Rate
    limits are undocumented for this API, so `budget` is off unless the caller sets one.
    """

    api_name = "betterpayment"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_password: str,
        *,
        idempotency_header: str | None = None,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        for name, value in (("api_key", api_key), ("api_password", api_password)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"BetterPaymentClient: {name} must be a non-empty string")
        catalog = betterpayment_catalog()
        self._operations = {op.name: op for op in catalog.operations}
        self._credentials = (api_key, api_password)
        super().__init__(
            base_url,
            auth=_BasicAuthUnlessSet(api_key, api_password),
            secrets=(api_password,),
            idempotency_header=_check_header(idempotency_header or catalog.idempotency.headers[0]),
            idempotent_methods=catalog.idempotency.methods,
            retry=retry,
            budget=budget,
            timeout=timeout,
            transport=transport,
        )

    @property
    def idempotency_header(self) -> str:
        """The idempotency header name this client sends by default."""
        return self._idempotency_header

    def _op(
        self,
        name: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        headers: Mapping[str, str] | None = None,
        **path_params: str,
    ) -> httpx.Response:
        spec = self._operations.get(name)
        if spec is None:
            raise LookupError(f"catalog betterpayment.yaml has no operation named {name!r}")
        return self._call(
            spec,
            body=body,
            headers=headers,
            idempotency_key=idempotency_key,
            idempotency_header=_check_header(idempotency_header) if idempotency_header is not None else None,
            **path_params,
        )

    def payment(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST /rest/payment (authorise and capture in one step); `body` is sent as given."""
        return self._op(
            "payment", body, idempotency_key=idempotency_key, idempotency_header=idempotency_header, headers=headers
        )

    def authorize(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST /rest/authorize (reserve funds; capture or reverse later)."""
        return self._op(
            "authorize", body, idempotency_key=idempotency_key, idempotency_header=idempotency_header, headers=headers
        )

    def register(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST /rest/register (register a card for later payments)."""
        return self._op(
            "register", body, idempotency_key=idempotency_key, idempotency_header=idempotency_header, headers=headers
        )

    def capture(
        self,
        transaction_id: str,
        amount: Amount | None = None,
        vat: Amount | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST /rest/capture: all of the authorization (`amount` None) or part of it; `extra` adds fields."""
        body = {**_fields(transaction_id=transaction_id, amount=amount, vat=vat), **(extra or {})}
        return self._op(
            "capture", body, idempotency_key=idempotency_key, idempotency_header=idempotency_header, headers=headers
        )

    def reverse(
        self,
        transaction_id: str,
        amount: Amount | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST /rest/reverse: release an uncaptured authorization, fully (`amount` None) or partly."""
        body = {**_fields(transaction_id=transaction_id, amount=amount), **(extra or {})}
        return self._op(
            "reverse", body, idempotency_key=idempotency_key, idempotency_header=idempotency_header, headers=headers
        )

    def refund(
        self,
        transaction_id: str,
        amount: Amount | None = None,
        *,
        merchant_reference: str | None = None,
        execution_date: str | None = None,
        comment: str | None = None,
        refund_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST /rest/refund: all (`amount` None) or part; only the fields given are sent."""
        body = {
            **_fields(
                transaction_id=transaction_id,
                amount=amount,
                merchant_reference=merchant_reference,
                execution_date=execution_date,
                comment=comment,
                refund_id=refund_id,
            ),
            **(extra or {}),
        }
        return self._op(
            "refund", body, idempotency_key=idempotency_key, idempotency_header=idempotency_header, headers=headers
        )

    def apple_pay_merchant_session(self, initiative_context: Any) -> httpx.Response:
        """POST /db_apple_pay_merchants {"initiative_context": <shop host>} (Apple Pay merchant validation, no
        /rest prefix), as the Shopware and WooCommerce plugins send it."""
        facts = betterpayment_catalog().apple_pay
        return self.raw(facts.method, facts.path, json={facts.request_field: initiative_context})

    def legacy(self, operation: str, fields: Mapping[str, Any], *, checksum: str | None = None,
               api_key: str | None = None) -> httpx.Response:
        """The older docs' checksum authentication: form-encoded fields (PHP urlencode, in order) with `api_key`
        first, then `checksum` = SHA-1(query + outgoing key, i.e. the API password); no Basic header.
        `checksum` and `api_key` override the computed values (to send wrong ones)."""
        legacy = betterpayment_catalog().legacy_auth
        spec = self._operations[operation]
        own_key, outgoing_key = self._credentials
        query = php_http_build_query({legacy.key_field: api_key if api_key is not None else own_key, **fields})
        digest = checksum if checksum is not None else hashlib.sha1((query + outgoing_key).encode()).hexdigest()
        return self.raw(spec.method, spec.path, content=f"{query}&{legacy.checksum_field}={digest}",
                        headers={"Content-Type": legacy.content_type}, authenticate=False)

    def get_transaction(self, transaction_id: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET /rest/transactions/{id}."""
        return self._op("get_transaction", headers=headers, transaction_id=transaction_id)

    def transaction_log(self, transaction_id: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET /rest/transactions/{id}/log: the transaction's operations (captures, refunds)."""
        return self._op("get_log", headers=headers, transaction_id=transaction_id)

    def transaction_refunds(self, transaction_id: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET /rest/transactions/{id}/refunds: the transaction's refund objects."""
        return self._op("get_refunds", headers=headers, transaction_id=transaction_id)
