"""The BetterCharge simulator against its contract: design.md's wire contract and the catalog.

One simulator per module (reset before each test through the control interface), plain httpx. Every test
value (cards, emails, token, error rows, transitions, limits) comes from the catalog, so these tests follow
the data when it changes.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.catalog import bettercharge
from harness.catalog.bettercharge import Card, DeclineReason, Email, ErrorRow, Transition
from harness.simulator import defects as defect_registry
from harness.simulator.server import RunningSimulator, start
from harness.simulator.state import SimulatorConfig

CAT = bettercharge()
SIM = CAT.simulator
AUTH = CAT.auth
PLAIN_EMAIL = "buyer@example.com"
FUTURE_YEAR = datetime.now(UTC).year + 5
TOKEN = CAT.tokens[0].token
DECLINE_EMAIL = next(e for e in CAT.emails if e.decision["decision"] == "DECLINE")
RETRY_EMAIL = next(e for e in CAT.emails if e.passes_processing)
LIABILITY_EMAIL = next(e for e in CAT.emails if e.liability_shift)
DECLINED_STATE = DECLINE_EMAIL.state
RATE_HEADERS = CAT.rate_limit.headers
ERROR_KEYS = {"code", "error", "message"}
PAYMENT_KEYS = {"bcId", "merchantId", "accountId", "orderReference", "initiator", "amount", "currency", "state",
                "decision", "liabilityShift", "declineReason", "failureReason", "authorizedAmount",
                "capturedAmount", "refundedAmount", "autoVoided", "paymentMethod", "card", "createdAt", "updatedAt"}
_DROP = object()

assert PLAIN_EMAIL not in {e.email for e in CAT.emails}


def card_body(card: Card, *, year: int = FUTURE_YEAR, month: int = 12) -> dict[str, Any]:
    return {"number": card.pan, "expMonth": month, "expYear": year, "cvv": "123", "holder": "Test Holder"}


def order_ref() -> str:
    return f"order-{uuid.uuid4().hex[:16]}"


def payment_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "merchantId": SIM.merchant_id, "orderReference": order_ref(), "amount": CAT.amounts.authorized,
        "currency": SIM.supported_currencies[0], "customer": {"email": PLAIN_EMAIL},
        "card": card_body(CAT.approving_card),
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not _DROP}


def other_body(**over: Any) -> dict[str, Any]:
    return payment_body(merchantId=SIM.other_merchant_id, **over)


def headers(*, other: bool = False) -> dict[str, str]:
    if other:
        return {AUTH.api_key_header: SIM.other_api_key, AUTH.partner_header: SIM.other_partner_id}
    return {AUTH.api_key_header: SIM.api_key, AUTH.partner_header: SIM.partner_id}


def message_values(error_id: str, message: str) -> dict[str, str]:
    """The values a catalog message template was filled with (e.g. the bcId of an expiry error)."""
    template = CAT.error(error_id).message
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(template))
    match = re.fullmatch(pattern, message)
    assert match, f"{message!r} does not follow {template!r}"
    return match.groupdict()


def assert_error(r: httpx.Response, error_id: str, **values: object) -> None:
    row = CAT.error(error_id)
    assert r.status_code == row.status, r.text
    assert r.json() == row.render(**values)
    assert all(h in r.headers for h in RATE_HEADERS)


class Bc:
    """A BetterCharge client of one simulator, with the control interface at hand."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=20)

    def close(self) -> None:
        self.http.close()

    def reset(self, enable: list[str] | None = None) -> None:
        self.control("POST", "/_simulator/reset")
        if enable is not None:
            self.control("POST", "/_simulator/defects", {"enable": enable})

    def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        r = self.http.request(method, path, json=body)
        assert r.status_code < 400, r.text
        return r

    def advance(self, seconds: float) -> None:
        self.control("POST", "/_simulator/clock", {"advance_seconds": seconds})

    def today(self) -> tuple[int, int]:
        now = datetime.fromtimestamp(self.control("GET", "/_simulator/clock").json()["now"], UTC)
        return now.year, now.month

    def request(self, method: str, path: str, body: Any = None, *, other: bool = False,
                idem: str | None = None, extra: dict[str, str] | None = None) -> httpx.Response:
        h = headers(other=other) | ({"Idempotency-Key": idem} if idem else {}) | (extra or {})
        return self.http.request(method, path, json=body, headers=h)

    def authorize(self, body: dict[str, Any] | None = None, *, charge: bool = False, other: bool = False,
                  idem: str | None = None) -> httpx.Response:
        body = body if body is not None else (other_body() if other else payment_body())
        return self.request("POST", "/payments/charge" if charge else "/payments/authorize", body,
                            other=other, idem=idem)

    def payment(self, *, charge: bool = False, **over: Any) -> dict[str, Any]:
        r = self.authorize(payment_body(**over), charge=charge)
        assert r.status_code == CAT.operation("charge" if charge else "authorize").success, r.text
        return dict(r.json())

    def op(self, bc_id: str, operation: str, amount: int | None = None, *, body: Any = None,
           other: bool = False) -> httpx.Response:
        if body is None:
            body = {} if amount is None else {"amount": amount}
        return self.request("POST", f"/payments/{bc_id}/{operation}", body, other=other)

    def get(self, bc_id: str, *, other: bool = False) -> httpx.Response:
        return self.request("GET", f"/payments/{bc_id}", other=other)


@pytest.fixture
def bc(sim: RunningSimulator) -> Iterator[Bc]:
    client = Bc(sim.url)
    client.reset()
    yield client
    client.close()


# -- auth ---------------------------------------------------------------------------------------------------

AUTH_CASES = {
    "no-credentials": ({}, "BC-ERR-401-UNAUTHORIZED"),
    "unknown-key": ({AUTH.api_key_header: "nope", AUTH.partner_header: SIM.partner_id}, "BC-ERR-401-UNAUTHORIZED"),
    "missing-partner": ({AUTH.api_key_header: SIM.api_key}, "BC-ERR-401-UNAUTHORIZED"),
    "missing-key": ({AUTH.partner_header: SIM.partner_id}, "BC-ERR-401-UNAUTHORIZED"),
    "unknown-partner": ({AUTH.api_key_header: SIM.api_key, AUTH.partner_header: "nope"}, "BC-ERR-404-PARTNER"),
    "other-partner": ({AUTH.api_key_header: SIM.api_key, AUTH.partner_header: SIM.other_partner_id},
                      "BC-ERR-401-UNAUTHORIZED"),
}


@pytest.mark.parametrize("case", AUTH_CASES)
def test_auth_failures(bc: Bc, case: str) -> None:
    given, error_id = AUTH_CASES[case]
    assert_error(bc.http.get(f"/merchants/{SIM.merchant_id}", headers=given), error_id)
    assert_error(bc.http.post("/payments/authorize", json=payment_body(), headers=given), error_id)


def test_each_partner_sees_its_own_and_is_forbidden_the_others(bc: Bc) -> None:
    for other, mine, theirs in ((False, SIM.merchant_id, SIM.other_merchant_id),
                                (True, SIM.other_merchant_id, SIM.merchant_id)):
        assert bc.request("GET", f"/merchants/{mine}", other=other).status_code == 200
        assert_error(bc.request("GET", f"/merchants/{theirs}", other=other), "BC-ERR-403-FORBIDDEN")
    assert_error(bc.authorize(other_body()), "BC-ERR-403-FORBIDDEN")
    theirs = bc.authorize(other=True).json()["bcId"]
    assert_error(bc.get(theirs), "BC-ERR-403-FORBIDDEN")
    assert_error(bc.op(theirs, "capture"), "BC-ERR-403-FORBIDDEN")
    assert bc.get(theirs, other=True).json()["state"] == CAT.approving_card.state


# -- cards, emails, token, expiry, system declines ------------------------------------------------------------

@pytest.mark.parametrize("card", CAT.cards, ids=lambda c: c.id)
def test_card_outcome(bc: Bc, card: Card) -> None:
    r = bc.authorize(payment_body(card=card_body(card)))
    assert r.status_code == CAT.operation("authorize").success, r.text
    p = r.json()
    assert set(p) == PAYMENT_KEYS
    assert (p["state"], p["failureReason"]) == (card.state, card.failure_reason)
    assert p["card"] == {"brand": card.brand, "funding": card.funding, "bin": card.bin, "last4": card.last4,
                         "expMonth": 12, "expYear": FUTURE_YEAR}
    assert card.pan not in r.text
    assert (p["paymentMethod"], p["decision"]) == ("card", CAT.default_decision)
    assert p["authorizedAmount"] == (CAT.amounts.authorized if card.outcome == "approve" else 0)
    assert bc.get(p["bcId"]).json() == p


@pytest.mark.parametrize("email", CAT.emails, ids=lambda e: e.id)
def test_email_decision(bc: Bc, email: Email) -> None:
    p = bc.payment(customer={"email": email.email})
    assert p["decision"] == email.decision
    assert p["liabilityShift"] is email.liability_shift
    if email.passes_processing:
        assert p["state"] == CAT.situations["PROCESSING"].state
        bc.advance(SIM.retry_processing_seconds - 1)
        assert bc.get(p["bcId"]).json()["state"] == CAT.situations["PROCESSING"].state
        bc.advance(1)
    after = bc.get(p["bcId"]).json()
    assert after["state"] == email.state
    assert after["declineReason"] is None


def test_unlisted_email_gets_the_default_decision(bc: Bc) -> None:
    p = bc.payment(customer={"email": "Someone.Else@example.org"})
    assert (p["decision"], p["state"]) == (CAT.default_decision, CAT.approving_card.state)
    assert bc.payment(customer={"email": LIABILITY_EMAIL.email.upper()})["liabilityShift"] is True


@pytest.mark.parametrize("email", [PLAIN_EMAIL, *[e.email for e in CAT.emails]])
def test_token_authorizes_whatever_the_email(bc: Bc, email: str) -> None:
    p = bc.payment(card=_DROP, token=TOKEN, customer={"email": email})
    assert (p["state"], p["paymentMethod"], p["card"]) == (CAT.tokens[0].state, "token", None)
    assert p["decision"]["decision"] == CAT.default_decision["decision"]


def test_non_test_card_or_token_is_the_psp_mock_error_and_stores_nothing(bc: Bc) -> None:
    row = CAT.error("BC-ERR-400-PSP-VALIDATION")
    ref = order_ref()
    pans, stem = {c.pan for c in CAT.cards}, CAT.approving_card.pan[:-1]
    not_test = next(stem + d for d in "0123456789" if stem + d not in pans)
    for body in (payment_body(orderReference=ref, card=card_body(CAT.approving_card) | {"number": not_test}),
                 payment_body(orderReference=ref, card=_DROP, token="not-the-token")):
        r = bc.authorize(body)
        assert r.status_code == row.status
        assert (r.json()["code"], r.json()["error"]) == (row.code, row.error)
        message_values(row.id, r.json()["message"])
    assert bc.payment(orderReference=ref)["state"] == CAT.approving_card.state  # the reference was still free


def _month_shift(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


@pytest.mark.parametrize(("error_id", "delta"), [("BC-ERR-400-CARD-EXPIRED", -1),
                                                  ("BC-ERR-400-CARD-TOO-CLOSE", 0)])
def test_card_expiry_on_the_simulator_clock(bc: Bc, error_id: str, delta: int) -> None:
    bc.advance(400 * 86400)  # a year on: the simulator clock decides, not the wall clock
    year, month = _month_shift(*bc.today(), delta)
    r = bc.authorize(payment_body(card=card_body(CAT.approving_card, year=year, month=month)))
    bc_id = message_values(error_id, r.json()["message"])["bcId"]
    assert_error(r, error_id, bcId=bc_id)
    stored = bc.get(bc_id).json()
    assert (stored["state"], stored["failureReason"]) == (CAT.declining_card.state, CAT.error(error_id).code.lower())
    year, month = _month_shift(*bc.today(), 1)
    assert bc.payment(card=card_body(CAT.approving_card, year=year, month=month))["state"] == CAT.approving_card.state


def _unsupported_currency() -> str:
    return next(c for c in ("XTS", "XXX", "ZZZ") if c not in SIM.supported_currencies)


def provoke_decline(bc: Bc, trigger: str) -> dict[str, Any]:
    """Set the simulator up for a decline reason's trigger; the request fields it needs."""
    merchant = f"/_simulator/bettercharge/merchants/{SIM.merchant_id}"
    if trigger.startswith("toggle_"):
        bc.control("POST", "/_simulator/bettercharge/toggles", {trigger.removeprefix("toggle_"): True})
        return {}
    if trigger == "merchant_disabled":
        bc.control("PATCH", merchant, {"enabled": False})
        return {}
    if trigger == "mit_not_allowed":
        bc.control("PATCH", merchant, {"mitAllowed": False})
        return {"initiator": "MIT"}
    if trigger == "unsupported_currency":
        return {"currency": _unsupported_currency()}
    pytest.fail(f"no way to provoke decline trigger {trigger}")


@pytest.mark.parametrize("reason", CAT.decline_reasons, ids=lambda d: d.id)
def test_system_decline_reason(bc: Bc, reason: DeclineReason) -> None:
    p = bc.payment(**provoke_decline(bc, reason.trigger))
    assert (p["state"], p["declineReason"], p["decision"], p["authorizedAmount"]) == (
        DECLINED_STATE, reason.reason, None, 0)


def test_toggles_go_back_to_off_on_reset(bc: Bc) -> None:
    provoke_decline(bc, CAT.decline_reasons[1].trigger)
    bc.reset()
    assert not any(bc.control("GET", "/_simulator/bettercharge/toggles").json().values())


def test_mit_is_allowed_for_the_seeded_merchant(bc: Bc) -> None:
    assert bc.payment(initiator="MIT")["state"] == CAT.approving_card.state


# -- request validation and other errors ------------------------------------------------------------------------

def test_missing_fields_are_named_sorted_and_dotted(bc: Bc) -> None:
    r = bc.authorize({"card": {"number": CAT.approving_card.pan}, "customer": {}})
    assert_error(r, "BC-ERR-400-BAD-REQUEST", fields="amount, card.cvv, card.expMonth, card.expYear, card.holder, "
                                                      "currency, customer.email, merchantId, orderReference")
    assert_error(bc.authorize(payment_body(token=TOKEN)), "BC-ERR-400-BAD-REQUEST", fields="card, token")
    r = bc.http.post("/payments/authorize", content=b"{}", headers=headers() | {"content-type": "text/plain"})
    assert_error(r, "BC-ERR-400-BAD-REQUEST", fields="body")


def test_idempotency_key_must_be_a_uuid_and_merchant_id_path_safe(bc: Bc) -> None:
    header = CAT.idempotency.header
    assert_error(bc.authorize(idem="not a uuid"), "BC-ERR-400-BAD-REQUEST", fields=header)
    assert_error(bc.authorize(payment_body(merchantId="a/b")), "BC-ERR-400-BAD-REQUEST", fields="merchantId")


def test_merchant_account_and_order_reference_errors(bc: Bc) -> None:
    assert_error(bc.authorize(payment_body(merchantId="no-such")), "BC-ERR-404-MERCHANT", merchantId="no-such")
    assert_error(bc.authorize(payment_body(accountId="no-such")), "BC-ERR-400-INVALID-ACCOUNT")
    assert bc.payment(accountId=SIM.account_id)["accountId"] == SIM.account_id
    body = payment_body()
    assert bc.authorize(body).status_code == 201
    assert_error(bc.authorize(body), "BC-ERR-422-ALREADY-APPROVED")


def test_unknown_payment(bc: Bc) -> None:
    assert_error(bc.get("bc_missing"), "BC-ERR-404-PAYMENT", bcId="bc_missing")
    for operation in ("capture", "void", "refund", "stop"):
        assert_error(bc.op("bc_missing", operation), "BC-ERR-422-PAYMENT-NOT-FOUND")


@pytest.mark.parametrize("body", [[], "x", {"amount": "5"}, {"amount": 0}, {"amount": -1}, {"amount": True},
                                  {"amount": 1.5}, {"amount": 10**13}, {"reason": 5}, {"reason": "r" * 2000}])
def test_malformed_refund_and_void_bodies(bc: Bc, body: Any) -> None:
    p = bc.payment(charge=True)
    assert_error(bc.op(p["bcId"], "refund", body=body), "BC-ERR-400-INVALID-REFUND")
    if not (isinstance(body, dict) and "amount" in body):
        assert_error(bc.op(p["bcId"], "void", body=body), "BC-ERR-400-INVALID-VOID")


def test_refund_and_void_policy(bc: Bc) -> None:
    bc.control("PATCH", f"/_simulator/bettercharge/merchants/{SIM.merchant_id}",
               {"refundsAllowed": False, "voidsAllowed": False})
    assert_error(bc.op(bc.payment(charge=True)["bcId"], "refund"), "BC-ERR-400-REFUND-POLICY")
    assert_error(bc.op(bc.payment()["bcId"], "void"), "BC-ERR-400-VOID-POLICY")


# -- the state machine ---------------------------------------------------------------------------------------

def _remainder(p: dict[str, Any], operation: str) -> int:
    if operation == "capture":
        return int(p["authorizedAmount"]) if not p["capturedAmount"] else 0
    if operation == "refund":
        return int(p["capturedAmount"]) - int(p["refundedAmount"])
    return 0


def _cell_amount(p: dict[str, Any], operation: str, kind: str) -> int | None:
    remainder = _remainder(p, operation)
    if kind == "full":
        return remainder or None
    if kind == "partial":
        amount = CAT.amounts.partial_capture if operation == "capture" else CAT.amounts.partial_refund
        assert amount < remainder
        return amount
    if kind == "over":
        return remainder + 1
    return None


def reach(bc: Bc, situation: str) -> dict[str, Any]:
    """Bring a payment into a situation of the transition table by the catalog's steps."""
    target = CAT.situations[situation]
    p: dict[str, Any] = {}

    def op(operation: str, kind: str) -> dict[str, Any]:
        r = bc.op(p["bcId"], operation, _cell_amount(p, operation, kind))
        assert r.status_code == 200, r.text
        return dict(r.json())

    for step in target.steps:
        if step == "authorize":
            p = bc.payment()
        elif step == "authorize_declined_email":
            p = bc.payment(customer={"email": DECLINE_EMAIL.email})
        elif step == "authorize_declined_card":
            p = bc.payment(card=card_body(CAT.declining_card))
        elif step == "authorize_retry_email":
            p = bc.payment(customer={"email": RETRY_EMAIL.email})
        elif step in ("capture_full", "capture_partial", "refund_full", "refund_partial"):
            operation, kind = step.split("_")
            p = op(operation, kind)
        elif step in ("void", "stop"):
            p = op(step, "none")
        elif step == "expire_authorization":
            bc.advance(CAT.authorization_validity_seconds)
            p = bc.get(p["bcId"]).json()
        elif step == "force_state":
            p = bc.control("POST", f"/_simulator/bettercharge/payments/{p['bcId']}/state",
                           {"state": target.state}).json()
        else:
            pytest.fail(f"unknown situation step {step}")
    assert p["state"] == target.state
    return p


@pytest.mark.parametrize("t", CAT.transitions, ids=lambda t: t.id)
def test_transition_cell(bc: Bc, t: Transition) -> None:
    p = reach(bc, t.from_)
    amount = _cell_amount(p, t.operation, t.amount)
    r = bc.op(p["bcId"], t.operation, amount)
    if t.legal:
        assert (r.status_code, r.json()["state"]) == (t.expect.status, t.expect.state), r.text
        moved = amount if amount is not None else _remainder(p, t.operation)
        if t.operation == "capture":
            assert r.json()["capturedAmount"] == moved
        if t.operation == "refund":
            assert r.json()["refundedAmount"] == p["refundedAmount"] + moved
        assert bc.get(p["bcId"]).json() == r.json()
    else:
        assert t.expect.error is not None
        assert_error(r, t.expect.error, bcId=p["bcId"], identifier=p["bcId"])
        assert bc.get(p["bcId"]).json()["state"] == p["state"]


def test_auto_void_is_lazy_on_the_simulator_clock(bc: Bc) -> None:
    p = bc.payment()
    bc.advance(CAT.authorization_validity_seconds - 10)
    assert bc.get(p["bcId"]).json()["state"] == p["state"]
    bc.advance(10)
    voided = bc.get(p["bcId"]).json()
    assert (voided["state"], voided["autoVoided"]) == (CAT.situations["AUTO_VOIDED"].state, True)


def test_charge_captures_at_once_or_after_the_retry(bc: Bc) -> None:
    p = bc.payment(charge=True)
    captured = CAT.situations["CAPTURED"].state
    assert (p["state"], p["capturedAmount"], p["authorizedAmount"]) == (captured, p["amount"], p["amount"])
    retry = bc.payment(charge=True, customer={"email": RETRY_EMAIL.email})
    assert retry["state"] == CAT.situations["PROCESSING"].state
    bc.advance(SIM.retry_processing_seconds)
    assert bc.get(retry["bcId"]).json()["state"] == captured
    assert bc.payment(charge=True, card=card_body(CAT.declining_card))["state"] == CAT.declining_card.state


def test_repeated_partial_refunds(bc: Bc) -> None:
    p = bc.payment(charge=True)
    step = CAT.amounts.partial_refund
    refunded = 0
    while refunded + step < p["amount"]:
        r = bc.op(p["bcId"], "refund", step)
        refunded += step
        assert (r.json()["state"], r.json()["refundedAmount"]) == (p["state"], refunded)
    assert bc.op(p["bcId"], "refund").json()["state"] == CAT.situations["REFUNDED"].state


# -- idempotency -------------------------------------------------------------------------------------------

def test_idempotent_replay_and_different_body(bc: Bc) -> None:
    key = str(uuid.uuid4())
    first = bc.authorize(idem=key)
    again = bc.authorize(idem=key)
    changed = bc.authorize(payment_body(amount=5), idem=key)
    assert first.status_code == again.status_code == changed.status_code == 201
    assert first.json() == again.json() == changed.json()  # a different body replays too (adopted)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert all(h in again.headers for h in RATE_HEADERS)


def test_concurrent_duplicates_create_one_payment(bc: Bc) -> None:
    bc.control("POST", "/_simulator/bettercharge/latency", {"psp_seconds": 0.3})
    key, body = str(uuid.uuid4()), payment_body()

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=bc.url, timeout=20) as c:
            return c.post("/payments/authorize", json=body, headers=headers() | {"Idempotency-Key": key})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["bcId"] for r in answers}) == 1


def test_idempotency_expiry_scope_and_validation(bc: Bc) -> None:
    key = str(uuid.uuid4())
    first = bc.authorize(idem=key).json()
    other = bc.authorize(other=True, idem=key)
    assert other.status_code == 201 and other.json()["merchantId"] == SIM.other_merchant_id  # scope per API key
    bc.advance(CAT.idempotency.retention_seconds - 5)
    assert bc.authorize(idem=key).json()["bcId"] == first["bcId"]
    bc.advance(5)
    assert bc.authorize(idem=key).json()["bcId"] != first["bcId"]  # expired: processed afresh

    fresh = str(uuid.uuid4())
    assert bc.authorize(payment_body(amount="x"), idem=fresh).status_code == 400
    assert bc.authorize(idem=fresh).status_code == 201  # the validation failure was not stored


def test_idempotency_keeps_a_422_and_an_expiry_error(bc: Bc) -> None:
    key, body = str(uuid.uuid4()), payment_body()
    bc.authorize(body)
    assert_error(bc.authorize(body, idem=key), "BC-ERR-422-ALREADY-APPROVED")
    assert bc.authorize(idem=key).status_code == 422  # replayed
    year, month = _month_shift(*bc.today(), -1)
    key = str(uuid.uuid4())
    expired = payment_body(card=card_body(CAT.approving_card, year=year, month=month))
    first = bc.authorize(expired, idem=key)
    assert bc.authorize(expired, idem=key).json() == first.json()


# -- rate limit --------------------------------------------------------------------------------------------

def test_rate_limit(bc: Bc) -> None:
    limit = CAT.rate_limit
    seen = [bc.get("bc_missing") for _ in range(limit.limit)]
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in seen] == list(range(limit.limit - 1, -1, -1))
    assert {r.headers["X-RateLimit-Limit"] for r in seen} == {str(limit.limit)}
    over = bc.get("bc_missing")
    assert over.status_code == limit.status
    assert over.json() == {"code": "TOO_MANY_REQUESTS", "error": "Too Many Requests", "message": "Rate limit exceeded"}
    reset = int(over.headers["X-RateLimit-Reset"])
    now = bc.control("GET", "/_simulator/clock").json()["now"]
    assert 0 < reset - now <= limit.window_seconds + 1
    assert 1 <= int(over.headers["Retry-After"]) <= limit.window_seconds
    assert over.headers["X-RateLimit-Remaining"] == "0"
    assert bc.get("bc_missing", other=True).status_code == 404  # counted per key
    assert bc.http.get("/payments/x", headers={AUTH.api_key_header: SIM.api_key}).status_code == limit.status
    bc.advance(limit.window_seconds)
    assert bc.get("bc_missing").status_code == 404


def test_rate_limit_headers_on_every_answer(bc: Bc) -> None:
    for r in (bc.http.get("/payments/x"), bc.http.delete("/payments/x", headers=headers()),
              bc.http.get("/payments/x/y/z", headers=headers()), bc.authorize(payment_body(amount=0))):
        assert r.status_code in (400, 401, 404, 405)
        assert all(h in r.headers for h in RATE_HEADERS), r.headers


# -- locking, faults ---------------------------------------------------------------------------------------

def test_second_operation_while_the_psp_call_runs_is_locked(bc: Bc) -> None:
    p = bc.payment()
    bc.control("POST", "/_simulator/bettercharge/latency", {"psp_seconds": 0.6})
    result: dict[str, httpx.Response] = {}

    def capture() -> None:
        with httpx.Client(base_url=bc.url, timeout=20) as c:
            result["capture"] = c.post(f"/payments/{p['bcId']}/capture", json={}, headers=headers())

    worker = threading.Thread(target=capture)
    worker.start()
    time.sleep(0.2)
    assert_error(bc.op(p["bcId"], "void"), "BC-ERR-423-LOCKED", identifier=p["bcId"])
    worker.join()
    assert result["capture"].json()["state"] == CAT.situations["CAPTURED"].state


FAULT_ROWS = [row for row in CAT.errors if row.trigger.startswith("fault_")]


@pytest.mark.parametrize("row", FAULT_ROWS, ids=lambda r: r.id)
def test_error_faults(bc: Bc, row: ErrorRow) -> None:
    bc.control("POST", "/_simulator/bettercharge/faults",
               {"kind": row.trigger.removeprefix("fault_"), "count": 2, "error": "PSP said no"})
    for _ in range(2):
        assert_error(bc.authorize(), row.id, error="PSP said no")
    assert bc.authorize().status_code == 201


def test_delay_drop_and_clear_faults(bc: Bc) -> None:
    bc.control("POST", "/_simulator/bettercharge/faults", {"kind": "delay", "seconds": 0.3})
    began = time.monotonic()
    assert bc.authorize().status_code == 201
    assert time.monotonic() - began >= 0.3

    bc.control("POST", "/_simulator/bettercharge/faults", {"kind": "drop"})
    with pytest.raises(httpx.TransportError):
        bc.authorize()
    key, body = str(uuid.uuid4()), payment_body()
    bc.control("POST", "/_simulator/bettercharge/faults", {"kind": "drop", "process": True})
    with pytest.raises(httpx.TransportError):
        bc.authorize(body, idem=key)
    retried = bc.authorize(body, idem=key)  # the lost answer took effect: the retry replays it
    assert retried.status_code == 201 and retried.headers.get("Idempotent-Replayed") == "true"

    bc.control("POST", "/_simulator/bettercharge/faults", {"kind": "500_generic", "count": 5})
    assert bc.control("DELETE", "/_simulator/bettercharge/faults").json()["queued"] == []
    assert bc.authorize().status_code == 201


@pytest.mark.parametrize(("path", "body"), [
    ("faults", {"kind": "explode"}), ("faults", {"kind": "delay"}), ("faults", {"kind": "drop", "count": 0}),
    ("faults", {"kind": "500_generic", "seconds": 1}), ("faults", []), ("toggles", {"system_inactive": "yes"}),
    ("toggles", {"nope": True}), ("latency", {"psp_seconds": -1}), ("latency", {"psp_seconds": True}),
    (f"merchants/{SIM.merchant_id}", {"enabled": "no"}),
])
def test_bad_control_input(bc: Bc, path: str, body: Any) -> None:
    r = bc.http.request("PATCH" if path.startswith("merchants") else "POST", f"/_simulator/bettercharge/{path}",
                        json=body)
    assert r.status_code == 400 and r.json()["error"]


def test_force_state_control(bc: Bc) -> None:
    p = bc.payment()
    r = bc.http.post(f"/_simulator/bettercharge/payments/{p['bcId']}/state", json={"state": "NOPE"})
    assert r.status_code == 400
    assert bc.http.post("/_simulator/bettercharge/payments/missing/state", json={"state": "UNKNOWN"}).status_code == 404


# -- merchants ---------------------------------------------------------------------------------------------

def test_merchant_api(bc: Bc) -> None:
    created = bc.request("POST", "/merchants", {"merchantId": "m-new", "name": "New", "accountIds": ["a1"]})
    assert created.status_code == CAT.operation("create_merchant").success
    assert created.json() == {"merchantId": "m-new", "partnerId": SIM.partner_id, "name": "New", "accountIds": ["a1"],
                              "enabled": True, "mitAllowed": False, "refundsAllowed": True, "voidsAllowed": True}
    assert_error(bc.request("POST", "/merchants", {"merchantId": "m-new", "name": "Again"}),
                 "BC-ERR-400-BAD-REQUEST", fields="merchantId")
    assert_error(bc.request("GET", "/merchants/m-new", other=True), "BC-ERR-403-FORBIDDEN")
    assert_error(bc.request("GET", "/merchants/none"), "BC-ERR-404-MERCHANT", merchantId="none")
    patched = bc.request("PATCH", "/merchants/m-new", {"mitAllowed": True, "name": "Renamed"})
    assert (patched.json()["mitAllowed"], patched.json()["name"]) == (True, "Renamed")
    assert bc.request("GET", "/merchants/m-new").json() == patched.json()
    p = bc.payment(merchantId="m-new", accountId="a1", initiator="MIT")
    assert p["state"] == CAT.approving_card.state
    assert_error(bc.request("PATCH", "/merchants/m-new", {"enabled": 1}), "BC-ERR-400-BAD-REQUEST", fields="enabled")


# -- robustness -----------------------------------------------------------------------------------------------

JSON = {"content-type": "application/json"}
BAD_BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b"", JSON), (b"{", JSON), (b"null", JSON), (b"[]", JSON), (b"[1, 2]", JSON), (b'"text"', JSON), (b"123", JSON),
    (b"true", JSON), (b"{}", JSON), (b'{"amount": 1' + b"0" * 400 + b"}", JSON), (b'{"amount": 1e400}', JSON),
    (b'{"amount": NaN}', JSON), (b'{"orderReference": "\\ud800"}', JSON), (b"[" * 60_000, JSON),
    (b"\xff\xfe\x00", JSON), (b'{"a": 1}', {"content-type": "text/plain"}), (b"a=1&b=2", {}),
    (b'{"x": "' + b"y" * 100_000 + b'"}', JSON),
]
BAD_FIELDS: list[dict[str, Any]] = [
    {"amount": True}, {"amount": 10.5}, {"amount": "1000"}, {"amount": -5}, {"amount": 0}, {"amount": 10**13},
    {"currency": "eur"}, {"currency": "EURO"}, {"currency": 978}, {"merchantId": "m" * 5000},
    {"orderReference": "r" * 1001}, {"orderReference": ""}, {"customer": "someone"}, {"customer": {"email": ["a"]}},
    {"customer": {"email": {"deep": [[[[{}]]]]}}}, {"customer": {"email": "not-an-email"}}, {"card": []},
    {"card": {"number": int(CAT.approving_card.pan)}}, {"card": None}, {"token": {}}, {"initiator": "XIT"},
    {"card": card_body(CAT.approving_card) | {"expMonth": 13, "expYear": 99}},
    {"card": card_body(CAT.approving_card) | {"cvv": 123}}, {"accountId": None}, {"merchantId": ["x"]},
]


@pytest.mark.parametrize("raw", range(len(BAD_BODIES)))
def test_fuzz_raw_bodies_never_5xx(bc: Bc, raw: int) -> None:
    content, extra = BAD_BODIES[raw]
    for path in ("/payments/authorize", "/payments/charge", "/merchants", "/payments/bc_x/capture",
                 "/payments/bc_x/refund", "/payments/bc_x/void", "/payments/bc_x/stop"):
        r = bc.http.post(path, content=content, headers=headers() | extra)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert set(r.json()) == ERROR_KEYS


@pytest.mark.parametrize("over", BAD_FIELDS, ids=lambda o: next(iter(o)))
def test_fuzz_fields_are_bad_request(bc: Bc, over: dict[str, Any]) -> None:
    r = bc.authorize(payment_body(**over))
    assert r.status_code == CAT.error("BC-ERR-400-BAD-REQUEST").status, r.text
    assert r.json()["code"] == CAT.error("BC-ERR-400-BAD-REQUEST").code


def test_unknown_paths_and_methods_answer_json(bc: Bc) -> None:
    for method, path, status in (("GET", "/payments", 404), ("GET", "/payments/a/b/c", 404),
                                 ("DELETE", "/payments/x", 405), ("GET", "/merchants", 405),
                                 ("PUT", "/payments/authorize", 405), ("GET", "/payments/x/capture", 405),
                                 ("GET", "/merchantsx", None)):
        r = bc.http.request(method, path, headers=headers())
        if status is None:
            assert r.status_code == 404
            continue
        assert r.status_code == status and set(r.json()) == ERROR_KEYS, (method, path, r.text)
        if status == 405:
            assert r.headers["Allow"]


# -- persistence and configured credentials -----------------------------------------------------------------

def test_persistence_across_restart_with_configured_credentials(tmp_path: Path) -> None:
    config = SimulatorConfig(data_dir=tmp_path, bettercharge_api_key="configured-key",
                             bettercharge_partner_id="configured-partner")
    mine = {AUTH.api_key_header: "configured-key", AUTH.partner_header: "configured-partner"}
    first = start(config)
    try:
        with httpx.Client(base_url=first.url, headers=mine, timeout=20) as c:
            assert c.get("/payments/x", headers=headers()).status_code == 401  # the catalog key was replaced
            p = c.post("/payments/authorize", json=payment_body()).json()
            c.post(f"/payments/{p['bcId']}/capture", json={"amount": CAT.amounts.partial_capture})
            c.patch(f"/merchants/{SIM.merchant_id}", json={"voidsAllowed": False})
            before = c.get(f"/payments/{p['bcId']}").json()
    finally:
        first.stop()
    assert p["card"]["bin"] == CAT.approving_card.bin
    stored = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.is_file())
    assert stored and CAT.approving_card.pan.encode() not in stored
    second = start(config)
    try:
        with httpx.Client(base_url=second.url, headers=mine, timeout=20) as c:
            assert c.get(f"/payments/{p['bcId']}").json() == before
            assert c.get(f"/merchants/{SIM.merchant_id}").json()["voidsAllowed"] is False
    finally:
        second.stop()


# -- deliberate defects ------------------------------------------------------------------------------------

def _lock_probe(bc: Bc) -> int:
    p = bc.payment()
    bc.control("POST", "/_simulator/bettercharge/latency", {"psp_seconds": 0.4})
    worker = threading.Thread(target=lambda: bc_thread_capture(bc.url, p["bcId"]))
    worker.start()
    time.sleep(0.15)
    status = bc.op(p["bcId"], "void").status_code
    worker.join()
    return status


def bc_thread_capture(url: str, bc_id: str) -> None:
    with httpx.Client(base_url=url, timeout=20) as c:
        c.post(f"/payments/{bc_id}/capture", json={}, headers=headers())


def _burst(bc: Bc, n: int) -> httpx.Response:
    r = bc.get("bc_missing")
    for _ in range(n - 1):
        r = bc.get("bc_missing")
    return r


def _idem_pair(bc: Bc, second: Callable[[Bc, str], httpx.Response]) -> Any:
    key = str(uuid.uuid4())
    first = bc.authorize(idem=key)
    again = second(bc, key)
    return again.status_code, again.json().get("bcId") == first.json().get("bcId"), again.json().get("merchantId")


def _after_retention(bc: Bc, key: str) -> httpx.Response:
    bc.advance(CAT.idempotency.retention_seconds)
    return bc.authorize(idem=key)


def _store_validation_probe(bc: Bc) -> int:
    key = str(uuid.uuid4())
    bc.authorize(payment_body(amount="x"), idem=key)
    return bc.authorize(idem=key).status_code


def _expired_card() -> dict[str, Any]:
    year, month = _month_shift(datetime.now(UTC).year, datetime.now(UTC).month, -1)
    return card_body(CAT.approving_card, year=year, month=month)


def _captured(bc: Bc) -> dict[str, Any]:
    return bc.payment(charge=True)


OTHER_BRAND = next(c for c in CAT.cards if c.brand != CAT.cards[0].brand and c.outcome == "approve")

PROBES: dict[str, Callable[[Bc], Any]] = {
    "bc.auth.missing_partner_ok": lambda bc: bc.http.get(
        "/payments/x", headers={AUTH.api_key_header: SIM.api_key}).status_code,
    "bc.auth.unknown_partner_401": lambda bc: bc.http.get(
        "/payments/x", headers={AUTH.api_key_header: SIM.api_key, AUTH.partner_header: "nope"}).status_code,
    "bc.auth.foreign_payment_visible": lambda bc: bc.get(bc.payment()["bcId"], other=True).status_code,
    "bc.card.decline_approved": lambda bc: bc.payment(card=card_body(CAT.declining_card))["state"],
    "bc.card.wrong_brand": lambda bc: bc.payment(card=card_body(OTHER_BRAND))["card"]["brand"],
    "bc.card.expiry_ignored": lambda bc: bc.authorize(payment_body(card=_expired_card())).status_code,
    "bc.email.wrong_decision": lambda bc: bc.payment(customer={"email": DECLINE_EMAIL.email})["decision"],
    "bc.email.no_liability": lambda bc: bc.payment(customer={"email": LIABILITY_EMAIL.email})["liabilityShift"],
    "bc.email.retry_no_processing": lambda bc: bc.payment(customer={"email": RETRY_EMAIL.email})["state"],
    "bc.token.refused": lambda bc: bc.authorize(payment_body(card=_DROP, token=TOKEN)).status_code,
    "bc.error.template_unfilled": lambda bc: bc.get("bc_missing").json()["message"],
    "bc.error.payment_not_found_code": lambda bc: bc.op("bc_missing", "capture").json()["code"],
    "bc.tx.capture_after_void": lambda bc: bc.op(
        bc.op(bc.payment()["bcId"], "void").json()["bcId"], "capture").json()["code"],
    "bc.tx.partial_refund_refunded": lambda bc: bc.op(
        _captured(bc)["bcId"], "refund", CAT.amounts.partial_refund).json()["state"],
    "bc.tx.void_after_capture": lambda bc: bc.op(_captured(bc)["bcId"], "void").status_code,
    "bc.amount.over_refund": lambda bc: bc.op(_captured(bc)["bcId"], "refund", CAT.amounts.authorized + 1).status_code,
    "bc.amount.over_capture": lambda bc: bc.op(bc.payment()["bcId"], "capture", CAT.amounts.authorized + 1).status_code,
    "bc.idem.off": lambda bc: _idem_pair(bc, lambda b, k: b.authorize(idem=k)),
    "bc.idem.shared_scope": lambda bc: _idem_pair(bc, lambda b, k: b.authorize(other=True, idem=k)),
    "bc.idem.store_validation": _store_validation_probe,
    "bc.idem.no_expiry": lambda bc: _idem_pair(bc, _after_retention),
    "bc.rate.headers_on_success_only": lambda bc: "X-RateLimit-Limit" in bc.get("bc_missing").headers,
    "bc.rate.limit_101": lambda bc: _burst(bc, CAT.rate_limit.limit + 1).status_code,
    "bc.rate.no_retry_after": lambda bc: "Retry-After" in _burst(bc, CAT.rate_limit.limit + 2).headers,
    "bc.lock.none": _lock_probe,
    "bc.validation.500_wrong_type": lambda bc: bc.authorize(payment_body(amount="10")).status_code,
    "bc.schema.id_renamed": lambda bc: sorted(bc.payment()),
    "bc.schema.amount_string": lambda bc: type(bc.payment()["amount"]).__name__,
    "bc.pan.leak": lambda bc: sorted(bc.payment()["card"]),
}


@pytest.fixture(scope="module")
def defect_bc() -> Iterator[Bc]:
    running = start(SimulatorConfig(defects_allowed=True))
    client = Bc(running.url)
    yield client
    client.close()
    running.stop()


def test_every_bettercharge_defect_has_a_probe() -> None:
    # the off-by-one defects of the catalog's boundaries are proven by tests/test_boundaries.py
    registered = {d.name for d in defect_registry.all_defects() if d.api == "bettercharge" and d.area != "boundaries"}
    assert len(registered) >= 20
    assert registered == set(PROBES)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_defect_changes_observable_behaviour(defect_bc: Bc, name: str) -> None:
    defect_bc.reset(enable=[])
    baseline = PROBES[name](defect_bc)
    defect_bc.reset(enable=[name])
    try:
        broken = PROBES[name](defect_bc)
    finally:
        defect_bc.reset(enable=[])
    assert broken != baseline, f"{name} changed nothing: {baseline!r}"


def test_defects_are_refused_in_a_normal_simulator(bc: Bc) -> None:
    assert bc.http.post("/_simulator/defects", json={"enable": ["bc.idem.off"]}).status_code == 404
