"""Idempotency (000 §3): X-Idempotency-Key or Idempotency-Key on a POST replays the first response for 1 hour.

Proves, for both header names of the catalog, that a repeated request gets the identical cached response and
creates nothing new (no second transaction, capture, refund or postback); which header wins when both are sent;
that the key expires after the retention (simulator clock); that two merchants never share a key (simulator's
second credential); that a request refused by validation stores nothing; and that concurrent duplicates create
one transaction. The IETF draft's 409 (in flight) and 422 (different payload) are advisory checks.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.simulator_control import SimulatorControl
from harness.suite.betterpayment.checks import (
    expect_error,
    expect_operation,
    expect_payment,
    get_transaction,
    json_body,
)
from harness.suite.betterpayment.postbacks import wait_postbacks
from harness.suite.betterpayment.requests import Urls, mpi_body
from harness.suite.betterpayment.scenarios import authorized, completed
from harness.suite.betterpayment.views import money

CAT = betterpayment()

# Replays must not meet a clock moved by another worker sharing an external simulator (see conftest.clock_lock).
pytestmark = pytest.mark.usefixtures("clock_lock")

IDEM = CAT.idempotency
SUCCESS = CAT.outcomes.success_status["payment"]
# The rule each header name proves.
_HEADER_RULE = {"x-idempotency-key": "BP-IDEM-X-HEADER", "idempotency-key": "BP-IDEM-HEADER"}
HEADERS = [pytest.param(h, id=h, marks=pytest.mark.requirement("BP-IDEMPOTENCY", _HEADER_RULE[h.lower()]))
           for h in IDEM.headers]


def _key() -> str:
    return str(uuid.uuid4())


def _replayed(first: httpx.Response, again: httpx.Response) -> None:
    """`again` is the cached first answer: same status, same bytes, marked as a replay."""
    assert again.status_code == first.status_code
    assert again.content == first.content, "the replay differs from the first response"
    assert IDEM.replay_header not in first.headers
    assert IDEM.replay_header in again.headers, f"a replay carries {IDEM.replay_header}"


def _fresh(first: httpx.Response, again: httpx.Response) -> None:
    """`again` was processed anew: a new transaction, not a replay."""
    assert again.status_code == CAT.operation("payment").success, again.text
    assert IDEM.replay_header not in again.headers
    assert json_body(again)["transaction_id"] != json_body(first)["transaction_id"]


@pytest.mark.parametrize("header", HEADERS)
def test_same_key_replays_the_first_response(client: BetterPaymentClient, urls: Urls, header: str) -> None:
    sent, key = mpi_body(urls), _key()
    first = client.payment(sent, idempotency_key=key, idempotency_header=header)
    body = expect_payment(first, "payment", sent, status_code=SUCCESS)
    again = client.payment(sent, idempotency_key=key, idempotency_header=header)
    _replayed(first, again)
    get_transaction(client, body["transaction_id"])
    other = client.payment(sent, idempotency_key=_key(), idempotency_header=header)
    _fresh(first, other)


@pytest.mark.requirement("BP-IDEM-NO-SECOND-POSTBACK")
@pytest.mark.parametrize("header", HEADERS)
def test_replay_sends_no_second_postback(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                         settle: Callable[[float], None], header: str) -> None:
    sent, key = mpi_body(urls), _key()
    first = client.payment(sent, idempotency_key=key, idempotency_header=header)
    tid = expect_payment(first, "payment", sent, status_code=SUCCESS)["transaction_id"]
    wait_postbacks(postbacks, tid)
    _replayed(first, client.payment(sent, idempotency_key=key, idempotency_header=header))
    settle(0.5)
    same_order = [d for d in postbacks.deliveries() if d.fields.get("order_id") == sent["order_id"]]
    assert len(same_order) == 1, f"{len(same_order)} postbacks for one order"


@pytest.mark.requirement("BP-IDEM-OPERATIONS")
@pytest.mark.parametrize("header", HEADERS)
@pytest.mark.parametrize("operation", ["capture", "refund"])
def test_operations_are_not_executed_twice(client: BetterPaymentClient, urls: Urls, header: str,
                                           operation: str) -> None:
    amount = Decimal("2.00")
    _sent, tid = authorized(client, urls) if operation == "capture" else completed(client, urls)
    key = _key()
    first = getattr(client, operation)(tid, f"{amount}", idempotency_key=key, idempotency_header=header)
    expect_operation(first, operation)
    _replayed(first, getattr(client, operation)(tid, f"{amount}", idempotency_key=key, idempotency_header=header))
    total = "captured_amount" if operation == "capture" else "refunded_amount"
    assert money(get_transaction(client, tid)[total]) == amount, f"the {operation} ran twice"


@pytest.mark.requirement("BP-IDEMPOTENCY")
def test_which_header_wins_when_both_are_sent(client: BetterPaymentClient, urls: Urls) -> None:
    winner = IDEM.precedence
    loser = next(h for h in IDEM.headers if h != winner)
    sent, win_key, lose_key = mpi_body(urls), _key(), _key()
    first = client.payment(sent, idempotency_key=win_key, idempotency_header=winner, headers={loser: lose_key})
    expect_payment(first, "payment", sent, status_code=SUCCESS)
    _replayed(first, client.payment(sent, idempotency_key=win_key, idempotency_header=winner))
    _fresh(first, client.payment(sent, idempotency_key=lose_key, idempotency_header=loser))


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-IDEM-RETENTION")
@pytest.mark.parametrize("header", HEADERS)
def test_key_expires_after_the_retention(client: BetterPaymentClient, urls: Urls, simulator_control: SimulatorControl,
                                         header: str) -> None:
    sent, key = mpi_body(urls), _key()
    first = client.payment(sent, idempotency_key=key, idempotency_header=header)
    expect_payment(first, "payment", sent, status_code=SUCCESS)
    simulator_control.advance(IDEM.retention_seconds - 5)
    _replayed(first, client.payment(sent, idempotency_key=key, idempotency_header=header))
    simulator_control.advance(5)
    _fresh(first, client.payment(sent, idempotency_key=key, idempotency_header=header))


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-IDEM-SCOPE")
@pytest.mark.parametrize("header", HEADERS)
def test_two_merchants_never_share_a_key(client: BetterPaymentClient, other_client: Any, urls: Urls,
                                         header: str) -> None:
    sent, key = mpi_body(urls), _key()
    first = client.payment(sent, idempotency_key=key, idempotency_header=header)
    expect_payment(first, "payment", sent, status_code=SUCCESS)
    theirs = other_client.payment(sent, idempotency_key=key, idempotency_header=header)
    expect_payment(theirs, "payment", sent, status_code=SUCCESS)
    _fresh(first, theirs)
    _replayed(first, client.payment(sent, idempotency_key=key, idempotency_header=header))


@pytest.mark.requirement("BP-IDEM-VALIDATION-NOT-STORED")
@pytest.mark.parametrize("header", HEADERS)
def test_refused_request_stores_nothing(client: BetterPaymentClient, urls: Urls, header: str) -> None:
    sent, key = mpi_body(urls), _key()
    missing = "card_number"
    expect_error(client.payment({k: v for k, v in sent.items() if k != missing}, idempotency_key=key,
                                idempotency_header=header), "BP-ERR-204-MISSING-FIELDS", fields=missing)
    fixed = client.payment(sent, idempotency_key=key, idempotency_header=header)
    expect_payment(fixed, "payment", sent, status_code=SUCCESS)
    assert IDEM.replay_header not in fixed.headers


def _concurrently(client: BetterPaymentClient, sent: dict[str, Any], key: str, header: str,
                  count: int) -> list[httpx.Response]:
    barrier = threading.Barrier(count)
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = client.without_retries().payment(sent, idempotency_key=key, idempotency_header=header)
        except BaseException as exc:  # reported below, with the others
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"concurrent requests failed: {errors}"
    return [r for r in results if isinstance(r, httpx.Response)]


@pytest.mark.requirement("BP-IDEM-CONCURRENT")
@pytest.mark.parametrize("header", HEADERS)
def test_concurrent_duplicates_create_one_transaction(client: BetterPaymentClient, urls: Urls, header: str) -> None:
    sent = mpi_body(urls)
    responses = _concurrently(client, sent, _key(), header, 8)
    created = {json_body(r)["transaction_id"] for r in responses if r.status_code == 200}
    assert len(created) == 1, f"{len(created)} transactions for one key"
    assert all(r.status_code in (200, 409) for r in responses), [r.status_code for r in responses]


@pytest.mark.requirement("BP-IDEM-409-IN-FLIGHT")
def test_duplicate_in_flight_gets_409(client: BetterPaymentClient, urls: Urls) -> None:
    """IETF draft: a duplicate arriving while the first is still being processed gets 409 Conflict."""
    responses = _concurrently(client, mpi_body(urls), _key(), IDEM.headers[0], 8)
    codes = sorted(r.status_code for r in responses)
    assert 409 in codes, f"no 409 among {len(codes)} concurrent duplicates (answers: {codes})"


@pytest.mark.requirement("BP-IDEM-422-PAYLOAD")
def test_same_key_different_payload_gets_422(client: BetterPaymentClient, urls: Urls) -> None:
    """IETF draft: reusing a key for a different request is a client error (422)."""
    sent, key = mpi_body(urls), _key()
    expect_payment(client.payment(sent, idempotency_key=key), "payment", sent, status_code=SUCCESS)
    changed = dict(sent, amount=f"{money(sent['amount']) + 1}")
    again = client.payment(changed, idempotency_key=key)
    assert again.status_code == 422, f"same key, different amount: HTTP {again.status_code} {again.text[:200]}"
