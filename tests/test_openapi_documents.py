"""The two OpenAPI documents: valid OpenAPI 3.1, seed examples match them, and their precision is real.

Why these tests: schemathesis fuzzes the simulator with these documents and the clients are checked against them,
so a loose or broken document would let wrong behaviour pass. The negative cases prove the checks can fail.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from openapi_spec_validator import validate as validate_spec

from harness import openapi
from harness.cards import luhn_valid
from harness.openapi import Example, OpenAPIError, SchemaMismatch, SchemaTarget

APIS = openapi.API_NAMES
ALL_EXAMPLES: list[Example] = [example for api in APIS for example in openapi.examples(api)]


def _operations(api: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi.document(api)["paths"].items():
        for method in openapi.HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _deref(api: str, node: dict[str, Any]) -> dict[str, Any]:
    return dict(openapi.deref(api, node))


def _parameter_names(api: str, path: str, op: dict[str, Any]) -> set[str]:
    item = openapi.document(api)["paths"][path]
    return {_deref(api, p)["name"] for p in [*item.get("parameters", []), *op.get("parameters", [])]}


def _error_codes(api: str, response: dict[str, Any]) -> list[str] | None:
    """The `code` enum a BetterCharge error response narrows to (None if it does not narrow)."""
    schema = _deref(api, response)["content"]["application/json"]["schema"]
    return schema.get("properties", {}).get("code", {}).get("enum")


# --- the documents -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_document_passes_openapi_spec_validator(api: str) -> None:
    document = openapi.document(api)
    assert document["openapi"] == "3.1.0"
    validate_spec(document)


@pytest.mark.parametrize("api", APIS)
def test_every_operation_schema_and_webhook_states_its_provenance(api: str) -> None:
    document = openapi.document(api)
    marked: dict[str, dict[str, Any]] = {f"schema {name}": s for name, s in document["components"]["schemas"].items()}
    marked |= {f"operation {op['operationId']}": op for _, _, op in _operations(api)}
    for name, item in document.get("webhooks", {}).items():
        marked[f"webhook {name}"] = item["post"]
    missing = [
        name
        for name, node in marked.items()
        if node.get("x-provenance") not in ("documented", "adopted") or not str(node.get("x-source", "")).strip()
    ]
    assert not missing, f"without x-provenance documented|adopted and an x-source: {missing}"


@pytest.mark.parametrize("api", APIS)
def test_operation_ids_are_unique_and_links_point_to_real_operations(api: str) -> None:
    operations = {op["operationId"]: (path, op) for path, _, op in _operations(api)}
    assert len(operations) == len(list(_operations(api)))
    for path, method, op in _operations(api):
        for status, response in op["responses"].items():
            for link_name, link in _deref(api, response).get("links", {}).items():
                where = f"{method.upper()} {path} {status} link {link_name}"
                assert link["operationId"] in operations, f"{where}: unknown operationId"
                target_path, target_op = operations[link["operationId"]]
                unknown = set(link.get("parameters", {})) - _parameter_names(api, target_path, target_op)
                assert not unknown, f"{where}: parameters {unknown} not declared by {link['operationId']}"
                for expression in [*link.get("parameters", {}).values(), *link.get("requestBody", {}).values()]:
                    assert expression.startswith("$response.body#/"), f"{where}: {expression}"


def test_document_hash_is_the_file_hash() -> None:
    for api in APIS:
        assert openapi.sha256(api) == hashlib.sha256(openapi.document_path(api).read_bytes()).hexdigest()


# --- BetterCharge specifics ----------------------------------------------------------------------------------

BC = "bettercharge"
RATE_LIMIT_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}


def test_bettercharge_auth_needs_both_headers_together() -> None:
    document = openapi.document(BC)
    assert document["security"] == [{"ApiKey": [], "PartnerId": []}]
    schemes = document["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "header", "x-api-key"),
        ("apiKey", "header", "x-partner-id"),
    }


def test_bettercharge_every_response_has_rate_limit_headers_and_429_retry_after() -> None:
    for path, method, op in _operations(BC):
        for status, response in op["responses"].items():
            headers = {name: _deref(BC, h) for name, h in _deref(BC, response).get("headers", {}).items()}
            required = {name for name, header in headers.items() if header.get("required")}
            expected = RATE_LIMIT_HEADERS | ({"Retry-After"} if status == "429" else set())
            assert required == expected, f"{method.upper()} {path} {status}: required headers {sorted(required)}"
            assert set(headers) - required <= {"Idempotent-Replayed"}, f"{method.upper()} {path} {status}"
        assert "429" in op["responses"], f"{method.upper()} {path}: no 429"


def test_bettercharge_every_post_takes_an_optional_uuid_idempotency_key() -> None:
    for path, method, op in _operations(BC):
        params = [_deref(BC, p) for p in op.get("parameters", [])]
        keys = [p for p in params if p["name"] == "Idempotency-Key"]
        if method == "post":
            assert len(keys) == 1, f"POST {path}: no Idempotency-Key"
            assert keys[0]["in"] == "header" and keys[0]["required"] is False
            assert keys[0]["schema"] == {"type": "string", "format": "uuid"}
        else:
            assert not keys, f"{method.upper()} {path}: Idempotency-Key is for POST only"


def test_bettercharge_every_error_response_narrows_the_code() -> None:
    for path, method, op in _operations(BC):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                codes = _error_codes(BC, response)
                assert codes, f"{method.upper()} {path} {status}: error body does not narrow `code`"


def _catalog() -> Any:
    from harness.catalog import bettercharge

    return bettercharge()


def _bc_operation_for(method: str, path: str) -> dict[str, Any]:
    return openapi.document(BC)["paths"][path][method.lower()]


def test_bettercharge_document_agrees_with_the_catalog() -> None:
    """States, decline reasons, operations and error codes per status are the catalog's, both ways."""
    catalog = _catalog()
    schemas = openapi.document(BC)["components"]["schemas"]
    assert schemas["PaymentState"]["enum"] == [state.name for state in catalog.states]
    decline_reasons = schemas["Payment"]["properties"]["declineReason"]["enum"]
    assert decline_reasons == [*(reason.reason for reason in catalog.decline_reasons), None]
    for operation in catalog.operations:
        op = _bc_operation_for(operation.method, operation.path)
        assert str(operation.success) in op["responses"], f"{operation.name}: success {operation.success}"

    catalog_codes: dict[int, set[str]] = defaultdict(set)
    for row in catalog.errors:
        catalog_codes[row.status].add(row.code)
    document_codes: dict[int, set[str]] = defaultdict(set)
    for _, _, op in _operations(BC):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                document_codes[int(status)] |= set(_error_codes(BC, response) or [])
    for status, codes in catalog_codes.items():
        assert document_codes[status] == codes, f"HTTP {status}: document {document_codes[status]} vs catalog {codes}"


def test_bettercharge_transition_errors_are_declared_by_their_operation() -> None:
    catalog = _catalog()
    by_name = {operation.name: operation for operation in catalog.operations}
    rows = {row.id: row for row in catalog.errors}
    for transition in catalog.transitions:
        spec = by_name[transition.operation]
        responses = _bc_operation_for(spec.method, spec.path)["responses"]
        expect = transition.expect
        assert str(expect.status) in responses, f"{transition.id}: {expect.status} not declared"
        if expect.error:
            codes = _error_codes(BC, responses[str(expect.status)]) or []
            assert rows[expect.error].code in codes, f"{transition.id}: {rows[expect.error].code} not in {codes}"


def test_bettercharge_catalog_decisions_match_the_decision_schema() -> None:
    catalog = _catalog()
    target = SchemaTarget(component="Decision")
    for email in catalog.emails:
        openapi.validate(BC, target, email.decision)
    openapi.validate(BC, target, catalog.default_decision)


def test_bettercharge_payment_request_is_card_xor_token() -> None:
    target = SchemaTarget(operation="authorizePayment", part="request")
    base = {"merchantId": "m-1", "orderReference": "o-1", "amount": 100, "currency": "EUR"}
    base["customer"] = {"email": "someone@example.com"}
    card = {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvv": "123", "holder": "A B"}
    assert openapi.problems(BC, target, {**base, "token": "tok"}) == []
    assert openapi.problems(BC, target, {**base, "card": card}) == []
    assert openapi.invalid_fields(BC, target, base) == ["card", "token"]
    assert openapi.invalid_fields(BC, target, {**base, "card": card, "token": "tok"}) == ["card", "token"]


def _payment(**changes: Any) -> dict[str, Any]:
    card = _catalog().cards[0]
    payment = {
        "bcId": "bc-1",
        "merchantId": "m-1",
        "accountId": None,
        "orderReference": "o-1",
        "initiator": "CIT",
        "amount": 1000,
        "currency": "EUR",
        "state": "AUTHORIZED",
        "decision": _catalog().emails[0].decision,
        "liabilityShift": False,
        "declineReason": None,
        "failureReason": None,
        "authorizedAmount": 1000,
        "capturedAmount": 0,
        "refundedAmount": 0,
        "autoVoided": False,
        "paymentMethod": "card",
        "card": {
            "brand": card.brand,
            "funding": card.funding,
            "bin": card.bin,
            "last4": card.last4,
            "expMonth": 12,
            "expYear": 2030,
        },
        "createdAt": "2025-11-21T03:07:00Z",
        "updatedAt": "2025-11-21T03:07:00.250+00:00",
    }
    return payment | changes


def test_bettercharge_payment_object_rules() -> None:
    target = SchemaTarget(component="Payment")
    system_decline = {"state": "DECLINED", "decision": None, "declineReason": "MERCHANT_IS_DISABLED"}
    assert openapi.problems(BC, target, _payment()) == []
    assert openapi.problems(BC, target, _payment(paymentMethod="token", card=None)) == []
    assert openapi.problems(BC, target, _payment(**system_decline, authorizedAmount=0)) == []
    broken = {
        "token payment with a card": _payment(paymentMethod="token"),
        "card payment without a card": _payment(card=None),
        "decline reason on an authorized payment": _payment(declineReason="COMMON_ERROR"),
        "unknown state": _payment(state="SETTLED"),
        "undocumented decline reason": _payment(state="DECLINED", declineReason="NOPE"),
        "blank account": _payment(accountId=" "),
        "amount zero": _payment(amount=0),
        "full PAN field": _payment(card=_payment()["card"] | {"number": "4242424242424242"}),
        "field missing": {k: v for k, v in _payment().items() if k != "failureReason"},
        "bad timestamp": _payment(createdAt="yesterday"),
    }
    for why, payment in broken.items():
        assert openapi.problems(BC, target, payment), why


def test_invalid_fields_lists_dotted_paths_sorted() -> None:
    target = SchemaTarget(operation="authorizePayment", part="request")
    body = {"merchantId": "m-1", "amount": 0, "currency": "EUR", "customer": {"email": "nobody"}, "token": "t"}
    assert openapi.invalid_fields(BC, target, body) == ["amount", "customer.email", "orderReference"]


# --- Better Payment specifics --------------------------------------------------------------------------------

BP = "betterpayment"


def test_betterpayment_every_post_takes_both_optional_idempotency_headers() -> None:
    for path, method, op in _operations(BP):
        names = {_deref(BP, p)["name"]: _deref(BP, p) for p in op.get("parameters", [])}
        expected = {"X-Idempotency-Key", "Idempotency-Key"}
        if method == "post":
            assert expected <= set(names), f"POST {path}: {sorted(names)}"
            assert all(names[n]["required"] is False and names[n]["in"] == "header" for n in expected)
        else:
            assert not expected & set(names)


def test_betterpayment_webhooks_are_form_encoded_and_signed() -> None:
    document = openapi.document(BP)
    assert set(document["webhooks"]) >= {"paymentCompleted", "paymentDeclined", "refund"}
    for name, item in document["webhooks"].items():
        op = item["post"]
        assert list(op["requestBody"]["content"]) == ["application/x-www-form-urlencoded"], name
        schema = _deref(BP, op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"])
        required = set(schema.get("required", [])) | {
            r for part in schema.get("allOf", []) for r in _deref(BP, part).get("required", [])
        }
        assert "checksum" in required, f"{name}: checksum not required"
        signature = [_deref(BP, p) for p in op["parameters"] if _deref(BP, p)["name"] == "Gateway-Webhook-Signature"]
        assert signature and signature[0]["required"] is True and signature[0]["in"] == "header", name


def test_betterpayment_signature_pattern_accepts_the_documented_vector() -> None:
    """The header pattern must admit a real signature: the doc's vector (betterpayment.md §6.4)."""
    parameter = openapi.document(BP)["components"]["parameters"]["GatewayWebhookSignature"]
    assert re.fullmatch(parameter["schema"]["pattern"], "5Wc1Uxqje5HVcFA7fcxonkl2QdKBq7BQtt3i7bPpaeA=")


def test_betterpayment_amount_accepts_number_or_numeric_string_only() -> None:
    target = SchemaTarget(component="RequestAmount")
    for good in ("15.90", "0.01", "12", 12.4, 1):
        assert openapi.problems(BP, target, good) == [], good
    for bad in ("0", "0.00", "-1", "15.901", "1e3", "15,90", 0, -2.5, None, True):
        assert openapi.problems(BP, target, bad), bad


def _bp_catalog() -> Any:
    from harness.catalog import betterpayment

    return betterpayment()


# Error rows for answers outside the documented operations (simulator pages, wrong method, unknown path).
BP_ROWS_OUTSIDE_THE_OPERATIONS = {"unknown_challenge", "method_not_allowed", "unknown_endpoint"}


def test_betterpayment_document_agrees_with_the_catalog() -> None:
    """Payment types, the status table, operations, error codes per HTTP status and postback layouts."""
    catalog = _bp_catalog()
    schemas = openapi.document(BP)["components"]["schemas"]
    assert schemas["PaymentType"]["enum"] == [pt.name for pt in catalog.payment_types]
    pairs = [
        (b["properties"]["status_code"]["const"], b["properties"]["status"]["const"])
        for b in schemas["TransactionStatus"]["oneOf"]
    ]
    assert pairs == [(status.code, status.name) for status in catalog.statuses]
    for operation in catalog.operations:
        op = openapi.document(BP)["paths"][operation.path][operation.method.lower()]
        assert str(operation.success) in op["responses"], operation.name

    document_codes: dict[int, set[int]] = defaultdict(set)
    for _, _, op in _operations(BP):
        for status, response in op["responses"].items():
            schema = _deref(BP, response)["content"]["application/json"]["schema"]
            if int(status) >= 400:
                document_codes[int(status)] |= set(schema["properties"]["error_code"]["enum"])
    catalog_codes: dict[int, set[int]] = defaultdict(set)
    for row in catalog.error_codes:
        if row.code and row.name not in BP_ROWS_OUTSIDE_THE_OPERATIONS:
            catalog_codes[row.http_status].add(row.code)
    assert document_codes == catalog_codes

    layouts = {
        "completed": "PaymentCompletedPostback",
        "declined": "PaymentDeclinedPostback",
        "refund": "RefundPostback",
    }
    for kind, schema_name in layouts.items():
        schema = schemas[schema_name]
        assert schema["required"] == catalog.postbacks.kinds[kind].names, kind
        status = schema["properties"]["status_code"]
        assert status.get("enum", [status.get("const")]) == catalog.postbacks.kinds[kind].statuses, kind


def _body_for(payment_type: Any) -> dict[str, Any]:
    """A valid create body for a payment type, built from the seed's request and the catalog's block table."""
    catalog = _bp_catalog()
    body = {k: v for k, v in _example(BP, "payment-request-minimal.json").load().items()}
    body["payment_type"] = payment_type.name
    for block, presence in payment_type.blocks.items():
        if presence == "absent":
            for spec in catalog.field_blocks[block].fields:
                body.pop(spec.name, None)
    for name in payment_type.also_required:
        body[name] = f"{name} of the test"
    return body


CREATE_OPERATIONS = {"payment": "createPayment", "authorize": "authorizePayment", "register": "registerPayment"}


def _documented_block_table() -> dict[str, dict[str, str]]:
    """The document's block table (CreateRequestRules x-blocks): the docs' methods and their four blocks."""
    table: dict[str, dict[str, str]] = openapi.document(BP)["components"]["schemas"]["CreateRequestRules"]["x-blocks"]
    return table


def test_betterpayment_block_table_agrees_and_the_rest_is_observed() -> None:
    """The document spells out the blocks of the docs' block table; the types only the vendor's plugins show
    (provenance observed) are certified by the suites from the catalog, not by the schema."""
    catalog = _bp_catalog()
    table = _documented_block_table()
    for payment_type in catalog.payment_types:
        if payment_type.name in table:
            assert table[payment_type.name] == {b: payment_type.blocks[b] for b in table[payment_type.name]}
        else:
            assert payment_type.provenance == "observed", payment_type.name


def test_betterpayment_create_requests_follow_the_block_table() -> None:
    catalog = _bp_catalog()
    table = _documented_block_table()
    for payment_type in catalog.payment_types:
        if payment_type.name not in table:
            continue
        body = _body_for(payment_type)
        for operation, operation_id in CREATE_OPERATIONS.items():
            target = SchemaTarget(operation=operation_id, part="request")
            found = openapi.problems(BP, target, body)
            if operation in payment_type.operations:
                assert found == [], f"{payment_type.name} {operation}: {found}"
            else:
                assert found, f"{payment_type.name} must not be accepted by {operation}"
        target = SchemaTarget(operation="createPayment", part="request")
        for block, presence in table[payment_type.name].items():
            for spec in catalog.field_blocks[block].fields:
                if presence == "required" and spec.required:
                    short = {k: v for k, v in body.items() if k != spec.name}
                    assert spec.name in openapi.invalid_fields(BP, target, short), (payment_type.name, spec.name)
                    blank = body | {spec.name: " "}
                    assert openapi.problems(BP, target, blank), (payment_type.name, spec.name, "blank")
                if presence == "absent":
                    extra = body | {spec.name: "x"}
                    assert spec.name in openapi.invalid_fields(BP, target, extra), (payment_type.name, spec.name)


def test_betterpayment_registered_card_payment_needs_no_card_data() -> None:
    target = SchemaTarget(operation="createPayment", part="request")
    seed = _example(BP, "payment-request-minimal.json").load()
    card_fields = [k for k in seed if k.startswith("card_")]
    recurring = {k: v for k, v in seed.items() if k not in card_fields} | {
        "original_transaction_id": "938834bc-769f-44e7-ab25-da9aeaad5346",
        "recurring": 1,
    }
    assert openapi.problems(BP, target, recurring) == []
    assert openapi.problems(BP, target, recurring | {"card_number": seed["card_number"]})
    assert openapi.problems(BP, target, recurring | {"payment_type": "ideal"})
    register = SchemaTarget(operation="registerPayment", part="request")
    assert openapi.problems(BP, register, seed | {"amount": "0.00"}) == []
    assert openapi.problems(BP, register, seed | {"original_transaction_id": "938834bc-769f-44e7-ab25-da9aeaad5346"})


def test_betterpayment_example_files_equal_the_catalog_copies() -> None:
    """The catalog keeps the seed examples too (seed_examples); the two copies must not drift apart."""
    seed = _bp_catalog().seed_examples
    pairs = {
        "payment-request-minimal.json": seed.payment_request,
        "payment-response-direct.json": seed.direct_response,
        "payment-response-3ds-required.json": seed.pending_response,
        "postback-completed.json": seed.postback_completed,
        "postback-declined.json": seed.postback_declined,
    }
    for file, copy_in_catalog in pairs.items():
        assert _example(BP, file).load() == copy_in_catalog, file


# --- seed examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=[example.id for example in ALL_EXAMPLES])
def test_seed_example_matches_its_schema(example: Example) -> None:
    content = example.load()
    if example.target.part == "headers":
        openapi.validate_headers(example.api, example.target, content, example.allow_missing_headers)
    else:
        openapi.validate(example.api, example.target, content)


@pytest.mark.parametrize("api", APIS)
def test_examples_index_lists_exactly_the_example_files(api: str) -> None:
    listed = [example.file for example in openapi.examples(api)]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    on_disk = {path.name for path in openapi.examples_dir(api).glob("*.json")}
    assert set(listed) == on_disk
    assert all(example.provenance in ("documented", "adopted") for example in openapi.examples(api))


def _example(api: str, file: str) -> Example:
    return next(example for example in openapi.examples(api) if example.file == file)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        body[key] = value

    return mutate


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        del body[key]

    return mutate


BROKEN_BODIES: list[tuple[str, str, str, Callable[[dict[str, Any]], None], str]] = [
    (BP, "payment-response-direct.json", "status_code as a string", _set("status_code", "3"), "status_code"),
    (BP, "payment-response-direct.json", "status and code disagree", _set("status", "declined"), "status"),
    (BP, "payment-response-direct.json", "error_code not 0", _set("error_code", 5), "error_code"),
    (BP, "payment-response-direct.json", "undocumented field", _set("currency", "EUR"), "currency"),
    (BP, "payment-response-3ds-required.json", "action without data", _drop("action_data"), "action_data"),
    (BP, "payment-request-minimal.json", "card number missing", _drop("card_number"), "card_number"),
    (BP, "payment-request-minimal.json", "amount with a comma", _set("amount", "15,90"), "amount"),
    (BP, "postback-completed.json", "checksum not hex", _set("checksum", "XYZ"), "checksum"),
    (BP, "postback-completed.json", "declined sent as completed", _set("status_code", 6), "status_code"),
    (BC, "error-body-structure.json", "code as a number", _set("code", 400), "code"),
    (BC, "error-body-structure.json", "extra field", _set("details", "x"), "details"),
    (BC, "error-body-structure.json", "message missing", _drop("message"), "message"),
]


@pytest.mark.parametrize(
    ("api", "file", "mutate", "field"),
    [
        pytest.param(api, file, mutate, field, id=f"{api}:{file.removesuffix('.json')}:{why.replace(' ', '-')}")
        for api, file, why, mutate, field in BROKEN_BODIES
    ],
)
def test_broken_example_is_rejected(api: str, file: str, mutate: Callable[[dict[str, Any]], None], field: str) -> None:
    example = _example(api, file)
    body = copy.deepcopy(example.load())
    openapi.validate(api, example.target, body)  # intact: passes
    mutate(body)
    with pytest.raises(SchemaMismatch):
        openapi.validate(api, example.target, body)
    assert field in openapi.invalid_fields(api, example.target, body)


def test_form_encoded_postback_is_typed_before_validation() -> None:
    """On the wire a postback is form text; form_fields gives the values the schema's types."""
    example = _example(BP, "postback-completed.json")
    wire = urlencode(
        {name: f"{value:.2f}" if name == "amount" else str(value) for name, value in example.load().items()}
    )
    fields = dict(parse_qsl(wire, keep_blank_values=True))
    typed = openapi.form_fields(BP, example.target, fields)
    assert typed == example.load()
    openapi.validate(BP, example.target, typed)
    broken = openapi.form_fields(BP, example.target, fields | {"status_code": "3.0", "amount": "15,90"})
    assert set(openapi.invalid_fields(BP, example.target, broken)) >= {"status_code", "amount"}


def test_error_code_outside_the_status_is_rejected() -> None:
    body = _example(BC, "error-body-structure.json").load() | {"code": "BAD_REQUEST"}
    with pytest.raises(SchemaMismatch, match="UNAUTHORIZED"):
        openapi.validate(BC, SchemaTarget(operation="getPayment", part="response", status="401"), body)


def test_broken_rate_limit_headers_are_rejected() -> None:
    example = _example(BC, "rate-limited-429.headers.json")
    headers = example.load()
    assert openapi.header_problems(BC, example.target, headers) == ["Retry-After: required header is missing"]
    broken = headers | {"X-RateLimit-Reset": "soon"}
    with pytest.raises(SchemaMismatch, match="X-RateLimit-Reset"):
        openapi.validate_headers(BC, example.target, broken, example.allow_missing_headers)
    assert openapi.header_problems(BC, example.target, headers | {"Retry-After": "30"}) == []


# --- bad input to the loader ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: openapi.document("stripe"), "unknown API 'stripe'"),
        (lambda: openapi.validate(BC, SchemaTarget(operation="nope", part="request"), {}), "no operation"),
        (lambda: openapi.validate(BC, SchemaTarget(component="Nope"), {}), "no component schema 'Nope'"),
        (
            lambda: openapi.validate(BC, SchemaTarget(operation="getPayment", part="response", status="418"), {}),
            "no response for status 418",
        ),
        (lambda: openapi.validate(BC, SchemaTarget(operation="getPayment", part="request"), {}), "no request body"),
        (lambda: SchemaTarget.from_mapping({"component": "Error", "webhook": "x"}), "exactly one of"),
        (lambda: SchemaTarget.from_mapping({"operation": "getPayment"}), "needs a status"),
        (lambda: SchemaTarget.from_mapping({"component": "Error", "colour": "red"}), "unknown keys"),
    ],
    ids=[
        "unknown-api",
        "unknown-operation",
        "unknown-component",
        "undeclared-status",
        "no-body",
        "two-anchors",
        "no-status",
        "unknown-key",
    ],
)
def test_bad_names_give_a_clear_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(OpenAPIError, match=re.escape(message)):
        call()


# --- schemathesis sees the same contract ---------------------------------------------------------------------


def _luhn_numbers() -> Any:
    """Card numbers that pass Luhn: what the documents' `pan` format means to a generator."""
    from hypothesis import strategies as st

    def complete(head: str) -> str:
        return next(head + digit for digit in "0123456789" if luhn_valid(head + digit))

    return st.from_regex(r"\A[0-9]{11,18}\Z").map(complete)


def _check_generated_bodies(api: str, operation: Any, target: SchemaTarget) -> None:
    from hypothesis import HealthCheck, given, settings

    @given(operation.as_strategy())
    @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        if isinstance(case.body, dict):
            found = openapi.problems(api, target, case.body)
            assert not found, json.dumps(case.body, default=str) + f" -> {found}"

    check()


@pytest.mark.parametrize("api", APIS)
def test_schemathesis_generated_requests_pass_our_validator(api: str) -> None:
    """The simulator validates requests with harness.openapi; what schemathesis generates as valid must pass it.

    Otherwise a fuzz run would report "valid data rejected" for a disagreement between two validators
    (e.g. a regex class that means different things to them), not for a simulator bug.
    """
    schemathesis = pytest.importorskip("schemathesis")
    schemathesis.openapi.format("pan", _luhn_numbers())
    schema = schemathesis.openapi.from_dict(openapi.document(api))
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        raw = operation.definition.raw
        if "requestBody" in raw:
            _check_generated_bodies(api, operation, SchemaTarget(operation=raw["operationId"], part="request"))
            checked += 1
    assert checked


def test_node_at_and_deref_follow_pointers_and_name_a_bad_one() -> None:
    for api in openapi.API_NAMES:
        schemas = openapi.document(api)["components"]["schemas"]
        name = next(iter(schemas))
        assert openapi.node_at(api, f"#/components/schemas/{name}") is schemas[name]
        assert openapi.deref(api, {"$ref": f"#/components/schemas/{name}"}) is schemas[name]
        with pytest.raises(OpenAPIError, match="points nowhere"):
            openapi.node_at(api, "/components/schemas/NoSuchSchema")
        with pytest.raises(OpenAPIError, match="cannot follow"):
            openapi.deref(api, {"$ref": "other.yaml#/x"})


def test_schema_parts_and_merged_schema_see_through_ref_and_all_of() -> None:
    api = "bettercharge"
    own = {"description": "own", "allOf": [{"type": "object", "description": "allOf"}],
           "$ref": f"#/components/schemas/{next(iter(openapi.document(api)['components']['schemas']))}"}
    parts = openapi.schema_parts(api, own)
    assert parts[0] is own and parts[-1] == {"type": "object", "description": "allOf"} and len(parts) >= 3
    merged = openapi.merged_schema(api, own)
    assert merged["description"] == "own" and "$ref" not in merged and "allOf" not in merged
    cyclic = {"$ref": "#/components/schemas/Loop"}
    assert openapi.schema_parts(api, {"allOf": [{"type": "string"}]}) == [{"allOf": [{"type": "string"}]},
                                                                          {"type": "string"}]
    with pytest.raises(OpenAPIError):
        openapi.schema_parts(api, cyclic)
