"""The documented rate limit: 100 requests a minute per API key, 429 with X-RateLimit-* headers when exceeded.

Proves: every answer (success or error) carries the three headers with the documented limit and a reset in
Unix seconds within the window; draining X-RateLimit-Remaining to 0 makes the next request 429 with
Remaining 0, a reset and a Retry-After that agree; requests pass again after the reset (simulator clock); the
count is kept per API key (the other key is unaffected). The suite's own client is used without retries and
without the run's request budget, so it sees the 429 the API gives.

On a sandbox this test spends the key's whole minute: other tests running at the same time will meet 429s,
which the client retries (Retry-After) and the report classifies as infrastructure if they persist.
"""

from __future__ import annotations

import httpx
import pytest

from harness.catalog import bettercharge
from harness.clients import BetterChargeClient
from harness.simulator_control import SimulatorControl
from harness.suite.bettercharge.checks import (
    check_no_card_data,
    check_rate_headers,
    check_schema,
    expect_error,
    expect_payment,
    expect_status,
    rate_headers,
)
from harness.suite.bettercharge.requests import Api, ClientFactory
from harness.suite.bettercharge.views import unique
from harness.suite.failure import fail, same

CATALOG = bettercharge()

RL = CATALOG.rate_limit
LIMIT_H, REMAINING_H, RESET_H = RL.headers
RETRY_AFTER = "Retry-After"
_NOT_FOUND = "BC-ERR-404-PAYMENT"
#: Clock slack between the server's and ours, in seconds (rounding of Unix seconds, request time).
SLACK = 2


def _probe(client: BetterChargeClient) -> httpx.Response:
    """The cheapest counted request: GET of a payment that does not exist."""
    return client.get_payment(unique("payment"))


def _check_reset_window(response: httpx.Response, now: float) -> None:
    reset = rate_headers(response)[RESET_H]
    if not now - SLACK <= reset <= now + RL.window_seconds + SLACK:
        fail(f"{RESET_H}={reset} is not within the current {RL.window_seconds} s window (now {now:.0f})")


def drain(client: BetterChargeClient, *, alone: bool = True) -> httpx.Response:
    """Send counted requests until X-RateLimit-Remaining is 0; return the last answer.

    `alone`: nobody else uses the key (the embedded simulator): each request takes exactly one from Remaining
    and a 429 before it reached 0 is wrong. Elsewhere other clients of the key count too, a window may end
    midway (so up to two windows' worth are sent), and a 429 is returned as it is.
    """
    previous: dict[str, int] | None = None
    attempts = RL.limit + 1 if alone else 2 * RL.limit + 1
    for _ in range(attempts):
        response = _probe(client)
        if response.status_code == RL.status:
            if not alone:
                return response
            fail(f"HTTP {RL.status} while {REMAINING_H} had not reached 0 (last was {previous})")
        bc_id = response.request.url.path.rsplit("/", 1)[-1]
        expect_error(response, _NOT_FOUND, bcId=bc_id)
        values = rate_headers(response)
        if previous and values[RESET_H] == previous[RESET_H]:
            went_down = (values[REMAINING_H] == previous[REMAINING_H] - 1 if alone
                         else values[REMAINING_H] < previous[REMAINING_H])
            if not went_down:
                fail(f"{REMAINING_H} did not count the request: {previous[REMAINING_H]} -> {values[REMAINING_H]}")
        if values[REMAINING_H] == 0:
            return response
        previous = values
    fail(f"{REMAINING_H} never reached 0 in {attempts} requests")


def exhaust(client: BetterChargeClient, *, alone: bool) -> httpx.Response:
    """Drain the window and return the first refused answer (the one after Remaining reached 0)."""
    last = drain(client, alone=alone)
    return last if last.status_code == RL.status else _probe(client)


def check_limited(response: httpx.Response, now: float) -> dict[str, int]:
    """The 429 as documented: status, Limit, Remaining 0, a reset in the window, a Retry-After that agrees."""
    expect_status(response, RL.status)
    values = check_rate_headers(response)
    same(values[REMAINING_H], 0, REMAINING_H, response)
    _check_reset_window(response, now)
    raw = response.headers.get(RETRY_AFTER)
    if raw is None or not raw.strip().isdigit():
        fail(f"{RETRY_AFTER} missing or not a number of seconds on the {RL.status}: {raw!r}")
    retry_after = int(raw)
    if not 0 <= retry_after <= RL.window_seconds:
        fail(f"{RETRY_AFTER}={retry_after} outside 0..{RL.window_seconds}")
    if abs(values[RESET_H] - now - retry_after) > SLACK:
        fail(f"{RETRY_AFTER}={retry_after} disagrees with {RESET_H}={values[RESET_H]} (now {now:.0f})")
    check_no_card_data(response)
    check_schema("get_payment", response)
    return values


@pytest.mark.requirement("BC-RATE-HEADERS")
def test_every_answer_carries_the_rate_headers(api: Api, make_client: ClientFactory) -> None:
    answers = [
        ("authorize", api.client.authorize(api.body())),
        ("authorize", api.client.authorize({})),
        ("get_payment", _probe(api.client)),
        ("get_payment", _probe(make_client(api_key=unique("wrong-key")))),
    ]
    now = api.clock()
    for op, response in answers:
        check_rate_headers(response)
        _check_reset_window(response, now)
        check_schema(op, response)


@pytest.mark.provokes_rate_limit
@pytest.mark.requirement(RL.id, "BC-RATE-429")
def test_the_request_after_the_last_one_gets_429(api: Api, make_client: ClientFactory) -> None:
    client = make_client(budget=False).without_retries()
    check_limited(exhaust(client, alone=api.target.embedded), api.clock())


@pytest.mark.simulator_only
@pytest.mark.provokes_rate_limit
@pytest.mark.requirement(RL.id, "BC-RATE-RESET")
def test_requests_pass_again_after_the_reset(api: Api, make_client: ClientFactory,
                                             simulator_control: SimulatorControl) -> None:
    client = make_client(budget=False).without_retries()
    refused = exhaust(client, alone=api.target.embedded)
    now = simulator_control.now()
    limited = check_limited(refused, now)
    simulator_control.advance(max(limited[RESET_H] - now, 0) + 1)
    response = _probe(client)
    bc_id = response.request.url.path.rsplit("/", 1)[-1]
    expect_error(response, _NOT_FOUND, bcId=bc_id)
    values = rate_headers(response)
    if api.target.embedded:  # nobody else counts: exactly this request is taken from the fresh window
        same(values[REMAINING_H], RL.limit - 1, f"{REMAINING_H} after the reset", response)
    elif not 0 < values[REMAINING_H] < RL.limit:
        fail(f"{REMAINING_H}={values[REMAINING_H]} after the reset: expected a fresh window")
    if values[RESET_H] <= limited[RESET_H]:
        fail(f"{RESET_H} did not move to a new window: {limited[RESET_H]} -> {values[RESET_H]}")


@pytest.mark.simulator_only
@pytest.mark.provokes_rate_limit
@pytest.mark.requirement(RL.id, "BC-RATE-PER-KEY")
def test_the_limit_is_counted_per_api_key(api: Api, make_client: ClientFactory,
                                          simulator_control: SimulatorControl) -> None:
    sim = CATALOG.simulator
    ours = make_client(budget=False).without_retries()
    theirs = make_client(api_key=sim.other_api_key, partner_id=sim.other_partner_id, budget=False).without_retries()
    check_limited(exhaust(ours, alone=api.target.embedded), simulator_control.now())
    response = theirs.get_payment(unique("payment"))
    bc_id = response.request.url.path.rsplit("/", 1)[-1]
    expect_error(response, _NOT_FOUND, bcId=bc_id)
    if rate_headers(response)[REMAINING_H] == 0:
        fail("the other API key has no requests left although only ours was drained")
    # and ours is still limited: the other key's request did not reset it
    check_limited(_probe(ours), simulator_control.now())
    expect_payment(theirs.authorize({**api.body(account_id=sim.other_account_id), "merchantId": sim.other_merchant_id}),
                   "authorize", state=CATALOG.approving_card.state)
