"""Probes of the Better Payment boundaries: one function per boundary kind, checking one side of one number.

The registry mechanism is harness/suite/probes.py; suites/betterpayment/test_boundaries.py runs each row of the
catalog's `boundaries` table (plus one derived row per field max_length) through `PROBES`.

Time windows are placed on the simulator clock (control interface), which keeps running in real time between
steps; the steps take milliseconds, far less than the one-second unit. Postback retry times are measured from the
simulator's delivery log (the time each attempt went out), one attempt after the other.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from harness.cards import random_text
from harness.catalog import betterpayment
from harness.catalog.boundaries import Boundary, Side
from harness.receiver import PostbackReceiver
from harness.simulator_control import SimulatorControl
from harness.suite import probes
from harness.suite.failure import ensure, fail, same, show
from harness.suite.probes import ProbeRegistry, boundary_number, move_clock_to

from .checks import expect_error, expect_operation, expect_payment, json_body
from .postbacks import deliveries_log, wait_log, wait_postbacks
from .requests import Urls, body_for, mpi_body
from .scenarios import authorized, completed
from .views import CENT, card_type, money, money_text

_INVALID = "BP-ERR-205-INVALID-FIELDS"
#: How late (simulator seconds) an attempt may go out after it is due: the delivery loop polls every 0.1 s; less
#: than the one-second unit of the spacing boundary.
_ON_TIME = 0.9
#: Fields whose value names something (a payment type, a transaction): a value at the limit passes validation and
#: is then refused as unknown, so inside only proves it was not refused as too long.
_REFERENCES = ("payment_type", "transaction_id", "original_transaction_id")
#: The create operation a field of each request group is sent with.
_FOLLOW_UP_SETUP = {"capture": authorized, "reverse": authorized, "refund": completed}


def _success() -> int:
    return betterpayment().outcomes.success_status["payment"]


@dataclass
class ProbeContext(probes.ProbeContext):
    client: Any
    urls: Urls
    receiver: PostbackReceiver | None


PROBES: ProbeRegistry[ProbeContext] = ProbeRegistry("betterpayment")


def _text(length: int) -> str:
    """A unique printable string of exactly `length` characters."""
    return ("pc" + random_text(length))[:length]


def _pay(ctx: ProbeContext, **kwargs: Any) -> tuple[dict[str, Any], httpx.Response]:
    sent = mpi_body(ctx.urls)
    return sent, ctx.client.payment(sent, **kwargs)


# ------------------------------------------------------------------------------------------------- idempotency


def _replay(first: httpx.Response, again: httpx.Response, when: str) -> None:
    ensure(again.status_code == first.status_code and again.content == first.content,
           f"{when}: expected the stored answer, got {show(again)}")
    replay_header = betterpayment().idempotency.replay_header
    ensure(replay_header in again.headers, f"{when}: a replay carries {replay_header}")


@PROBES.probe("idem_retention")
def idem_retention(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    retention, header, key = boundary_number(b), str(b.params["header"]), str(uuid.uuid4())
    control = ctx.clock()
    sent, first = _pay(ctx, idempotency_key=key, idempotency_header=header)
    expect_payment(first, "payment", sent, status_code=_success())
    control.advance(retention - 1 if side == "inside" else retention)
    again = ctx.client.payment(sent, idempotency_key=key, idempotency_header=header)
    if side == "inside":
        _replay(first, again, f"{header} {retention - 1:g} s after the first request")
        return
    expect_payment(again, "payment", sent, status_code=_success())
    ensure(betterpayment().idempotency.replay_header not in again.headers,
           f"{header} {retention:g} s later: still a replay")
    ensure(json_body(again)["transaction_id"] != json_body(first)["transaction_id"],
           f"{header} {retention:g} s later: the stored transaction came back instead of a new one")


@PROBES.probe("idem_key_length")
def idem_key_length(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    longest = int(boundary_number(b))
    for header in betterpayment().idempotency.headers:
        key = _text(longest if side == "inside" else longest + 1)
        sent, first = _pay(ctx, idempotency_key=key, idempotency_header=header)
        if side == "outside":
            expect_error(first, _INVALID, fields=header)
            continue
        expect_payment(first, "payment", sent, status_code=_success())
        _replay(first, ctx.client.payment(sent, idempotency_key=key, idempotency_header=header),
                f"a {longest}-character {header}")


# --------------------------------------------------------------------------------------------------- body size


@PROBES.probe("body_size")
def body_size(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    limit = int(boundary_number(b))
    sent = mpi_body(ctx.urls)
    text = json.dumps(sent).encode()
    size = limit if side == "inside" else limit + 1
    ensure(len(text) < size, f"the request ({len(text)} bytes) is larger than the limit before padding")
    content = text + b" " * (size - len(text))  # trailing white space: still the same JSON object
    response = ctx.client.raw("POST", betterpayment().operation("payment").path, content=content,
                              headers={"Content-Type": betterpayment().auth.content_type})
    if side == "inside":
        expect_payment(response, "payment", sent, status_code=_success())
    else:
        expect_error(response, "BP-ERR-218-TOO-LARGE", limit=limit)


# ------------------------------------------------------------------------------------------------ postback retries


def _failing_payment(ctx: ProbeContext) -> tuple[PostbackReceiver, str]:
    rx = ctx.receiver
    if rx is None:
        fail("postback boundaries need the test's own receiver")
    rx.fail_next(betterpayment().postbacks.retry.max_attempts + 5, 500)
    sent = mpi_body(ctx.urls, postback_url=rx.url)
    tid = str(expect_payment(ctx.client.payment(sent), "payment", sent, status_code=_success())["transaction_id"])
    wait_postbacks(rx, tid, 1, timeout=5)
    return rx, tid


def _next_due(control: SimulatorControl, tid: str, number: int, spacing: float) -> float:
    """When attempt `number` is due: the previous attempt's time in the delivery log + the spacing."""
    log = wait_log(control, tid, number - 1)
    ensure(len(log) >= number - 1, f"the delivery log shows {len(log)} attempts, expected {number - 1}")
    return float(log[number - 2]["at"]) + spacing


def _came(rx: PostbackReceiver, tid: str, number: int, why: str) -> None:
    """Attempt `number` has arrived: the clock move that made it due answers once it was attempted, so it is
    there within _ON_TIME (a late one, waited for, made each defect run of these probes last seconds)."""
    try:
        wait_postbacks(rx, tid, number, timeout=_ON_TIME)
    except TimeoutError:
        fail(why)


def _attempts(log: list[dict[str, Any]]) -> list[int]:
    return [int(d["attempt"]) for d in log]


@PROBES.probe("retry_spacing")
def retry_spacing(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    spacing = boundary_number(b)
    control = ctx.clock()
    rx, tid = _failing_payment(ctx)
    max_attempts = betterpayment().postbacks.retry.max_attempts
    for number in range(2, max_attempts + 1):
        due = _next_due(control, tid, number, spacing)
        if side == "inside":
            move_clock_to(control, due - 1)  # answers once what the move made due was attempted
            seen = len(rx.for_transaction(tid))
            ensure(seen == number - 1,
                   f"attempt {number} came {spacing - 1:g} s after attempt {number - 1} (expected {spacing:g} s)")
        move_clock_to(control, due)
        _came(rx, tid, number, f"attempt {number} did not come {spacing:g} s after attempt {number - 1}")
        if side == "outside":
            # it went out when due, not a second (one unit) later: the clock keeps running while we wait
            at = float(wait_log(control, tid, number)[number - 1]["at"])
            ensure(due <= at < due + _ON_TIME,
                   f"attempt {number} went out {at - due + spacing:.2f} s after attempt {number - 1}; "
                   f"expected {spacing:g} s")
    same(_attempts(wait_log(control, tid, max_attempts)), list(range(1, max_attempts + 1)),
         "the attempts in the delivery log")


@PROBES.probe("retry_max")
def retry_max(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    attempts = int(boundary_number(b))
    control = ctx.clock()
    rx, tid = _failing_payment(ctx)
    interval = betterpayment().postbacks.retry.interval_seconds
    for number in range(2, attempts + 1):
        move_clock_to(control, _next_due(control, tid, number, interval))
        _came(rx, tid, number, f"attempt {number} did not come {interval:g} s after attempt {number - 1}")
    if side == "inside":
        same(_attempts(wait_log(control, tid, attempts)), list(range(1, attempts + 1)),
             "the attempts in the delivery log")
        return
    for _ in range(3):
        control.advance(interval)  # answers once what the move made due was attempted
    ensure(len(rx.for_transaction(tid)) == attempts, f"a postback was attempted again after attempt {attempts}")
    same(len(deliveries_log(control, tid)), attempts, "attempts in the simulator's delivery log")


# ------------------------------------------------------------------------------------------------------ amounts


_EXCEEDS = {"capture": "BP-ERR-208-CAPTURE-EXCEEDS", "reverse": "BP-ERR-208-CAPTURE-EXCEEDS",
            "refund": "BP-ERR-209-REFUND-EXCEEDS"}
_DONE = {"capture": "completed", "reverse": "reversed", "refund": None}


@PROBES.probe("remaining_amount")
def remaining_amount(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    operation = str(b.params["operation"])
    sent, tid = _FOLLOW_UP_SETUP[operation](ctx.client, ctx.urls)
    remaining = money(sent["amount"])
    call = getattr(ctx.client, operation)
    if b.params.get("first") == "partial":
        part = (remaining / 3).quantize(CENT)
        expect_operation(call(tid, money_text(part)), operation)
        remaining -= part
    amount = remaining if side == "inside" else remaining + CENT
    response = call(tid, money_text(amount))
    if side == "outside":
        expect_error(response, _EXCEEDS[operation], amount=money_text(amount), available=money_text(remaining))
        return
    done = _DONE[operation]
    body = expect_operation(response, operation)
    if done is not None:
        same(body["status_code"], betterpayment().status_named(done).code,
             f"status_code of the {operation} of exactly the remaining {amount}", response)
    else:
        same(body["status_code"], betterpayment().refund_status("successful").code,
             f"status_code of the refund of {amount}", response)


# ------------------------------------------------------------------------------------------------ field limits


def _amount_value(b: Boundary, side: Side) -> list[str]:
    kind, limit = str(b.params.get("kind")), Decimal(str(boundary_number(b)))
    if kind == "decimals":
        places = int(limit) + (0 if side == "inside" else 1)
        return [f"15.{'9' * (places - 1)}1"]
    if kind == "maximum":
        return [money_text(limit if side == "inside" else limit + CENT)]
    if kind == "minimum":
        return [money_text(limit)] if side == "inside" else [money_text(limit - CENT), money_text(-CENT)]
    fail(f"boundary {b.id}: unknown field limit kind {kind!r}")


@PROBES.probe("field_limit")
def field_limit(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    field = str(b.params["field"])
    ensure(field == "amount", f"boundary {b.id}: the field_limit probe knows amount only, not {field}")
    for value in _amount_value(b, side):
        sent = mpi_body(ctx.urls, amount=value)
        response = ctx.client.payment(sent)
        if side == "inside":
            expect_payment(response, "payment", sent, status_code=_success())
        else:
            expect_error(response, _INVALID, fields=field)


def _refused_as_invalid(response: httpx.Response, field: str) -> bool:
    try:  # by error_code, not HTTP status: the gateway may answer errors in band (HTTP 200)
        body = response.json()
    except ValueError:
        return False
    names = str(body.get("error_message", "")).rsplit(":", 1)[-1]
    invalid = betterpayment().error(_INVALID).code
    return body.get("error_code") == invalid and field in [n.strip() for n in names.split(",")]


@PROBES.probe("field_max_length")
def field_max_length(ctx: ProbeContext, b: Boundary, side: Side) -> None:
    group, block, field = str(b.params["group"]), str(b.params["block"]), str(b.params["field"])
    length = int(boundary_number(b)) + (0 if side == "inside" else 1)
    value = _text(length)
    pt_name = ""
    if group == "field_blocks":
        pt_name = _payment_type_with(block)
        base = mpi_body(ctx.urls) if pt_name == card_type().name else body_for(pt_name, ctx.urls)
        sent = {**base, field: value}
        if field == "original_transaction_id":  # a charge of a stored card carries no card data (D-reg)
            for name in betterpayment().field_blocks["cardholder_data"].names:
                sent.pop(name, None)
        response = ctx.client.payment(sent)
    else:
        _, tid = _FOLLOW_UP_SETUP[block](ctx.client, ctx.urls)
        call = getattr(ctx.client, block)
        response = call(value) if field == "transaction_id" else call(tid, extra={field: value})
    if side == "outside":
        expect_error(response, _INVALID, fields=field)
        return
    ensure(response.status_code < 500, f"{field} of {length} characters: {show(response)}")
    ensure(not _refused_as_invalid(response, field), f"{field} of {length} characters refused: {show(response)}")
    if field not in _REFERENCES:
        if group == "field_blocks" and pt_name == card_type().name:
            expect_payment(response, "payment", sent, status_code=_success())
        elif group == "field_blocks":  # another flow: accepted, whatever its first status
            body = json_body(response)
            ensure(response.status_code == betterpayment().operation("payment").success and body.get("error_code") == 0,
                   f"{pt_name} with {field} of {length} characters: {show(response)}")
        else:
            expect_operation(response, block)


def _payment_type_with(block: str) -> str:
    """A payment type that takes the block (the card type with own-MPI values first: answered directly)."""
    types = [card_type(), *(pt for pt in betterpayment().payment_types if pt.name != card_type().name)]
    for pt in types:
        if pt.blocks.get(block, "absent") != "absent" and "payment" in pt.operations:
            return pt.name
    fail(f"no payment type takes the {block} block")
