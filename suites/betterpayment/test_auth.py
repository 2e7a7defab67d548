"""Authentication (000 §2): HTTP Basic with api_key:api_password is the only way in.

Proves that every endpoint of the catalog refuses a request without credentials, with wrong credentials or with
a malformed Authorization header, and always with the catalog's 401 error body (never a 5xx, never the
endpoint's own answer), while the configured credentials are accepted.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.plugin import Target
from harness.suite.betterpayment.checks import expect_error, expect_ok
from harness.suite.betterpayment.requests import Urls, mpi_body

CAT = betterpayment()

AUTH_ERROR = "BP-ERR-201-AUTH"
CREATE = ("payment", "authorize", "register")


def _request(op_name: str, urls: Urls) -> tuple[str, str, dict[str, Any] | None]:
    """A request to the operation that would be valid apart from its credentials."""
    op = CAT.operation(op_name)
    path = op.path.format(transaction_id=uuid.uuid4())
    if op.method == "GET":
        return op.method, path, None
    if op_name in CREATE:
        return op.method, path, mpi_body(urls)
    return op.method, path, {"transaction_id": str(uuid.uuid4())}


def _send(client: BetterPaymentClient, op_name: str, urls: Urls, authorization: str | None) -> httpx.Response:
    method, path, body = _request(op_name, urls)
    headers = {"Authorization": authorization} if authorization is not None else None
    return client.raw(method, path, json=body, headers=headers, authenticate=authorization is not None)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


OPERATIONS = [pytest.param(op.name, id=op.name) for op in CAT.operations]


@pytest.mark.requirement("BP-AUTH-BASIC")
def test_documented_example_header_is_basic_of_key_and_password() -> None:
    """The seed's example header is exactly what Basic auth of the example key and password produces."""
    auth = CAT.auth
    assert _basic(auth.example_api_key, auth.example_api_password) == auth.example_header
    request = httpx.Request("GET", "https://example.com/")
    flow = httpx.BasicAuth(auth.example_api_key, auth.example_api_password).auth_flow(request)
    assert next(flow).headers["Authorization"] == auth.example_header


@pytest.mark.requirement("BP-AUTH-BASIC", "BP-ERR-0-NONE")
def test_configured_credentials_are_accepted(client: BetterPaymentClient, urls: Urls, paycert_target: Target) -> None:
    s = paycert_target.settings.betterpayment
    response = client.raw("POST", CAT.operation("payment").path, json=mpi_body(urls),
                          headers={"Authorization": _basic(s.api_key, s.api_password)})
    body = expect_ok(response, "payment")
    assert body["error_code"] == CAT.error("BP-ERR-0-NONE").code
    unknown = str(uuid.uuid4())
    lookup = client.raw("GET", CAT.operation("get_transaction").path.format(transaction_id=unknown),
                        headers={"Authorization": _basic(s.api_key, s.api_password)})
    expect_error(lookup, "BP-ERR-207-UNKNOWN-TRANSACTION", transaction_id=unknown)


@pytest.mark.requirement("BP-AUTH-MISSING", AUTH_ERROR)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_missing_authorization_is_refused(client: BetterPaymentClient, urls: Urls, operation: str) -> None:
    expect_error(_send(client, operation, urls, None), AUTH_ERROR)


def _wrong_credentials(paycert_target: Target) -> dict[str, str]:
    s = paycert_target.settings.betterpayment
    unknown = f"paycert-unknown-{uuid.uuid4().hex[:12]}"
    return {
        "wrong-password": _basic(s.api_key, s.api_password + "x"),
        "unknown-key": _basic(unknown, s.api_password),
        "empty-password": _basic(s.api_key, ""),
        "swapped": _basic(s.api_password, s.api_key),
        "password-prefix": _basic(s.api_key, s.api_password[:-1]),
    }


WRONG_KINDS = ["wrong-password", "unknown-key", "empty-password", "swapped", "password-prefix"]


@pytest.mark.requirement("BP-AUTH-WRONG", AUTH_ERROR)
@pytest.mark.parametrize("kind", WRONG_KINDS)
def test_wrong_credentials_are_refused_on_every_endpoint(client: BetterPaymentClient, urls: Urls,
                                                         paycert_target: Target,
                                                         kind: str) -> None:
    for op in CAT.operations:  # the error message names the request, so a failure says which endpoint
        expect_error(_send(client, op.name, urls, _wrong_credentials(paycert_target)[kind]), AUTH_ERROR)


def _malformed(paycert_target: Target) -> dict[str, str]:
    s = paycert_target.settings.betterpayment
    b64 = base64.b64encode
    return {
        "bearer-scheme": f"Bearer {s.api_password}",
        "no-credentials": "Basic",
        "padding-only": "Basic ====",
        "not-base64": "Basic !!!not*base64!!!",
        "no-colon": "Basic " + b64(f"{s.api_key}{s.api_password}".encode()).decode(),
        "only-colon": "Basic " + b64(b":").decode(),
        "not-utf8": "Basic " + b64(b"\xff\xfe:\xff\xfe").decode(),
        "credentials-unencoded": f"Basic {s.api_key}:{s.api_password}",
        "truncated-base64": _basic(s.api_key, s.api_password)[:-3],
    }


MALFORMED_KINDS = ["bearer-scheme", "no-credentials", "padding-only", "not-base64", "no-colon", "only-colon",
                   "not-utf8", "credentials-unencoded", "truncated-base64"]


@pytest.mark.requirement("BP-AUTH-MALFORMED", AUTH_ERROR)
@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_authorization_is_refused(client: BetterPaymentClient, urls: Urls, paycert_target: Target,
                                            kind: str) -> None:
    for op in CAT.operations:
        expect_error(_send(client, op.name, urls, _malformed(paycert_target)[kind]), AUTH_ERROR)
