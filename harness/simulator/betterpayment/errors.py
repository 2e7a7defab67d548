"""Better Payment error bodies: {"error_code": int, "error_message": str} from the catalog's error rows.

The HTTP status follows the simulator's error transport (catalog `error_transport`): `in_band`, the default the
vendor plugins' code points to, answers application errors with HTTP 200; `http` answers each row's status.

Handlers raise `BPError(<error id>, **template values)`; the API layer turns it into the JSON answer and the
pages into an HTML page. Nothing else builds an error body, so every error is a documented catalog row.
"""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse

from harness.simulator.betterpayment import defects
from harness.simulator.betterpayment.context import Context


class BPError(Exception):
    """A documented error: the catalog row id and the values of its message template."""

    def __init__(self, error_id: str, *, headers: dict[str, str] | None = None, **values: object) -> None:
        super().__init__(error_id)
        self.error_id = error_id
        self.values = values
        self.headers = headers or {}  # e.g. Allow on 405 (RFC 9110)


def error_body(ctx: Context, err: BPError) -> tuple[int, dict[str, Any]]:
    row = ctx.catalog.error(err.error_id)
    values = dict(err.values)
    if row.name == "missing_fields" and ctx.defect(defects.ERROR_FIELDS_UNNAMED):
        values["fields"] = "see documentation"
    body = row.render(**values)
    if ctx.defect(defects.ERROR_MESSAGE_KEY):
        body = {"error_code": body["error_code"], "message": body["error_message"]}
    transport = ctx.error_transport
    if ctx.defect(defects.ERROR_TRANSPORT_MIXED) and row.name in _MIXED_BY_DEFECT:
        transport = "http" if transport == "in_band" else "in_band"
    return ctx.catalog.error_status(row.id, transport), body  # type: ignore[arg-type]


# The rows the transport defect answers the other way (validation in band, state errors under http).
_MIXED_BY_DEFECT = {"missing_fields", "invalid_fields", "operation_not_allowed", "unknown_transaction"}


def stored_under_idempotency(ctx: Context, err: BPError) -> bool:
    """Processing results (unknown transaction, state and amount errors) are replayed for a repeated key;
    validation failures are not (BP-IDEM-VALIDATION-NOT-STORED), whatever HTTP status the transport gives."""
    return ctx.catalog.error(err.error_id).http_status in (404, 409, 422)


def error_json(ctx: Context, err: BPError) -> JSONResponse:
    status, body = error_body(ctx, err)
    headers = dict(err.headers)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Better Payment simulator"'
    return JSONResponse(body, status_code=status, headers=headers)


def error_page(ctx: Context, err: BPError) -> HTMLResponse:
    """The customer's browser gets an HTML page with the row's own HTTP status: the error transport is about
    what the merchant's server reads from the API, not about pages."""
    _, body = error_body(ctx, err)
    status = ctx.catalog.error(err.error_id).http_status
    message = escape(str(body.get("error_message") or body.get("message") or ""))
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>Error {body['error_code']}</title></head>"
            f"<body><h1>Payment step failed</h1><p>error_code {body['error_code']}: {message}</p></body></html>")
    return HTMLResponse(html, status_code=status, headers=err.headers)
