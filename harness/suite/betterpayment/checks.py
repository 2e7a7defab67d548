"""The exact checks of the Better Payment suites: status, documented shape, echoed values, OpenAPI schema, no
card data.

Why one module: every suite judges the answers the same strict way, so a check can never be weaker in one suite
than in another. The names and signatures shared with BetterCharge are held by `harness.suite.checks.Checks`.
Every failure goes through `harness.suite.failure` (one redacted message naming what differed): pytest does not
rewrite `assert` outside test modules, and a merchant must never read a bare AssertionError.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness import openapi
from harness.catalog import betterpayment
from harness.simulator_control import SimulatorControl
from harness.suite import schema
from harness.suite.answers import expect_status, json_body
from harness.suite.failure import calibratable, ensure, fail, mismatch, same, show

from .views import error_statuses, money, seed_request, status_name

API = "betterpayment"


def operation_id(operation: str) -> str:
    """The OpenAPI operationId of a catalog operation, found by its path and method."""
    op = betterpayment().operation(operation)
    return schema.operation_id(API, op.method, op.path)


def validate(target: openapi.SchemaTarget, instance: Any) -> None:
    """Validate against the OpenAPI document; a failure lists every problem."""
    schema.expect_schema(API, target, instance)


def expect_error(response: httpx.Response, error_id: str, /, **values: Any) -> dict[str, Any]:
    """The response is exactly the catalog error row {error_code, error_message}, what every official client
    reads. Its HTTP status may be either transport's (HTTP 200 in band, or the row's status); which one the
    target uses is the separate, adopted requirement BP-ERROR-HTTP-STATUS (test_error_transport.py)."""
    err = betterpayment().error(error_id)
    allowed = error_statuses(error_id)
    ours = calibratable(err.provenance)  # Better Payment's error codes and their statuses are adopted
    if response.status_code not in allowed:
        message = (f"expected HTTP {' or '.join(map(str, sorted(allowed)))} ({err.name}, error_code {err.code}); "
                   f"got {show(response)}")
        if ours and response.status_code < 500:  # a 5xx is the target failing, nothing to calibrate
            mismatch(API, err.id, "http_status", err.http_status, response.status_code, message)
        fail(message)
    body = json_body(response)
    code = body.get("error_code") if isinstance(body, dict) else None
    if ours and isinstance(code, int) and not isinstance(code, bool) and code != err.code:
        mismatch(API, err.id, "code", err.code, code,
                 f"{err.name}: error_code expected {err.code}, got {code}\n  in: {show(response)}")
    text = body.get("error_message") if isinstance(body, dict) else None
    if ours and "{" not in err.message and isinstance(text, str) and text != err.message:
        mismatch(API, err.id, "message", err.message, text,
                 f"{err.name}: error_message expected {err.message!r}, got {text!r}\n  in: {show(response)}")
    same(body, err.render(**values), f"{err.name} error body", response)
    validate(openapi.SchemaTarget(component="Error"), body)
    return dict(body)


def expect_ok(response: httpx.Response, operation: str) -> Any:
    """The operation's documented success status, a body that matches its OpenAPI response schema."""
    op = betterpayment().operation(operation)
    expect_status(response, op.success)
    body = json_body(response)
    validate(openapi.SchemaTarget(operation=operation_id(operation), part="response", status=str(op.success)), body)
    return body


def expect_transaction_status(body: Mapping[str, Any], code: int) -> None:
    """status_code and status are the catalog's pair for `code`."""
    same((body.get("status_code"), body.get("status")), (code, status_name(code)), "transaction status")


def expect_shape(body: Mapping[str, Any], response: str, optional: Iterable[str] = ()) -> None:
    """Exactly the catalog's fields for this response kind (plus the named optional ones), nothing else."""
    shape = betterpayment().responses[response]
    expected = set(shape.fields) | set(optional)
    ensure(set(body) == expected, f"{response} response fields: missing {sorted(expected - set(body))}, "
                                  f"unexpected {sorted(set(body) - expected)}")


def expect_amount(value: Any, expected: Decimal, what: str = "amount") -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    ensure(is_number, f"{what} must be a JSON number, got {value!r}")
    same(money(value), expected, what)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def expect_payment(response: httpx.Response, operation: str, sent: Mapping[str, Any], *, status_code: int,
                   client_action: str | None = None) -> dict[str, Any]:
    """A create response: documented shape, status pair, echoed request values, error_code 0, the client action."""
    catalog = betterpayment()
    body = dict(expect_ok(response, operation))
    step = ("client_action", "action_data") if client_action else ()
    expect_shape(body, "payment", step)
    expect_transaction_status(body, status_code)
    same(body["error_code"], catalog.error("BP-ERR-0-NONE").code, "error_code", response)
    same(body["payment_type"], sent["payment_type"], "payment_type", response)
    same(body["order_id"], sent["order_id"], "order_id", response)
    expect_amount(body["amount"], money(sent["amount"]))
    same(body["included_fees"], catalog.included_fees, "included_fees", response)
    ensure(_is_uuid(body["transaction_id"]), f"transaction_id is not a UUID: {show(response)}")
    if "additional_transaction_data" in sent:
        same(body["additional_transaction_data"], sent["additional_transaction_data"],
             "additional_transaction_data", response)
    if client_action:
        action = catalog.client_action(client_action)
        same(body["client_action"], action.name, "client_action", response)
        data = body["action_data"]
        ensure(isinstance(data.get("url"), str) and urlsplit(data["url"]).scheme in ("http", "https"),
               f"action_data.url is not an http(s) URL: {data}")
        ensure(("fields" in data) == action.has_fields, f"action_data of {action.name}: {data}")
    expect_no_card_data(body, sent)
    return body


def expect_no_card_data(payload: Any, sent: Mapping[str, Any] | None = None) -> None:
    """No PAN and no CVV anywhere in a body (PCI DSS; catalog rule BP-CARD-MASKED)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    pans = {betterpayment().seed_card_pan} | ({str(sent["card_number"])} if sent and sent.get("card_number") else set())
    for pan in pans:
        ensure(pan not in text, "a full card number appears in the payload")
    seed_cvv = str(seed_request()["card_cvv"])
    cvvs = {seed_cvv} | ({str(sent["card_cvv"])} if sent and sent.get("card_cvv") else set())
    values = _leaf_values(payload) if not isinstance(payload, str) else []
    for key, value in values:
        ensure("cvv" not in key.lower(), f"a CVV field ({key}) appears in the payload")
        ensure(str(value) not in cvvs or key in ("amount",), f"the CVV appears as the value of {key}")


def _leaf_values(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in node.items():
            out.extend(_leaf_values(v, str(k)))
        return out
    if isinstance(node, list):
        return [item for v in node for item in _leaf_values(v, prefix)]
    return [(prefix, node)]


def get_transaction(client: Any, transaction_id: str) -> dict[str, Any]:
    """GET the transaction: documented fields, no error_code, schema-valid."""
    response = client.get_transaction(transaction_id)
    body = dict(expect_ok(response, "get_transaction"))
    expect_shape(body, "transaction")
    ensure("error_code" not in body, f"a transaction carries error_code: {show(response)}")
    return body


def expect_refused_in_status(client: Any, transaction_id: str, status: str, operation: str,
                             attempt: Callable[[], httpx.Response]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An operation the transaction's status does not allow: error 210 naming the operation and the status.
    Returns the transaction before and after the attempt, for the caller to compare."""
    before = get_transaction(client, transaction_id)
    same(before["status"], status, f"status before the refused {operation}")
    expect_error(attempt(), "BP-ERR-210-STATUS", operation=operation, status=status)
    return before, get_transaction(client, transaction_id)


def expect_operation(response: httpx.Response, operation: str, status_code: int | None = None) -> dict[str, Any]:
    """A capture/reverse/refund answer: documented shape, schema, error_code 0, the status pair."""
    body = dict(expect_ok(response, operation))
    expect_shape(body, operation)
    same(body["error_code"], betterpayment().error("BP-ERR-0-NONE").code, "error_code", response)
    if status_code is not None:
        expect_transaction_status(body, status_code)
    return body


def iso_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    ensure(parsed.tzinfo is not None, f"timestamp without a zone: {value}")
    return parsed.astimezone(UTC)


def declared_error_transport(target: Any, control: SimulatorControl | None) -> str:
    """The error transport the target is expected to use: the simulator says which one it runs with; a sandbox
    is expected to follow the catalog's default (in_band, the evidence's choice), which its run confirms."""
    if target.is_simulator:
        if control is None:
            fail("the simulator's error transport needs its control interface")
        return str(control.bp_settings()["error_transport"])
    return betterpayment().error_transport.default
