"""Shared builders and exact checks for the BetterCharge certification suites.

Why one module: every suite builds its requests from the catalog the same way and judges the answers the same
strict way (status, exact body, rate-limit headers, OpenAPI schema, no card data), so a check can never be
weaker in one suite than in another. Nothing here holds a test card, an error text or a status table: all of
it is read from ``harness.catalog.bettercharge()`` and the OpenAPI document.

Assertion messages go through ``harness.redaction`` so that a response that leaks a PAN does not carry the PAN
into the test report.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any, NoReturn

import httpx

from harness import openapi
from harness.cards import luhn_complete, mask_digits
from harness.catalog import bettercharge, known_pans
from harness.catalog.bettercharge import Card, Email, ErrorRow, Transition
from harness.catalog.overlay import Mismatch
from harness.clients import BetterChargeClient
from harness.redaction import redact_text
from harness.simulator_control import SimulatorControl

CATALOG = bettercharge()
API = "bettercharge"
#: The `make_client` fixture: more clients of the target (other credentials, retry policy, timeout, budget).
ClientFactory = Callable[..., BetterChargeClient]
#: The contract's example currency (ISO 4217); the only one a certification payment needs.
CURRENCY = "EUR"
#: The contract's two initiators (flows documented in the seed: online CIT, subscription MIT).
CIT, MIT = "CIT", "MIT"
CARD_METHOD, TOKEN_METHOD = "card", "token"
_ALL_PANS = known_pans()
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_UNIX_SECONDS = (10**9, 10**10)  # a Unix time in seconds (not ms, not a delta) lies in this range


# ----------------------------------------------------------------------------------------------- catalog views


def plain_approve_email() -> Email:
    """The documented test email that approves with no side effect (no retry, no liability shift)."""
    return next(e for e in CATALOG.emails
                if e.decision["decision"] == "APPROVE" and not e.passes_processing and not e.liability_shift)


def declining_email() -> Email:
    return next(e for e in CATALOG.emails if e.state == CATALOG.situations["DECLINED"].state)


def retry_email() -> Email:
    return next(e for e in CATALOG.emails if e.passes_processing)


def state_id(name: str) -> str:
    return CATALOG.state(name).id


def transition_label(t: Transition) -> str:
    """Readable test id of a transition cell: `AUTHORIZED-capture-over`."""
    return f"{t.from_}-{t.operation}-{t.amount}"


def card_label(card: Card) -> str:
    return f"{card.masked}-{card.outcome}"


def unique(prefix: str) -> str:
    """A fresh identifier matching the contract's Identifier pattern (never reuse state between runs)."""
    return f"paycert-{prefix}-{uuid.uuid4().hex[:24]}"


# ------------------------------------------------------------------------------------------ redacted messages


class CheckFailed(AssertionError):
    """A contract check that failed; the message never holds a full PAN or a secret."""


def fail(message: str) -> NoReturn:
    raise CheckFailed(redact_text(message, known_pans=_ALL_PANS))


def show(response: httpx.Response) -> str:
    """One line naming the exchange, for assertion messages (redacted by fail())."""
    request = response.request
    return f"{request.method} {request.url.path} -> HTTP {response.status_code} {response.text[:600]}"


def same(actual: Any, expected: Any, what: str, response: httpx.Response | None = None) -> None:
    if actual != expected:
        where = f"\n  in: {show(response)}" if response is not None else ""
        fail(f"{what}: expected {expected!r}, got {actual!r}{where}")


# ------------------------------------------------------------------------------------------------ time helpers


def month_of(now: float, delta: int = 0) -> tuple[int, int]:
    """(year, month) of `now` moved by `delta` months."""
    d = datetime.fromtimestamp(now, UTC)
    index = d.year * 12 + (d.month - 1) + delta
    return index // 12, index % 12 + 1


# ------------------------------------------------------------------------------------------------- the checks


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        fail(f"the body is not JSON: {show(response)}")


@cache
def operation_id(op_name: str) -> str:
    """The OpenAPI operationId of a catalog operation, found by its method and path (no second table)."""
    op = CATALOG.operation(op_name)
    item = openapi.document(API)["paths"][op.path][op.method.lower()]
    return str(item["operationId"])


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
    for name in CATALOG.rate_limit.headers:
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
    limit_name, remaining_name, reset_name = CATALOG.rate_limit.headers
    values = rate_headers(response)
    same(values[limit_name], CATALOG.rate_limit.limit, limit_name, response)
    if not 0 <= values[remaining_name] <= CATALOG.rate_limit.limit:
        fail(f"{remaining_name}={values[remaining_name]} outside 0..{CATALOG.rate_limit.limit}: {show(response)}")
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
    for pan in {*_sent_pans(response), *_ALL_PANS}:
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


def expect_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        fail(f"expected HTTP {status}: {show(response)}")


def expect_payment(response: httpx.Response, op_name: str, *, state: str | None = None,
                   status: int | None = None, entry: str | None = None) -> dict[str, Any]:
    """A successful payment answer (status from the catalog operation), checked and returned.

    `entry` is the catalog entry `status` and `state` come from (a transition id): a different answer is then a
    Mismatch naming that entry's field, which the report shows as an unconfirmed assumption on a sandbox.
    """
    expected = status if status is not None else CATALOG.operation(op_name).success
    if response.status_code != expected:
        where = (entry, "expect.status") if entry else (f"operation:{op_name}", "success")
        raise Mismatch("bettercharge", *where, expected, response.status_code,
                       redact_text(f"expected HTTP {expected}: {show(response)}", known_pans=_ALL_PANS))
    body: dict[str, Any] = check_common(op_name, response)
    if state is not None and body.get("state") != state and entry:
        raise Mismatch("bettercharge", entry, "expect.state", state, body.get("state"),
                       redact_text(f"state: expected {state!r}, got {body.get('state')!r}\n  in: {show(response)}",
                                   known_pans=_ALL_PANS))
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
    for row in CATALOG.errors:
        if row.status == response.status_code and row.code == body.get("code") and isinstance(message, str) \
                and template_values(row, message) is not None:
            return row
    return None


def expect_error(response: httpx.Response, row: ErrorRow, op_name: str, **values: Any) -> dict[str, str]:
    """The row's status and exactly its body (`values` fill the template; placeholders not given are read from
    the message and must be real values, not the placeholder itself). Returns the values used."""
    expect_status(response, row.status)
    body = check_common(op_name, response)
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


# ---------------------------------------------------------------------------------------------------- merchants


@dataclass(frozen=True)
class MerchantRef:
    merchant_id: str
    account_id: str | None
    created: bool


#: Merchant profiles the suites need; each changes one setting of a merchant the suite created itself.
PROFILES: dict[str, dict[str, bool]] = {
    "standard": {},
    "disabled": {"enabled": False},
    "mit": {"mitAllowed": True},
    "no_mit": {"mitAllowed": False},
    "no_refunds": {"refundsAllowed": False},
    "no_voids": {"voidsAllowed": False},
}


class Merchants:
    """Merchants created through POST /merchants (never the partner's real ones), one per profile.

    `cache` is kept for the session on targets that keep state; the embedded simulator is reset before each
    test, so there it is per test and the standard merchant is the catalog's seeded one.
    """

    def __init__(self, client: BetterChargeClient, target: Any, cache: dict[str, MerchantRef]) -> None:
        self._client = client
        self._target = target
        self._cache = cache

    def standard(self) -> MerchantRef:
        if self._target.embedded:
            sim = CATALOG.simulator
            return MerchantRef(sim.merchant_id, sim.account_id, created=False)
        return self.profile("standard")

    def profile(self, name: str) -> MerchantRef:
        if name not in self._cache:
            self._cache[name] = self._create(name, PROFILES[name])
        return self._cache[name]

    def _create(self, name: str, settings: Mapping[str, bool]) -> MerchantRef:
        merchant_id, account_id = unique("m"), unique("a")
        response = self._client.create_merchant(
            {"merchantId": merchant_id, "name": f"paycert certification {name}", "accountIds": [account_id]})
        if response.status_code != CATALOG.operation("create_merchant").success:
            if name == "standard" and self._target.is_simulator:
                sim = CATALOG.simulator  # fallback: the simulator's seeded merchant
                return MerchantRef(sim.merchant_id, sim.account_id, created=False)
            fail(f"cannot create the {name} merchant the suite needs: {show(response)}")
        created = check_common("create_merchant", response)
        same(created.get("merchantId"), merchant_id, "created merchant id", response)
        same(created.get("accountIds"), [account_id], "created merchant accounts", response)
        if settings:
            response = self._client.update_merchant(merchant_id, dict(settings))
            expect_status(response, CATALOG.operation("update_merchant").success)
            updated = check_common("update_merchant", response)
            for key, value in settings.items():
                same(updated.get(key), value, f"merchant setting {key} after PATCH", response)
        return MerchantRef(merchant_id, account_id, created=True)


# --------------------------------------------------------------------------------------------- request building


@dataclass
class Api:
    """The suites' view of the API: the client plus request builders that fill every field from the catalog."""

    client: BetterChargeClient
    target: Any
    merchants: Merchants
    clock: Callable[[], float]  # now on the target's clock (the simulator's may have been advanced)
    _now: float | None = field(default=None, repr=False)

    def now(self) -> float:
        """The target's time when this test first asked (card expiries are computed from it)."""
        if self._now is None:
            self._now = self.clock()
        return self._now

    def expiry(self, months_ahead: int) -> tuple[int, int]:
        """(year, month) this many months from today on the target's clock (negative: in the past)."""
        return month_of(self.now(), months_ahead)

    def card_input(self, card: Card | str, expiry: tuple[int, int] | None = None) -> dict[str, Any]:
        pan = card.pan if isinstance(card, Card) else card
        brand = card.brand if isinstance(card, Card) else ""
        year, month = expiry or self.expiry(36)
        return {"number": pan, "expMonth": month, "expYear": year,
                "cvv": "1234" if brand == "amex" else "123", "holder": "Paycert Certification"}

    def body(self, *, card: Card | str | None = None, token: str | None = None, email: str | None = None,
             amount: int | None = None, merchant: MerchantRef | None = None, expiry: tuple[int, int] | None = None,
             currency: str = CURRENCY, initiator: str | None = CIT, account_id: str | None = None,
             order_reference: str | None = None) -> dict[str, Any]:
        """An authorize/charge request; by default the first approving card and the plain approving email."""
        merchant = merchant or self.merchants.standard()
        body: dict[str, Any] = {
            "merchantId": merchant.merchant_id,
            "orderReference": order_reference or unique("order"),
            "amount": CATALOG.amounts.authorized if amount is None else amount,
            "currency": currency,
            "customer": {"email": email or plain_approve_email().email},
        }
        account = account_id or merchant.account_id
        if account:
            body["accountId"] = account
        if initiator is not None:
            body["initiator"] = initiator
        if token is not None:
            body["token"] = token
        else:
            body["card"] = self.card_input(card or CATALOG.approving_card, expiry)
        return body

    def authorized(self, state: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Authorize and return the checked payment (default: the approving card, expecting its state)."""
        expected = state or (CATALOG.approving_card.state if "token" not in kwargs else CATALOG.tokens[0].state)
        response = self.client.authorize(self.body(**kwargs))
        return expect_payment(response, "authorize", state=expected)

    def get(self, bc_id: str, *, state: str | None = None) -> dict[str, Any]:
        return expect_payment(self.client.get_payment(bc_id), "get_payment", state=state)


def expected_card(card: Card, card_input: Mapping[str, Any]) -> dict[str, Any]:
    """The masked card object the payment must show for a catalog card."""
    return {"brand": card.brand, "funding": card.funding, "bin": card.bin, "last4": card.last4,
            "expMonth": card_input["expMonth"], "expYear": card_input["expYear"]}


def non_test_pan() -> str:
    """A Luhn-valid PAN of the first approving card's length that is not in the sandbox test list."""
    base = CATALOG.approving_card.pan
    for n in range(1, 10**6):
        candidate = luhn_complete(base[:6] + str(n).zfill(len(base) - 7))
        if candidate not in _ALL_PANS:
            return candidate
    raise RuntimeError("unreachable: a million candidates cannot all be test cards")


# ------------------------------------------------------------------------------------------------ the scenarios


@dataclass
class Ledger:
    """The amounts a scenario has moved so far (minor units), to check the payment's counters against."""

    authorized: int = 0
    captured: int = 0
    refunded: int = 0

    @property
    def capturable(self) -> int:
        return self.authorized if self.captured == 0 else 0  # one capture; the rest is released

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded


class Scenario:
    """Reaches a situation of the catalog by its steps, checking each step's answer and the amounts."""

    def __init__(self, api: Api, control: SimulatorControl | None = None) -> None:
        self.api = api
        self.control = control
        self.ledger = Ledger()
        self.payment: dict[str, Any] = {}
        self.history: list[tuple[httpx.Response | None, dict[str, Any]]] = []  # (answer, payment) per step
        self._situation = ""

    @property
    def bc_id(self) -> str:
        return str(self.payment["bcId"])

    @property
    def client(self) -> BetterChargeClient:
        return self.api.client

    def reach(self, situation: str) -> dict[str, Any]:
        spec = CATALOG.situations[situation]
        self._situation = situation
        for step in spec.steps:
            action = getattr(self, f"_step_{step}", None)
            if action is None:
                fail(f"situation {situation}: no implementation of step {step!r}")
            action()
        self.payment = self.api.get(self.bc_id, state=spec.state)
        self.check_ledger(self.payment, f"after reaching {situation}")
        return self.payment

    def check_ledger(self, payment: Mapping[str, Any], when: str) -> None:
        same(payment.get("capturedAmount"), self.ledger.captured, f"capturedAmount {when}")
        same(payment.get("refundedAmount"), self.ledger.refunded, f"refundedAmount {when}")

    def _record(self, response: httpx.Response | None, payment: dict[str, Any]) -> None:
        self.payment = payment
        self.history.append((response, payment))

    def _authorize(self, state: str, **kwargs: Any) -> None:
        response = self.client.authorize(self.api.body(**kwargs))
        payment = expect_payment(response, "authorize", state=state)
        self.ledger.authorized = payment["amount"] if state == CATALOG.approving_card.state else 0
        same(payment.get("authorizedAmount"), self.ledger.authorized, "authorizedAmount after authorize", response)
        self._record(response, payment)

    def _operate(self, op: str, amount: int | None, state: str) -> None:
        method = getattr(self.client, op)
        response = method(self.bc_id, amount) if op in ("capture", "refund") else method(self.bc_id)
        self._record(response, expect_payment(response, op, state=state))

    def _step_authorize(self) -> None:
        self._authorize(CATALOG.approving_card.state)

    def _step_authorize_declined_email(self) -> None:
        email = declining_email()
        self._authorize(email.state, email=email.email)

    def _step_authorize_declined_card(self) -> None:
        self._authorize(CATALOG.declining_card.state, card=CATALOG.declining_card)

    def _step_authorize_retry_email(self) -> None:
        self._authorize(CATALOG.situations["PROCESSING"].state, email=retry_email().email)

    def _step_capture_full(self) -> None:
        amount = self.ledger.capturable
        self._operate("capture", amount, CATALOG.situations["CAPTURED"].state)
        self.ledger.captured = amount

    def _step_capture_partial(self) -> None:
        amount = CATALOG.amounts.partial_capture
        self._operate("capture", amount, CATALOG.situations["PARTIALLY_CAPTURED"].state)
        self.ledger.captured = amount

    def _step_refund_partial(self) -> None:
        amount = CATALOG.amounts.partial_refund
        self._operate("refund", amount, CATALOG.situations["PARTIALLY_REFUNDED"].state)
        self.ledger.refunded += amount

    def _step_refund_full(self) -> None:
        amount = self.ledger.refundable
        self._operate("refund", amount, CATALOG.situations["REFUNDED"].state)
        self.ledger.refunded += amount

    def _step_void(self) -> None:
        self._operate("void", None, CATALOG.situations["VOIDED"].state)

    def _step_stop(self) -> None:
        self._operate("stop", None, CATALOG.situations["STOPPED"].state)

    def _need_control(self) -> SimulatorControl:
        if self.control is None:
            fail(f"situation {self._situation} needs the simulator's control interface")
        return self.control

    def _step_expire_authorization(self) -> None:
        self._need_control().advance(CATALOG.authorization_validity_seconds)
        payment = self.api.get(self.bc_id, state=CATALOG.situations["AUTO_VOIDED"].state)
        same(payment.get("autoVoided"), True, "autoVoided after the authorization validity")
        self._record(None, payment)

    def _step_force_state(self) -> None:
        state = CATALOG.situations[self._situation].state
        self._need_control().bc_force_state(self.bc_id, state)
        self._record(None, self.api.get(self.bc_id, state=state))

    # the operation of a transition cell

    def amount_for(self, t: Transition) -> int | None:
        """The amount rule of the cell: full = what remains, partial, over = remains + 1, none = no amount."""
        if t.amount == "none":
            return None
        if t.operation == "capture":
            remaining, partial = self.ledger.capturable, CATALOG.amounts.partial_capture
        else:
            remaining, partial = self.ledger.refundable, CATALOG.amounts.partial_refund
        if remaining < 1:  # nothing left: any valid amount, the state decides the answer
            remaining = CATALOG.amounts.authorized
        return {"full": remaining, "partial": partial, "over": remaining + 1}[t.amount]

    def apply(self, t: Transition) -> tuple[httpx.Response, int | None]:
        amount = self.amount_for(t)
        method = getattr(self.client, t.operation)
        if t.operation in ("capture", "refund"):
            return method(self.bc_id, amount), amount
        return method(self.bc_id), amount


def race(control: SimulatorControl, clients: tuple[BetterChargeClient, BetterChargeClient],
         first: Callable[[BetterChargeClient], httpx.Response], second: Callable[[BetterChargeClient], httpx.Response],
         psp_seconds: float = 1.0) -> list[httpx.Response]:
    """Two requests at once (one client each): the simulated PSP is slowed so the second arrives while the
    first is being processed. Returns the two answers in the order the requests were started."""
    control.bc_latency(psp_seconds)
    results: list[httpx.Response | None] = [None, None]

    def run(i: int, op: Callable[[BetterChargeClient], httpx.Response]) -> None:
        results[i] = op(clients[i])

    threads = [threading.Thread(target=run, args=(0, first)), threading.Thread(target=run, args=(1, second))]
    try:
        threads[0].start()
        time.sleep(psp_seconds / 4)
        threads[1].start()
        for thread in threads:
            thread.join(60)
    finally:
        control.bc_latency(0)
    done = [r for r in results if r is not None]
    if len(done) != len(results):
        fail("a concurrent request did not complete")
    return done
