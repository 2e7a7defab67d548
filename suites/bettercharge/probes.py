"""Probes of the BetterCharge boundaries: one function per boundary kind, checking one side of one number.

Why a registry: the catalog's `boundaries` table (harness/catalog/boundaries.py) names a probe per row; the suite
test (test_boundaries.py) runs the named probe once for the side at the number (inside) and once for the side one
unit beyond it (outside). A new row of a known kind gets its two tests without new code; a row naming an unknown
probe fails its tests, saying so.

Time windows are placed on the simulator clock (control interface): the first event is bracketed by two reads of
the clock, and the probe moves the clock to one second before the window ends (inside) or to its end (outside).
The simulator's clock keeps running in real time between steps; the steps take milliseconds, far less than the
one-second unit.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from harness.catalog.bettercharge import Transition
from harness.catalog.boundaries import Boundary, Side
from harness.clients import BetterChargeClient
from harness.simulator_control import SimulatorControl

from .support import (
    CATALOG,
    Api,
    ClientFactory,
    Scenario,
    expect_error,
    expect_payment,
    fail,
    fields_message,
    rate_headers,
    retry_email,
    same,
    unique,
)

RL = CATALOG.rate_limit
LIMIT_H, REMAINING_H, RESET_H = RL.headers
_NOT_FOUND = CATALOG.error("BC-ERR-404-PAYMENT")
_BAD_REQUEST = CATALOG.error("BC-ERR-400-BAD-REQUEST")
_ALREADY_APPROVED = CATALOG.error("BC-ERR-422-ALREADY-APPROVED")
_AUTO_VOIDED = CATALOG.error("BC-ERR-422-ALREADY-AUTO-VOIDED")
#: How far into a second the first request of a timed window is placed (its ceiling is then unambiguous).
_MID_SECOND = 0.5
#: How far past a whole second the clock is put when a step must land "at" it.
_JUST_AFTER = 0.1


@dataclass
class ProbeContext:
    api: Api
    make_client: ClientFactory
    control: SimulatorControl | None

    def clock(self) -> SimulatorControl:
        if self.control is None:
            fail("this boundary needs the simulator's control interface (clock)")
        return self.control


Probe = Callable[[ProbeContext, Boundary, Side], None]
PROBES: dict[str, Probe] = {}


def probe(name: str) -> Callable[[Probe], Probe]:
    def register(fn: Probe) -> Probe:
        PROBES[name] = fn
        return fn
    return register


def run(ctx: ProbeContext, boundary: Boundary, side: Side) -> None:
    fn = PROBES.get(boundary.probe)
    if fn is None:
        fail(f"boundary {boundary.id}: no probe {boundary.probe!r} in suites/bettercharge/probes.py "
             f"(known: {', '.join(sorted(PROBES))})")
    fn(ctx, boundary, side)


def _number(b: Boundary) -> int:
    if b.number is None:
        fail(f"boundary {b.id}: the {b.probe} probe needs a number")
    return int(b.number)


def _move_to(control: SimulatorControl, target: float) -> None:
    """Put the simulator clock at `target` (it only moves forward)."""
    now = control.now()
    if target > now:
        control.advance(target - now)


# ------------------------------------------------------------------------------------------------- rate limit


def _counted(client: BetterChargeClient) -> httpx.Response:
    """The cheapest counted request: GET of a payment that does not exist (404 NOT_FOUND)."""
    return client.get_payment(unique("payment"))


def _not_limited(response: httpx.Response, what: str) -> dict[str, int]:
    if response.status_code == RL.status:
        fail(f"{what}: HTTP {RL.status} although the window allows it")
    bc_id = response.request.url.path.rsplit("/", 1)[-1]
    expect_error(response, _NOT_FOUND, "get_payment", bcId=bc_id)
    return rate_headers(response)


def _fresh_window(ctx: ProbeContext, client: BetterChargeClient) -> tuple[httpx.Response, float, float]:
    """The first request of a new window, and the target's clock read just before and after it.

    On the simulator the clock is moved past any open window and to the middle of a second; elsewhere the probe
    waits (at most one window) until the key's window has ended.
    """
    for _ in range(3):
        if ctx.control is not None:
            ctx.control.advance(RL.window_seconds + 1)
            now = ctx.control.now()
            ctx.control.advance((_MID_SECOND - now % 1) % 1)
        before = ctx.api.clock()
        first = _counted(client)
        after = ctx.api.clock()
        if first.status_code == RL.status and ctx.control is None:
            # the window is still drained (the previous rate-limit test, or another client of the key)
            time.sleep(min(max(rate_headers(first)[RESET_H] - time.time(), 0) + 1, RL.window_seconds + 2))
            continue
        values = _not_limited(first, "the first request of a window")
        if values[REMAINING_H] == RL.limit - 1 and math.ceil(before) == math.ceil(after):
            return first, before, after
        if ctx.control is None:  # someone else's window is open: wait for it to end
            time.sleep(min(max(values[RESET_H] - time.time(), 0) + 1, RL.window_seconds + 2))
    fail(f"could not open a fresh rate-limit window: {REMAINING_H} never started at {RL.limit - 1}")


def _drain(client: BetterChargeClient, limit: int) -> httpx.Response:
    """Requests 2 .. limit of the window, Remaining exact at each; the last answer."""
    last: httpx.Response | None = None
    for n in range(2, limit + 1):
        last = _counted(client)
        values = _not_limited(last, f"request {n} of {limit}")
        same(values[REMAINING_H], limit - n, f"{REMAINING_H} after request {n}", last)
        same(values[LIMIT_H], limit, LIMIT_H, last)
    assert last is not None
    return last


@probe("rate_count")
def rate_count(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    limit = _number(b)
    client = ctx.make_client(budget=False).without_retries()
    first, _, _ = _fresh_window(ctx, client)
    reset = rate_headers(first)[RESET_H]
    last = _drain(client, limit)
    same(rate_headers(last)[RESET_H], reset, f"{RESET_H} within one window", last)
    if side == "inside":
        same(rate_headers(last)[REMAINING_H], 0, f"{REMAINING_H} after request {limit}", last)
        return
    refused = _counted(client)
    same(refused.status_code, RL.status, f"HTTP status of request {limit + 1}", refused)
    values = rate_headers(refused)
    same(values[REMAINING_H], 0, f"{REMAINING_H} on the {RL.status}", refused)
    same(values[RESET_H], reset, f"{RESET_H} on the {RL.status}", refused)


@probe("rate_reset")
def rate_reset(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    window = _number(b)
    control = ctx.clock()
    client = ctx.make_client(budget=False).without_retries()
    first, before, _ = _fresh_window(ctx, client)
    reset = rate_headers(first)[RESET_H]
    same(reset, math.ceil(before + window), f"{RESET_H} of a window opened at {before:.1f}", first)
    _drain(client, RL.limit)
    same(_counted(client).status_code, RL.status, "HTTP status once the window is drained")
    if side == "inside":
        _move_to(control, reset - 1 + _JUST_AFTER)
        refused = _counted(client)
        same(refused.status_code, RL.status, f"HTTP status one second before {RESET_H}", refused)
        same(rate_headers(refused)[RESET_H], reset, f"{RESET_H} one second before it", refused)
        return
    _move_to(control, reset + _JUST_AFTER)
    at = control.now()
    values = _not_limited(_counted(client), f"the first request at {RESET_H}")
    same(values[REMAINING_H], RL.limit - 1, f"{REMAINING_H} of the new window")
    same(values[RESET_H], math.ceil(at + window), f"{RESET_H} of the new window")


# --------------------------------------------------------------------------------------------- time windows


@probe("idem_retention")
def idem_retention(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    retention = _number(b)
    control, api = ctx.clock(), ctx.api
    key, body = str(uuid.uuid4()), api.body()
    first = expect_payment(api.client.authorize(body, idempotency_key=key), "authorize",
                           state=CATALOG.approving_card.state)
    if side == "inside":
        control.advance(retention - 1)
        same(expect_payment(api.client.authorize(body, idempotency_key=key), "authorize"), first,
             f"the answer replayed {retention - 1} s after the first request")
        return
    control.advance(retention)
    # executed afresh: the order now exists, so the new attempt is a duplicate order
    expect_error(api.client.authorize(body, idempotency_key=key), _ALREADY_APPROVED, "authorize")


@probe("auth_validity")
def auth_validity(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    validity = _number(b)
    control, api = ctx.clock(), ctx.api
    payment = api.authorized()
    bc_id = str(payment["bcId"])
    if side == "inside":
        control.advance(validity - 1)
        api.get(bc_id, state=CATALOG.approving_card.state)
        expect_payment(api.client.capture(bc_id, payment["amount"]), "capture",
                       state=CATALOG.situations["CAPTURED"].state)
        return
    control.advance(validity)
    voided = api.get(bc_id, state=CATALOG.situations["AUTO_VOIDED"].state)
    same(voided.get("autoVoided"), True, "autoVoided at the end of the validity")
    expect_error(api.client.capture(bc_id, payment["amount"]), _AUTO_VOIDED, "capture", bcId=bc_id)


@probe("processing_window")
def processing_window(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    seconds = _number(b)
    control, api = ctx.clock(), ctx.api
    processing = CATALOG.situations["PROCESSING"].state
    bc_id = str(api.authorized(processing, email=retry_email().email)["bcId"])
    control.advance(seconds - 1 if side == "inside" else seconds)
    api.get(bc_id, state=processing if side == "inside" else CATALOG.approving_card.state)


# ---------------------------------------------------------------------------------------------- card expiry


def _expiry_outcome(months: int) -> str | None:
    """The error id the table gives a card expiring `months` from the current month (None: it authorizes)."""
    rows = sorted((b for b in CATALOG.all_boundaries if b.probe == "card_expiry" and b.number is not None),
                  key=lambda b: float(b.number or 0))
    return next((str(b.params["error"]) for b in rows if months <= (b.number or 0)), None)


@probe("card_expiry")
def card_expiry(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    months = _number(b) + (0 if side == "inside" else 1)
    expected = _expiry_outcome(months)
    if side == "inside" and expected != b.params["error"]:
        fail(f"boundary {b.id}: the table gives month {months} {expected}, not {b.params['error']}")
    api = ctx.api
    response = api.client.authorize(api.body(expiry=api.expiry(months)))
    if expected is None:
        expect_payment(response, "authorize", state=CATALOG.approving_card.state)
    else:
        expect_error(response, CATALOG.error(expected), "authorize")


# ------------------------------------------------------------------------------------------------- amounts


def _cell(situation: str, operation: str, amount: str) -> Transition:
    for t in CATALOG.transitions:
        if t.from_ == situation and t.operation == operation and t.amount == amount:
            return t
    fail(f"the transition table has no {operation} ({amount}) from {situation}")


@probe("remaining_amount")
def remaining_amount(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    situation, operation = str(b.params["situation"]), str(b.params["operation"])
    scenario = Scenario(ctx.api, ctx.control)
    scenario.reach(situation)
    ledger = scenario.ledger
    remaining = ledger.capturable if operation == "capture" else ledger.refundable
    if remaining < 1:
        fail(f"boundary {b.id}: nothing left to {operation} in {situation}")
    amount = remaining if side == "inside" else remaining + 1
    cell = _cell(situation, operation, "full" if side == "inside" else "over")
    response = getattr(scenario.client, operation)(scenario.bc_id, amount)
    if cell.expect.state is None:
        expect_error(response, CATALOG.error(cell.expect.error or ""), operation, bcId=scenario.bc_id)
        after = ctx.api.get(scenario.bc_id)
        scenario.check_ledger(after, f"after the refused {operation} of {amount}")
        return
    payment = expect_payment(response, operation, state=cell.expect.state)
    if operation == "capture":
        ledger.captured += amount
    else:
        ledger.refunded += amount
    scenario.check_ledger(payment, f"after the {operation} of exactly the remaining {amount}")


# -------------------------------------------------------------------------------------------- field limits


def _field_value(b: Boundary, side: Side) -> Any:
    """The value at the limit (inside) or one unit beyond it (outside)."""
    limit, kind = _number(b), str(b.params.get("kind", "max_length"))
    if kind == "max_length":
        length = limit if side == "inside" else limit + 1
        if b.params.get("filler") == "email":
            domain = "@example.com"
            return "a" * (length - len(domain)) + domain
        return ("paycert-" + uuid.uuid4().hex * (length // 32 + 1))[:length]
    if kind == "maximum":
        return limit if side == "inside" else limit + 1
    if kind == "minimum":
        return limit if side == "inside" else limit - 1
    fail(f"boundary {b.id}: unknown field limit kind {kind!r}")


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = body
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    return body


@probe("field_limit")
def field_limit(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    api, path = ctx.api, str(b.params["field"])
    values = [_field_value(b, side)]
    if side == "outside" and b.params.get("kind") == "minimum":
        values.append(-1)  # and a negative value, for a lower limit
    for value in values:
        body = _with(api.body(), path, value)
        response = api.client.authorize(body)
        if side == "inside":
            payment = expect_payment(response, "authorize", state=CATALOG.approving_card.state)
            if path == "amount":
                same(payment.get("amount"), value, "amount of the payment", response)
        else:
            expect_error(response, _BAD_REQUEST, "authorize", fields=fields_message([path]))
