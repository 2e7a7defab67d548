"""Bad input never gets a 5xx: it gets 400 naming what is wrong (rule BC-VALIDATION-ROBUST).

The cases are generated from the OpenAPI document's request schemas, not listed: for every field of a valid
request, its removal (when required), a value of the wrong type, one past each bound (minimum, maximum, length,
pattern, enum, format), a huge number, a very long string, and an unknown extra property. The document is also
the oracle of which fields the BAD_REQUEST message must name (dotted, sorted). Refund and void answer their own
"Invalid ... request data" rows. Structural faults (malformed JSON, wrong content type, a body that is not an
object, a bad Idempotency-Key) are added once.

Huge numbers: the document sets no maximum on amounts, but the rule asks for a 400 naming the field; a number
beyond any int64 is what "huge" means here. Long strings: where the schema has no length limit, the API may
accept the value, or refuse it naming that field; either way never a 5xx.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import ErrorRow
from harness.suite.bettercharge.checks import expect_error, fields_message, request_fields, request_schema, resolve
from harness.suite.bettercharge.requests import Api
from harness.suite.bettercharge.scenarios import Scenario
from harness.suite.failure import fail

CATALOG = bettercharge()

HUGE = 10**30  # beyond int64 and any currency's amounts
LONG = 10_000  # characters
_BAD_REQUEST = next(e for e in CATALOG.errors if e.trigger == "missing_fields")
#: The row each operation answers a schema violation of its body with.
ROWS: dict[str, ErrorRow] = {
    "authorize": _BAD_REQUEST,
    "charge": _BAD_REQUEST,
    "capture": _BAD_REQUEST,
    "stop": _BAD_REQUEST,
    "refund": next(e for e in CATALOG.errors if e.trigger == "malformed_refund"),
    "void": next(e for e in CATALOG.errors if e.trigger == "malformed_void"),
}
#: The situation a payment must be in for the operation's body to be judged (any: validation comes first).
SITUATION = {"capture": "AUTHORIZED", "void": "AUTHORIZED", "stop": "AUTHORIZED", "refund": "CAPTURED"}
UNKNOWN_PROPERTY = "paycertUnexpected"
_DELETE = object()


def template(op: str) -> dict[str, Any]:
    """A valid body of the operation, for generating cases at collection time (runtime bodies are fresh)."""
    if op in ("authorize", "charge"):
        year = datetime.now(UTC).year + 3
        return {"merchantId": "paycert-template", "accountId": "paycert-template-account",
                "orderReference": "paycert-template-order", "initiator": "CIT",
                "amount": CATALOG.amounts.authorized, "currency": "EUR",
                "customer": {"email": "customer@example.com"},
                "card": {"number": CATALOG.approving_card.pan, "expMonth": 1, "expYear": year, "cvv": "123",
                         "holder": "Paycert Certification"}}
    if op in ("capture", "refund"):
        return {"amount": CATALOG.amounts.partial_refund}
    if op == "void":
        return {"reason": "paycert validation"}
    return {}


@dataclass(frozen=True)
class Mutation:
    op: str
    path: tuple[str, ...]
    kind: str
    value: Any  # _DELETE removes the field
    rule_expects: bool = False  # the rule requires a 400 even where the schema has no bound (huge numbers)
    lenient: bool = False  # the schema allows it: accepted, or refused naming the field

    @property
    def label(self) -> str:
        return f"{self.op}-{'.'.join(self.path) or 'body'}-{self.kind}"

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        mutated = copy.deepcopy(body)
        *parents, name = self.path
        node = mutated
        for part in parents:
            node = node[part]
        if self.value is _DELETE:
            node.pop(name, None)
        else:
            node[name] = self.value
        return mutated


def _schema_at(op: str, path: tuple[str, ...]) -> dict[str, Any]:
    node: dict[str, Any] = request_schema(op)
    for part in path:
        node = resolve((node.get("properties") or {}).get(part, {}))
    return node


def _wrong_values(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """Candidate wrong values for a field's schema; the document's own verdict later keeps the invalid ones."""
    kinds = schema.get("type")
    values: list[tuple[str, Any]] = []
    if kinds == "integer":
        values += [("string", "1000"), ("decimal", 10.5), ("boolean", True), ("null", None)]
        if "minimum" in schema:
            values.append(("below-minimum", schema["minimum"] - 1))
        if "maximum" in schema:
            values.append(("above-maximum", schema["maximum"] + 1))
    elif kinds == "string":
        values += [("number", 12345), ("null", None), ("empty", ""), ("blank", "   ")]
        if "pattern" in schema:
            values.append(("pattern", "not valid!"))
        if "maxLength" in schema:
            values.append(("too-long", "a" * (schema["maxLength"] + 1)))
        if "enum" in schema:
            values.append(("not-in-enum", f"NOT_{schema['enum'][0]}"))
        if schema.get("format") == "email":
            values.append(("format", "not-an-email"))
    elif kinds == "object":
        values += [("string", "not an object"), ("array", [])]
    return values


def _paths(body: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, value in body.items():
        found.append((*prefix, name))
        if isinstance(value, dict):
            found += _paths(value, (*prefix, name))
    return found


def mutations(op: str) -> list[Mutation]:
    body = template(op)
    found: list[Mutation] = []

    def keep(m: Mutation) -> None:
        invalid = bool(request_fields(op, m.apply(body)))
        if invalid or m.rule_expects or m.lenient:
            found.append(m)

    for path in _paths(body):
        schema = _schema_at(op, path)
        keep(Mutation(op, path, "missing", _DELETE))
        for kind, value in _wrong_values(schema):
            keep(Mutation(op, path, kind, value))
        if schema.get("type") == "integer":
            keep(Mutation(op, path, "huge", HUGE, rule_expects=True))
        if schema.get("type") == "string" and "enum" not in schema:
            long_value = "a" * LONG + ("@example.com" if schema.get("format") == "email" else "")
            candidate = Mutation(op, path, "long", long_value)
            keep(Mutation(op, path, "long", long_value, lenient=not request_fields(op, candidate.apply(body))))
    for path in [(), *(p for p in _paths(body) if isinstance(_get(body, p), dict))]:
        keep(Mutation(op, (*path, UNKNOWN_PROPERTY), "unknown-property", 1))
    if op in ("authorize", "charge"):
        keep(Mutation(op, ("token",), "card-and-token", CATALOG.tokens[0].token))
    return found


def _get(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = body
    for part in path:
        node = node[part]
    return node


def _case(m: Mutation) -> Any:
    return pytest.param(m, marks=[pytest.mark.requirement("BC-VALIDATION-ROBUST", ROWS[m.op].id)], id=m.label)


CASES = [_case(m) for op in ("authorize", "capture", "refund", "void", "stop") for m in mutations(op)]


def _valid_body(api: Api, op: str) -> tuple[dict[str, Any], str | None]:
    """A fresh valid body for the operation and, for payment operations, the payment it applies to."""
    if op in ("authorize", "charge"):
        return api.body(), None
    scenario = Scenario(api)
    scenario.reach(SITUATION[op])
    return template(op), scenario.bc_id


def _send(api: Api, op: str, bc_id: str | None, **kwargs: Any) -> httpx.Response:
    operation = CATALOG.operation(op)
    path = operation.path.format(bcId=bc_id) if bc_id else operation.path
    return api.client.raw(operation.method, path, idempotency_key=None, **kwargs)


def _expect_refusal(response: httpx.Response, op: str, fields: list[str] | None) -> None:
    """The operation's row; BAD_REQUEST names exactly `fields` (None: any non-empty list)."""
    if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
        fail(f"bad input answered with a server error: HTTP {response.status_code}")
    row = ROWS[op]
    if "{fields}" not in row.message:
        expect_error(response, row.id)
    elif fields is not None:
        expect_error(response, row.id, fields=fields_message(fields))
    else:
        values = expect_error(response, row.id)
        if not values.get("fields", "").strip():
            fail(f"{row.id}: the message names no field")


@pytest.mark.parametrize("mutation", CASES)
def test_invalid_field(api: Api, mutation: Mutation) -> None:
    body, bc_id = _valid_body(api, mutation.op)
    mutated = mutation.apply(body)
    expected = request_fields(mutation.op, mutated) or (list(map(".".join, [mutation.path]))
                                                       if mutation.rule_expects else [])
    response = _send(api, mutation.op, bc_id, json=mutated)
    if mutation.lenient and not expected:
        if response.status_code == CATALOG.operation(mutation.op).success:
            return  # the schema sets no limit and the API accepted it: fine, as long as it did not break
        _expect_refusal(response, mutation.op, [".".join(mutation.path)])
        return
    _expect_refusal(response, mutation.op, expected)


STRUCTURAL: dict[str, dict[str, Any]] = {
    "malformed-json": {"content": b'{"merchantId": "paycert", "amount": 1000,', "headers": {}},
    "json-array": {"content": b"[]", "headers": {}},
    "json-null": {"content": b"null", "headers": {}},
    "empty-body": {"content": b"", "headers": {}},
    "text-content-type": {"content": None, "headers": {"Content-Type": "text/plain"}},
    "form-content-type": {"content": None, "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
}


@pytest.mark.parametrize("kind", [
    pytest.param(k, marks=pytest.mark.requirement("BC-VALIDATION-ROBUST", _BAD_REQUEST.id), id=f"authorize-{k}")
    for k in STRUCTURAL
])
def test_malformed_request(api: Api, kind: str) -> None:
    spec = STRUCTURAL[kind]
    body = api.body()
    content = spec["content"] if spec["content"] is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **spec["headers"]}
    response = _send(api, "authorize", None, content=content, headers=headers)
    _expect_refusal(response, "authorize", None)


@pytest.mark.requirement("BC-VALIDATION-ROBUST", _BAD_REQUEST.id)
def test_idempotency_key_that_is_not_a_uuid(api: Api) -> None:
    header = CATALOG.idempotency.header
    response = api.client.authorize(api.body(), idempotency_key="not a uuid")
    _expect_refusal(response, "authorize", [header])


@pytest.mark.requirement("BC-VALIDATION-ROBUST", _BAD_REQUEST.id)
def test_fields_are_listed_sorted_and_dotted(api: Api) -> None:
    """Several faults at once: every field named once, dotted, in sorted order."""
    body = api.body()
    for name in ("currency", "amount"):
        body.pop(name)
    body["card"]["expMonth"] = 0
    body["customer"] = {}
    response = api.client.authorize(body)
    expected = request_fields("authorize", body)
    if len(expected) < 4:
        fail(f"the OpenAPI document finds only {expected} wrong; the case needs four")
    _expect_refusal(response, "authorize", expected)  # the exact message: sorted, dotted, each once
