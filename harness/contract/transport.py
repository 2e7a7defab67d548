"""A schemathesis transport that sends through the project's API clients (harness.clients).

Why: the hand-written suites and the contract suite must leave the same kind of evidence and be judged the
same way. Every request schemathesis makes — a generated case, a check's own follow-up request (ignored_auth
sends the case again without credentials), a stateful step — goes through ``ApiClient.raw`` and therefore
through the recording transport (masked HAR evidence, ``harness.redaction``), the shared request budget of the
API key, and the client's retry policy. A 429 or 5xx that survives the retries, or a transport error, raises
``InfrastructureError``, which the plugin classifies as infrastructure, as in the hand-written suites.

The request is prepared exactly as schemathesis' own requests transport would send it (its serializers, its
``requests.Request.prepare()``), then handed to httpx byte for byte; schemathesis' credentials are explicit
headers, so the client adds none of its own (``authenticate=False``) and ignored_auth can really drop them.
"""

from __future__ import annotations

import datetime
from typing import Any

import requests
from schemathesis.core.transport import Response
from schemathesis.transport.requests import REQUESTS_TRANSPORT, RequestsTransport

from harness.clients.base import OMIT, ApiClient

__all__ = ["ClientTransport", "operation_id_of"]

# Headers requests or httpx compute themselves from the body and URL.
_COMPUTED = frozenset({"content-length", "host", "transfer-encoding"})


def operation_id_of(operation: Any) -> str:
    """A schemathesis operation's operationId in the document, else its label ("POST /payments")."""
    raw = operation.definition.raw
    op_id = raw.get("operationId") if isinstance(raw, dict) else None
    return str(op_id) if op_id else str(operation.label)


def _operation_name(api: str, case: Any) -> str:
    return f"{api}.contract.{operation_id_of(case.operation)}"


class ClientTransport(RequestsTransport):
    """schemathesis' requests transport with the wire part replaced by a paycert ``ApiClient``."""

    def __init__(self, api: str, client: ApiClient) -> None:
        super().__init__()
        self._copy_serializers_from(REQUESTS_TRANSPORT)
        self.api = api
        self.client = client

    def send(self, case: Any, *, session: Any = None, **kwargs: Any) -> Response:
        kwargs.pop("max_redirects", None)
        data = self._build_request_data(case, kwargs)
        prepared = requests.Request(
            method=data["method"], url=data["url"], headers=data.get("headers") or {}, params=data.get("params"),
            cookies=data.get("cookies") or None, json=data.get("json"), data=data.get("data"),
            files=data.get("files"), auth=data.get("auth"),
        ).prepare()
        headers = {name: value if isinstance(value, str) else value.decode("latin-1")
                   for name, value in prepared.headers.items() if name.lower() not in _COMPUTED}
        body: Any = prepared.body
        content: bytes | None = body.encode("utf-8") if isinstance(body, str) else body
        response = self.client.raw(
            str(prepared.method), str(prepared.url), headers=headers, content=content, authenticate=False,
            idempotency_key=OMIT, operation=_operation_name(self.api, case),
        )
        try:
            response.elapsed  # noqa: B018 - set once the body is read; not by every test transport
        except RuntimeError:
            response.elapsed = datetime.timedelta(0)
        return Response.from_httpx(response, verify=True)


def route_through(schema: Any, transport: ClientTransport) -> Any:
    """Make `schema`, and every schema cloned from it (``include()``), send through `transport`.

    schemathesis picks a schema's transport from its ``app`` (none: requests); a per-schema subclass is the
    one place its choice can be replaced, and clones keep their class. Calling it again swaps the transport.
    """
    cls = type(schema)
    if not getattr(cls, "_paycert_routed", False):
        cls = type(f"Routed{cls.__name__}", (cls,), {"_paycert_routed": True, "_paycert_transport": None,
                                                     "transport": property(lambda self: type(self)._paycert_transport)})
        schema.__class__ = cls
    cls._paycert_transport = transport
    return schema
