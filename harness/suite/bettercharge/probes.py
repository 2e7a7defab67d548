"""Probes of the BetterCharge boundaries: one function per boundary kind, checking one side of one number.

The registry mechanism is harness/suite/probes.py; suites/bettercharge/test_boundaries.py runs each row of the
catalog's `boundaries` table through `PROBES`.

Time windows are placed on the simulator clock (control interface): the first event is bracketed by two reads of
the clock, and the probe moves the clock to one second before the window ends (inside) or to its end (outside).
The simulator's clock keeps running in real time between steps; the steps take milliseconds, far less than the
one-second unit.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from harness.cards import random_text
from harness.catalog import bettercharge
from harness.catalog.bettercharge import Transition
from harness.catalog.boundaries import Boundary, Side
from harness.clients import BetterChargeClient
from harness.suite import probes
from harness.suite.failure import fail, same
from harness.suite.probes import ProbeRegistry, boundary_number, move_clock_to

from .checks import expect_error, expect_payment, fields_message, rate_headers
from .requests import Api, ClientFactory
from .scenarios import Scenario
from .views import retry_email, unique

_NOT_FOUND = "BC-ERR-404-PAYMENT"
_BAD_REQUEST = "BC-ERR-400-BAD-REQUEST"
_ALREADY_APPROVED = "BC-ERR-422-ALREADY-APPROVED"
_AUTO_VOIDED = "BC-ERR-422-ALREADY-AUTO-VOIDED"
#: How far into a second the first request of a timed window is placed (its ceiling is then unambiguous).
_MID_SECOND = 0.5
#: How far past a whole second the clock is put when a step must land "at" it.
_JUST_AFTER = 0.1


@dataclass
class ProbeContext(probes.ProbeContext):
    api: Api
    make_client: ClientFactory


PROBES: ProbeRegistry[ProbeContext] = ProbeRegistry("bettercharge")


# ------------------------------------------------------------------------------------------------- rate limit


def _counted(client: BetterChargeClient) -> httpx.Response:
    """The cheapest counted request: GET of a payment that does not exist (404 NOT_FOUND)."""
    return client.get_payment(unique("payment"))


def _not_limited(response: httpx.Response, what: str) -> dict[str, int]:
    rl = bettercharge().rate_limit
    if response.status_code == rl.status:
        fail(f"{what}: HTTP {rl.status} although the window allows it")
    bc_id = response.request.url.path.rsplit("/", 1)[-1]
    expect_error(response, _NOT_FOUND, bcId=bc_id)
    return rate_headers(response)


def _fresh_window(ctx: ProbeContext, client: BetterChargeClient) -> tuple[httpx.Response, float, float]:
    """The first request of a new window, and the target's clock read just before and after it.

    On the simulator the clock is moved past any open window and to the middle of a second; elsewhere the probe
    waits (at most one window) until the key's window has ended.
    """
    rl = bettercharge().rate_limit
    _, remaining_h, reset_h = rl.headers
    for _ in range(3):
        if ctx.control is not None:
            ctx.control.advance(rl.window_seconds + 1)
            now = ctx.control.now()
            ctx.control.advance((_MID_SECOND - now % 1) % 1)
        before = ctx.api.clock()
        first = _counted(client)
        after = ctx.api.clock()
        drained = first.status_code == rl.status and ctx.control is None  # a previous test's, or another client's
        if not drained:
            values = _not_limited(first, "the first request of a window")
            if values[remaining_h] == rl.limit - 1 and math.ceil(before) == math.ceil(after):
                return first, before, after
        if ctx.control is None:  # someone else's window is open (or drained): wait for it to end
            time.sleep(min(max(rate_headers(first)[reset_h] - time.time(), 0) + 1, rl.window_seconds + 2))
    fail(f"could not open a fresh rate-limit window: {remaining_h} never started at {rl.limit - 1}")


def _drain(client: BetterChargeClient, limit: int) -> httpx.Response:
    """Requests 2 .. limit of the window, Remaining exact at each; the last answer."""
    limit_h, remaining_h, _ = bettercharge().rate_limit.headers
    last: httpx.Response | None = None
    for n in range(2, limit + 1):
        last = _counted(client)
        values = _not_limited(last, f"request {n} of {limit}")
        same(values[remaining_h], limit - n, f"{remaining_h} after request {n}", last)
        same(values[limit_h], limit, limit_h, last)
    if last is None:
        fail(f"a window of {limit} requests has no request after the first")
    return last


@PROBES.probe("rate_count")
def rate_count(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    rl = bettercharge().rate_limit
    _, remaining_h, reset_h = rl.headers
    limit = int(boundary_number(b))
    client = ctx.make_client(budget=False).without_retries()
    first, _, _ = _fresh_window(ctx, client)
    reset = rate_headers(first)[reset_h]
    last = _drain(client, limit)
    same(rate_headers(last)[reset_h], reset, f"{reset_h} within one window", last)
    if side == "inside":
        same(rate_headers(last)[remaining_h], 0, f"{remaining_h} after request {limit}", last)
        return
    refused = _counted(client)
    same(refused.status_code, rl.status, f"HTTP status of request {limit + 1}", refused)
    values = rate_headers(refused)
    same(values[remaining_h], 0, f"{remaining_h} on the {rl.status}", refused)
    same(values[reset_h], reset, f"{reset_h} on the {rl.status}", refused)


@PROBES.probe("rate_reset")
def rate_reset(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    rl = bettercharge().rate_limit
    _, remaining_h, reset_h = rl.headers
    window = int(boundary_number(b))
    control = ctx.clock()
    client = ctx.make_client(budget=False).without_retries()
    first, before, _ = _fresh_window(ctx, client)
    reset = rate_headers(first)[reset_h]
    same(reset, math.ceil(before + window), f"{reset_h} of a window opened at {before:.1f}", first)
    _drain(client, rl.limit)
    same(_counted(client).status_code, rl.status, "HTTP status once the window is drained")
    if side == "inside":
        move_clock_to(control, reset - 1 + _JUST_AFTER)
        refused = _counted(client)
        same(refused.status_code, rl.status, f"HTTP status one second before {reset_h}", refused)
        same(rate_headers(refused)[reset_h], reset, f"{reset_h} one second before it", refused)
        return
    move_clock_to(control, reset + _JUST_AFTER)
    at = control.now()
    values = _not_limited(_counted(client), f"the first request at {reset_h}")
    same(values[remaining_h], rl.limit - 1, f"{remaining_h} of the new window")
    same(values[reset_h], math.ceil(at + window), f"{reset_h} of the new window")


# --------------------------------------------------------------------------------------------- time windows


@PROBES.probe("idem_retention")
def idem_retention(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    retention = int(boundary_number(b))
    control, api = ctx.clock(), ctx.api
    key, body = str(uuid.uuid4()), api.body()
    first = expect_payment(api.client.authorize(body, idempotency_key=key), "authorize",
                           state=bettercharge().approving_card.state)
    if side == "inside":
        control.advance(retention - 1)
        same(expect_payment(api.client.authorize(body, idempotency_key=key), "authorize"), first,
             f"the answer replayed {retention - 1} s after the first request")
        return
    control.advance(retention)
    # executed afresh: the order now exists, so the new attempt is a duplicate order
    expect_error(api.client.authorize(body, idempotency_key=key), _ALREADY_APPROVED)


@PROBES.probe("auth_validity")
def auth_validity(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    validity = int(boundary_number(b))
    control, api = ctx.clock(), ctx.api
    payment = api.authorized()
    bc_id = str(payment["bcId"])
    if side == "inside":
        control.advance(validity - 1)
        api.get(bc_id, state=bettercharge().approving_card.state)
        expect_payment(api.client.capture(bc_id, payment["amount"]), "capture",
                       state=bettercharge().situations["CAPTURED"].state)
        return
    control.advance(validity)
    voided = api.get(bc_id, state=bettercharge().situations["AUTO_VOIDED"].state)
    same(voided.get("autoVoided"), True, "autoVoided at the end of the validity")
    expect_error(api.client.capture(bc_id, payment["amount"]), _AUTO_VOIDED, bcId=bc_id)


@PROBES.probe("processing_window")
def processing_window(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    seconds = int(boundary_number(b))
    control, api = ctx.clock(), ctx.api
    processing = bettercharge().situations["PROCESSING"].state
    bc_id = str(api.authorized(processing, email=retry_email().email)["bcId"])
    control.advance(seconds - 1 if side == "inside" else seconds)
    api.get(bc_id, state=processing if side == "inside" else bettercharge().approving_card.state)


# ---------------------------------------------------------------------------------------------- card expiry


def _expiry_outcome(months: int) -> str | None:
    """The error id the table gives a card expiring `months` from the current month (None: it authorizes)."""
    rows = sorted((b for b in bettercharge().all_boundaries if b.probe == "card_expiry" and b.number is not None),
                  key=lambda b: float(b.number or 0))
    return next((str(b.params["error"]) for b in rows if months <= (b.number or 0)), None)


@PROBES.probe("card_expiry")
def card_expiry(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    months = int(boundary_number(b)) + (0 if side == "inside" else 1)
    expected = _expiry_outcome(months)
    if side == "inside" and expected != b.params["error"]:
        fail(f"boundary {b.id}: the table gives month {months} {expected}, not {b.params['error']}")
    api = ctx.api
    response = api.client.authorize(api.body(expiry=api.expiry(months)))
    if expected is None:
        expect_payment(response, "authorize", state=bettercharge().approving_card.state)
    else:
        expect_error(response, expected)


# ------------------------------------------------------------------------------------------------- amounts


def _cell(situation: str, operation: str, amount: str) -> Transition:
    for t in bettercharge().transitions:
        if t.from_ == situation and t.operation == operation and t.amount == amount:
            return t
    fail(f"the transition table has no {operation} ({amount}) from {situation}")


@PROBES.probe("remaining_amount")
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
        expect_error(response, cell.expect.error or "", bcId=scenario.bc_id)
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
    limit, kind = int(boundary_number(b)), str(b.params.get("kind", "max_length"))
    if kind == "max_length":
        length = limit if side == "inside" else limit + 1
        if b.params.get("filler") == "email":
            domain = "@example.com"
            return "a" * (length - len(domain)) + domain
        return ("paycert-" + random_text(length))[:length]
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


@PROBES.probe("field_limit")
def field_limit(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    api, path = ctx.api, str(b.params["field"])
    values = [_field_value(b, side)]
    if side == "outside" and b.params.get("kind") == "minimum":
        values.append(-1)  # and a negative value, for a lower limit
    for value in values:
        body = _with(api.body(), path, value)
        response = api.client.authorize(body)
        if side == "inside":
            payment = expect_payment(response, "authorize", state=bettercharge().approving_card.state)
            if path == "amount":
                same(payment.get("amount"), value, "amount of the payment", response)
        else:
            expect_error(response, _BAD_REQUEST, fields=fields_message([path]))
