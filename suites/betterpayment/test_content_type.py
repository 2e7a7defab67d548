"""Request format (000 §2 Content-Type Headers): every POST is JSON sent as application/json.

Proves that each POST endpoint refuses another content type (415), broken or non-object JSON (400), an oversized
body (413), and that a wrong method or an unknown path gets its own 4xx error body; none of it ever answers 5xx.
A JSON body sent as `application/json; charset=utf-8` is still JSON and is accepted.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.suite.betterpayment.checks import expect_error, expect_ok, json_body
from harness.suite.betterpayment.requests import Urls, mpi_body

CAT = betterpayment()

# One test per kind of bad input, each sent to every endpoint it applies to (the error names the request).
POSTS = [op.name for op in CAT.operations if op.method == "POST"]
GETS = [op.name for op in CAT.operations if op.method == "GET"]


def _valid_json(op_name: str, urls: Urls) -> bytes:
    body: dict[str, Any] = mpi_body(urls) if op_name in ("payment", "authorize", "register") else {
        "transaction_id": str(uuid.uuid4())}
    return json.dumps(body).encode()


CONTENT_TYPES = {
    "missing": None,
    "text-plain": "text/plain",
    "form-urlencoded": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data; boundary=paycert",
    "xml": "application/xml",
    "json-lookalike": "application/jsonp",
}


@pytest.mark.requirement("BP-CONTENT-TYPE", "BP-ERR-202-CONTENT-TYPE")
@pytest.mark.parametrize("content_type", list(CONTENT_TYPES))
def test_post_without_json_content_type_is_refused(client: BetterPaymentClient, urls: Urls, content_type: str) -> None:
    value = CONTENT_TYPES[content_type]
    headers: dict[str, str] = {} if value is None else {"Content-Type": value}
    for operation in POSTS:
        response = client.raw("POST", CAT.operation(operation).path, content=_valid_json(operation, urls),
                              headers=headers)
        expect_error(response, "BP-ERR-202-CONTENT-TYPE")


@pytest.mark.requirement("BP-CONTENT-TYPE")
def test_json_with_charset_parameter_is_accepted(client: BetterPaymentClient, urls: Urls) -> None:
    body = mpi_body(urls)
    response = client.raw("POST", CAT.operation("payment").path, content=json.dumps(body).encode(),
                          headers={"Content-Type": f"{CAT.auth.content_type}; charset=utf-8"})
    assert expect_ok(response, "payment")["order_id"] == body["order_id"]


MALFORMED = {
    "empty": b"",
    "broken": b'{"payment_type": ',
    "array": b"[]",
    "string": b'"payment"',
    "number": b"42",
    "null": b"null",
    "trailing-garbage": b'{"order_id": "1"} x',
    "not-utf8": b'{"order_id": "\xff\xfe"}',
}


@pytest.mark.requirement("BP-MALFORMED-JSON", "BP-ERR-203-MALFORMED-JSON")
@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_json_is_refused(client: BetterPaymentClient, kind: str) -> None:
    for operation in POSTS:
        response = client.raw("POST", CAT.operation(operation).path, content=MALFORMED[kind],
                              headers={"Content-Type": CAT.auth.content_type})
        expect_error(response, "BP-ERR-203-MALFORMED-JSON")


# the limit is the simulator's setting (catalog `simulator.max_body_bytes`); the gateway's is unknown
@pytest.mark.simulator_only
@pytest.mark.requirement("BP-VALIDATION-ROBUST", "BP-ERR-218-TOO-LARGE")
def test_oversized_body_is_refused(client: BetterPaymentClient, urls: Urls) -> None:
    limit = CAT.simulator.max_body_bytes
    for operation in POSTS:
        body = json.loads(_valid_json(operation, urls))
        body["additional_transaction_data"] = "x" * (limit + 1)
        response = client.raw("POST", CAT.operation(operation).path, content=json.dumps(body).encode(),
                              headers={"Content-Type": CAT.auth.content_type})
        expect_error(response, "BP-ERR-218-TOO-LARGE", limit=limit)


def _wrong_methods(method: str) -> list[str]:
    return [m for m in ("GET", "PUT", "PATCH", "DELETE", "POST") if m != method]


@pytest.mark.requirement("BP-VALIDATION-ROBUST", "BP-ERR-216-METHOD")
@pytest.mark.parametrize("operation", [pytest.param(op.name, id=op.name) for op in CAT.operations])
def test_wrong_method_is_refused(client: BetterPaymentClient, operation: str) -> None:
    op = CAT.operation(operation)
    path = op.path.format(transaction_id=uuid.uuid4())
    for method in _wrong_methods(op.method):
        response = client.raw(method, path, json={} if method != "GET" else None)
        expect_error(response, "BP-ERR-216-METHOD", method=method, path=path)


UNKNOWN_PATHS = ["/rest/payments", "/rest/charge", "/rest/transactions", "/rest/capture/extra", "/rest/"]


@pytest.mark.requirement("BP-VALIDATION-ROBUST", "BP-ERR-217-ENDPOINT")
@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_unknown_endpoint_is_refused(client: BetterPaymentClient, path: str) -> None:
    assert path not in {op.path for op in CAT.operations}, "test data names a real endpoint"
    for method in ("GET", "POST"):
        response = client.raw(method, path, json={} if method == "POST" else None)
        expect_error(response, "BP-ERR-217-ENDPOINT", path=path)


HOSTILE_VALUES: dict[str, Any] = {
    "huge-amount": "9" * 400,
    "nested-object": {"a": {"b": {"c": [1, 2, 3]}}},
    "list": [1, 2],
    "boolean": True,
    "null": None,
    "negative": -15.9,
    "exponent": "1e309",
    "nan": "NaN",
    "unicode": "\u202e\u0000\ud7ff",
}


@pytest.mark.requirement("BP-VALIDATION-ROBUST")
@pytest.mark.parametrize("kind", list(HOSTILE_VALUES))
def test_hostile_values_get_a_client_error_body(client: BetterPaymentClient, urls: Urls, kind: str) -> None:
    """Whatever a field gets, the answer is a 4xx with the error body, or a normal answer; never a 5xx."""
    for field in ("amount", "order_id", "currency", "card_number", "postback_url"):
        body = mpi_body(urls)
        body[field] = HOSTILE_VALUES[kind]
        response = client.without_retries().payment(body)
        assert response.status_code < 500, f"{field}={kind}: HTTP {response.status_code}: {response.text[:300]}"
        data = json_body(response)
        if response.status_code >= 400 or data.get("error_code", 0) != 0:  # an error, in band or not
            assert set(data) == set(CAT.responses["error"].fields), f"{field}={kind}: {data}"
            assert isinstance(data["error_code"], int) and data["error_code"] != 0
            assert data["error_code"] in {e.code for e in CAT.error_codes}, f"{field}={kind}: {data}"
        else:
            assert data["error_code"] == CAT.error("BP-ERR-0-NONE").code


ODD_IDS = {"not-a-uuid": "not-a-uuid", "very-long": "x" * 300, "nul": "%00", "traversal": "..%2F..%2Fetc"}


@pytest.mark.requirement("BP-VALIDATION-ROBUST")
@pytest.mark.parametrize("kind", list(ODD_IDS))
def test_odd_transaction_ids_get_a_client_error(client: BetterPaymentClient, kind: str) -> None:
    for operation in GETS:
        path = CAT.operation(operation).path.format(transaction_id=ODD_IDS[kind])
        response = client.without_retries().raw("GET", path)
        # A client error: a 4xx, or HTTP 200 with the error body (the in-band error transport).
        assert response.status_code == 200 or 400 <= response.status_code < 500, (
            f"{path}: HTTP {response.status_code}: {response.text[:300]}")
        data = json_body(response)
        assert set(data) == set(CAT.responses["error"].fields), f"{path}: {data}"
        assert data["error_code"] != 0
