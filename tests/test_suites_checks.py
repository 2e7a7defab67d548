"""The suites' library (harness/suite): a failed check of either API reads as a message naming what differed,
redacted, never a bare AssertionError; both APIs' checks share names and signatures; the probe registry refuses
what it cannot run. Fast: no server, answers are built in memory.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.catalog import bettercharge, betterpayment
from harness.catalog.boundaries import Boundary
from harness.suite.bettercharge import checks as bc_checks
from harness.suite.betterpayment import checks as bp_checks
from harness.suite.betterpayment import postbacks as bp_postbacks
from harness.suite.betterpayment.views import money, seed_request
from harness.suite.checks import Checks
from harness.suite.failure import CheckFailed
from harness.suite.probes import ProbeRegistry

SUITE_LIBRARY = Path(__file__).resolve().parents[1] / "harness" / "suite"


def _answer(status: int, body: Any, method: str = "POST", path: str = "/payment",
            headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers, request=httpx.Request(method, f"http://target{path}"))


def _failure(check: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(CheckFailed) as caught:
        check(*args, **kwargs)
    message = str(caught.value)
    assert message.strip(), "a failed check must say what differed"
    return message


# --- Better Payment: every check fails with a message ------------------------------------------------------------


def test_bp_error_check_names_the_row_and_what_came_instead() -> None:
    wrong = {"error_code": 205, "error_message": "Invalid field values: amount"}
    message = _failure(bp_checks.expect_error, _answer(200, wrong), "BP-ERR-205-INVALID-FIELDS", fields="order_id")
    assert "invalid_fields error body" in message and "order_id" in message and "amount" in message


def test_bp_error_check_names_the_allowed_statuses() -> None:
    row = betterpayment().error("BP-ERR-205-INVALID-FIELDS")
    message = _failure(bp_checks.expect_error, _answer(503, row.render(fields="x")), "BP-ERR-205-INVALID-FIELDS",
                       fields="x")
    assert "expected HTTP" in message and "503" in message and row.name in message


@pytest.mark.parametrize(("status", "body", "field", "observed"), [
    (200, {"error_code": 204, "error_message": "Invalid field values: x"}, "code", 204),
    (422, {"error_code": 205, "error_message": "Invalid field values: x"}, "http_status", 422),
    (401, {"error_code": 201, "error_message": "Wrong credentials"}, "message", "Wrong credentials"),
])
def test_bp_an_adopted_error_row_that_differs_is_a_calibratable_mismatch(status: int, body: dict[str, Any],
                                                                        field: str, observed: Any) -> None:
    """Better Payment's error codes, messages and HTTP statuses are adopted: a sandbox that answers otherwise
    is an unconfirmed assumption the report shows and `paycert calibrate` records, addressed like an overlay."""
    from harness.catalog.overlay import Mismatch

    row = "BP-ERR-201-AUTH" if field == "message" else "BP-ERR-205-INVALID-FIELDS"
    values = {} if field == "message" else {"fields": "x"}
    with pytest.raises(Mismatch) as caught:
        bp_checks.expect_error(_answer(status, body), row, **values)
    assert (caught.value.api, caught.value.entry, caught.value.field, caught.value.observed) == (
        "betterpayment", row, field, observed)
    catalog_row = betterpayment().error(row)
    assert caught.value.expected == {"code": catalog_row.code, "http_status": catalog_row.http_status,
                                     "message": catalog_row.message}[field]


def test_bp_a_documented_error_row_that_differs_is_a_plain_failure() -> None:
    """A documented row is never calibrated: a sandbox that differs from the documents is broken."""
    from harness.catalog.overlay import Mismatch

    row = betterpayment().error("BP-ERR-149-URL")
    assert row.provenance.value == "documented"
    wrong = {"error_code": 150, "error_message": row.render(field="postback_url")["error_message"]}
    with pytest.raises(CheckFailed) as caught:
        bp_checks.expect_error(_answer(200, wrong), row.id, field="postback_url")
    assert not isinstance(caught.value, Mismatch)


def test_bp_payment_check_names_the_field_that_differs() -> None:
    answer = betterpayment().seed_examples.direct_response
    sent = dict(seed_request())
    status = int(answer["status_code"])
    bp_checks.expect_payment(_answer(200, answer), "payment", sent, status_code=status)  # the seed's pair agrees
    message = _failure(bp_checks.expect_payment, _answer(200, answer), "payment", dict(sent, order_id="PCSENT"),
                       status_code=status)
    assert message.startswith("order_id: expected 'PCSENT', got '12345678'") and "in: POST /payment" in message


def test_bp_shape_and_status_pair_checks_say_what_is_missing() -> None:
    message = _failure(bp_checks.expect_shape, {"transaction_id": "t"}, "transaction")
    assert "transaction response fields: missing" in message
    completed = betterpayment().status_named("completed")
    message = _failure(bp_checks.expect_transaction_status, {"status_code": completed.code, "status": "x"},
                       completed.code)
    assert "transaction status" in message and repr(completed.name) in message


def test_bp_amount_and_time_checks_say_what_is_wrong() -> None:
    assert "must be a JSON number" in _failure(bp_checks.expect_amount, "1.00", money("1.00"))
    assert "expected Decimal('2.00')" in _failure(bp_checks.expect_amount, 1.0, money("2.00"))
    assert "timestamp without a zone" in _failure(bp_checks.iso_time, "2026-01-02T03:04:05")


def test_bp_card_data_check_never_repeats_the_card_number() -> None:
    pan = betterpayment().seed_card_pan
    message = _failure(bp_checks.expect_no_card_data, {"card": pan})
    assert "full card number" in message and pan not in message


def test_bp_failure_messages_are_redacted() -> None:
    """A body that leaks the PAN is quoted in the message, masked (first six, last four)."""
    pan = betterpayment().seed_card_pan
    message = _failure(bp_checks.expect_status, _answer(500, {"leak": pan}), 200)
    assert pan not in message and pan[:6] in message and pan[-4:] in message


def test_bp_json_and_webhook_checks_fail_with_a_message() -> None:
    response = httpx.Response(200, content=b"<html>", request=httpx.Request("GET", "http://target/x"))
    assert "not JSON" in _failure(bp_checks.json_body, response)
    assert "no postback webhook for status" in _failure(bp_postbacks.webhook_for, "payment", -1)


# --- BetterCharge: the same --------------------------------------------------------------------------------------


def test_bc_error_check_names_the_row_and_what_came_instead() -> None:
    catalog = bettercharge()
    row = catalog.error("BC-ERR-404-PAYMENT")
    limit, remaining, reset = catalog.rate_limit.headers
    headers = {limit: str(catalog.rate_limit.limit), remaining: "1", reset: "1900000000"}
    answer = _answer(row.status, row.render(bcId="abc"), "GET", "/payments/abc", headers)
    assert bc_checks.expect_error(answer, row.id, bcId="abc") == {"bcId": "abc"}
    message = _failure(bc_checks.expect_error, answer, row.id, bcId="other")
    assert message.startswith(f"{row.id} error body: expected") and "other" in message


def test_bc_operation_of_finds_every_catalog_operation_by_its_request() -> None:
    for op in bettercharge().operations:
        path = op.path.replace("{bcId}", "pc-1").replace("{merchantId}", "m-1")
        response = _answer(op.success, {}, op.method, "/base" + path)
        assert bc_checks.operation_of(response) == op.name
    assert "none of the catalog's operations" in _failure(bc_checks.operation_of, _answer(200, {}, "GET", "/nowhere"))


# --- one shape for both APIs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in dir(Checks) if not n.startswith("_")])
def test_both_apis_share_the_checks_signature(name: str) -> None:
    def params(module: Any) -> list[tuple[str, Any]]:
        sig = inspect.signature(getattr(module, name))
        return [(p.name, p.kind) for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]

    assert params(bc_checks) == params(bp_checks), name


def test_no_bare_assert_in_the_suites_library() -> None:
    """pytest does not rewrite asserts outside test modules: a bare one would fail with an empty message."""
    found = [f"{path.relative_to(SUITE_LIBRARY)}:{node.lineno}"
             for path in SUITE_LIBRARY.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Assert)]
    assert not found, f"bare asserts in harness/suite: {found}"


def test_the_probe_registry_names_a_missing_probe_and_refuses_a_second_one() -> None:
    registry: ProbeRegistry[None] = ProbeRegistry("bettercharge")

    @registry.probe("known")
    def known(ctx: None, b: Boundary, side: str) -> None:
        return None

    row = next(iter(bettercharge().all_boundaries))
    unknown = dataclasses.replace(row, probe="missing")
    message = _failure(registry.run, None, unknown, "inside")
    assert "no probe 'missing'" in message and "known" in message and row.id in message
    with pytest.raises(ValueError, match="registered twice"):
        registry.probe("known")(known)
