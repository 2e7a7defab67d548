"""The exact checks of the BetterCharge suites: status, exact body, rate-limit headers, OpenAPI schema, no card data.

Why one module: every suite judges the answers the same strict way, so a check can never be weaker in one suite
than in another. The names and signatures shared with Better Payment are held by `harness.suite.checks.Checks`.
Every failure goes through `harness.suite.failure` (one redacted message naming what differed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from typing import Any

import httpx

from harness import openapi
from harness.cards import mask_digits
from harness.catalog import bettercharge, known_pans
from harness.catalog.bettercharge import ErrorRow
from harness.suite import schema
from harness.suite.answers import expect_status, json_body
from harness.suite.failure import fail, mismatch, same, show

API = "bettercharge"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_UNIX_SECONDS = (10**9, 10**10)  # a Unix time in seconds (not ms, not a delta) lies in this range


def operation_id(op_name: str) -> str:
    """The OpenAPI operationId of a catalog operation, found by its method and path (no second table)."""
    op = bettercharge().operation(op_name)
    return schema.operation_id(API, op.method, op.path)


@cache
def _operation_patterns() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, path pattern, operation name) per catalog operation, literal paths before templated ones."""
    ops = sorted(bettercharge().operations, key=lambda op: op.path.count("{"))
    return tuple((op.method.upper(), _path_pattern(op.path), op.name) for op in ops)


def _path_pattern(path: str) -> re.Pattern[str]:
    """A catalog path template as a pattern: each {placeholder} one path segment, after any base path."""
    parts = _PLACEHOLDER.split(path)
    return re.compile(".*" + "".join(re.escape(p) if i % 2 == 0 else "[^/]+" for i, p in enumerate(parts)))


def operation_of(response: httpx.Response) -> str:
    """The catalog operation an answer is to, by the request's method and path (the document's schemas per
    operation judge its body)."""
    request = response.request
    for method, pattern, name in _operation_patterns():
        if request.method.upper() == method and pattern.fullmatch(request.url.path):
            return name
    fail(f"{request.method} {request.url.path} is none of the catalog's operations")


def check_schema(op_name: str, response: httpx.Response) -> None:
    """Body and headers against the OpenAPI document: catches schema drift the exact checks may not name."""
    target = openapi.SchemaTarget(operation=operation_id(op_name), part="response", status=str(response.status_code))
    try:
        if response.content:
            openapi.validate(API, target, response.json())
        openapi.validate_headers(API, replace(target, part="headers"), response.headers)
    except (openapi.SchemaMismatch, openapi.OpenAPIError) as exc:
        fail(f"{op_name} HTTP {response.status_code} does not match the OpenAPI document: {exc}\n"
             f"  in: {show(response)}")


def rate_headers(response: httpx.Response) -> dict[str, int]:
    """The X-RateLimit-* headers as integers; fails if one is missing or not an integer."""
    values: dict[str, int] = {}
    for name in bettercharge().rate_limit.headers:
        raw = response.headers.get(name)
        if raw is None:
            fail(f"rate-limit header {name} missing: {show(response)}")
        try:
            values[name] = int(str(raw).strip())
        except ValueError:
            fail(f"rate-limit header {name}={raw!r} is not an integer: {show(response)}")
    return values


def check_rate_headers(response: httpx.Response) -> dict[str, int]:
    """BC-RATE-HEADERS on one response: present, the documented limit, a sane remainder, reset in Unix seconds."""
    rl = bettercharge().rate_limit
    limit_name, remaining_name, reset_name = rl.headers
    values = rate_headers(response)
    same(values[limit_name], rl.limit, limit_name, response)
    if not 0 <= values[remaining_name] <= rl.limit:
        fail(f"{remaining_name}={values[remaining_name]} outside 0..{rl.limit}: {show(response)}")
    if not _UNIX_SECONDS[0] <= values[reset_name] < _UNIX_SECONDS[1]:
        fail(f"{reset_name}={values[reset_name]} is not a Unix time in seconds: {show(response)}")
    return values


def _sent_pans(response: httpx.Response) -> list[str]:
    try:
        sent = json.loads(response.request.content or b"null")
    except ValueError:
        return []
    card = sent.get("card") if isinstance(sent, dict) else None
    number = card.get("number") if isinstance(card, dict) else None
    return [number] if isinstance(number, str) and len(number) >= 12 else []


def _walk_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield str(key)
            yield from _walk_keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk_keys(child)


def check_no_card_data(response: httpx.Response) -> None:
    """BC-PAYMENT-MASKED-CARD: no full PAN (sent or any catalog PAN) and no number/cvv field in any answer."""
    text = response.text
    for pan in {*_sent_pans(response), *known_pans()}:
        if pan in text:
            fail(f"a full PAN ({mask_digits(pan)}) appears in the response to "
                 f"{response.request.method} {response.request.url.path}")
    try:
        data = response.json()
    except ValueError:
        return
    leaked = sorted({k for k in _walk_keys(data) if k.lower() in ("number", "cvv", "cvc", "pan")})
    if leaked:
        fail(f"card data fields {leaked} in the response: {show(response)}")


def check_common(op_name: str, response: httpx.Response) -> Any:
    """What every BetterCharge answer must satisfy: rate-limit headers, no card data, JSON, schema."""
    check_rate_headers(response)
    check_no_card_data(response)
    body = json_body(response)
    check_schema(op_name, response)
    return body


def expect_payment(response: httpx.Response, op_name: str, *, state: str | None = None,
                   status: int | None = None, entry: str | None = None) -> dict[str, Any]:
    """A successful payment answer (status from the catalog operation), checked and returned.

    `entry` is the catalog entry `status` and `state` come from (a transition id): a different answer is then a
    Mismatch naming that entry's field, which the report shows as an unconfirmed assumption on a sandbox.
    """
    expected = status if status is not None else bettercharge().operation(op_name).success
    if response.status_code != expected:
        where = (entry, "expect.status") if entry else (f"operation:{op_name}", "success")
        mismatch(API, *where, expected, response.status_code, f"expected HTTP {expected}: {show(response)}")
    body: dict[str, Any] = check_common(op_name, response)
    if state is not None and body.get("state") != state and entry:
        mismatch(API, entry, "expect.state", state, body.get("state"),
                 f"state: expected {state!r}, got {body.get('state')!r}\n  in: {show(response)}")
    if state is not None:
        same(body.get("state"), state, "state", response)
    return body


def template_values(row: ErrorRow, message: str) -> dict[str, str] | None:
    """The placeholder values of a message built from the row's template, or None when it does not fit."""
    parts = _PLACEHOLDER.split(row.message)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+)" for i, p in enumerate(parts))
    match = re.fullmatch(pattern, message, flags=re.S)
    return match.groupdict() if match else None


def error_row_of(response: httpx.Response) -> ErrorRow | None:
    """The catalog error row an answer is (status, code and message template), if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    for row in bettercharge().errors:
        if row.status == response.status_code and row.code == body.get("code") and isinstance(message, str) \
                and template_values(row, message) is not None:
            return row
    return None


def expect_error(response: httpx.Response, error_id: str, /, **values: Any) -> dict[str, str]:
    """The row's status and exactly its body (`values` fill the template; placeholders not given are read from
    the message and must be real values, not the placeholder itself). Returns the values used. The body is
    judged against the document's schema of the operation the request went to."""
    row = bettercharge().error(error_id)
    expect_status(response, row.status)
    body = check_common(operation_of(response), response)
    names = _PLACEHOLDER.findall(row.message)
    missing = [n for n in names if n not in values]
    filled = dict(values)
    if missing:
        message = body.get("message") if isinstance(body, dict) else None
        parsed = template_values(row, message) if isinstance(message, str) else None
        if parsed is None:
            fail(f"{row.id}: message does not follow {row.message!r}: {show(response)}")
        for name in missing:
            value = parsed[name].strip()
            braces = "{" in value or "}" in value
            if not value or value == f"{{{name}}}" or (braces and name != "details"):
                fail(f"{row.id}: placeholder {{{name}}} not filled with a real value: {show(response)}")
            filled[name] = parsed[name]
    same(body, row.render(**filled), f"{row.id} error body", response)
    return {k: str(v) for k, v in filled.items()}


def fields_message(fields: list[str]) -> str:
    """The {fields} value of BAD_REQUEST: dotted paths, sorted, comma separated."""
    return ", ".join(sorted(fields))


def request_fields(op_name: str, body: Any) -> list[str]:
    """What the OpenAPI document says is missing or invalid in a request body (the BAD_REQUEST oracle)."""
    target = openapi.SchemaTarget(operation=operation_id(op_name), part="request")
    return openapi.invalid_fields(API, target, body)


def request_schema(op_name: str) -> dict[str, Any]:
    """The request body schema of an operation, its $ref and allOf merged in (for generating invalid values)."""
    target = openapi.SchemaTarget(operation=operation_id(op_name), part="request")
    return resolve(openapi.node_at(API, openapi.schema_pointer(API, target)))


def resolve(schema: Any) -> dict[str, Any]:
    """A schema of this document with its $ref and allOf merged in (harness.openapi.merged_schema)."""
    return openapi.merged_schema(API, schema)
