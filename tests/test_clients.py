"""harness.clients: retries, idempotency keys, backoff, infrastructure errors, auth, budget, evidence.

Everything runs over httpx.MockTransport with an injected sleep, so no test sleeps for real except the one
cross-process budget test, which needs real time and is bounded to about a second.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import harness.clients
from harness.cards import luhn_valid
from harness.catalog import bettercharge, betterpayment
from harness.clients import (
    OMIT,
    BetterChargeClient,
    BetterPaymentClient,
    BudgetTimeout,
    InfrastructureError,
    ObservingBudget,
    RequestBudget,
    RetryPolicy,
    idempotency_headers,
    rate_limit_budget,
)
from harness.evidence import EvidenceRecorder, use_recorder

BASE = "http://api.test"
API_KEY = "bc-test-key-1234"
PARTNER = "partner-7"
BP_KEY = "bp-key"
BP_PASSWORD = "bp-pass-word"
NOW = 1_700_000_000.0


class Server:
    """A scripted MockTransport: answers from a list, then repeats the last answer; keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers) or [httpx.Response(200, json={})]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def _policy(sleeps: list[float], **kwargs: Any) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, random=lambda: 1.0, clock=lambda: NOW, **kwargs)


def _bc(server: Server, policy: RetryPolicy | None = None, **kwargs: Any) -> BetterChargeClient:
    return BetterChargeClient(BASE, API_KEY, PARTNER, retry=policy, transport=server.transport, **kwargs)


def _bp(server: Server, policy: RetryPolicy | None = None, **kwargs: Any) -> BetterPaymentClient:
    return BetterPaymentClient(BASE, BP_KEY, BP_PASSWORD, retry=policy, transport=server.transport, **kwargs)


def _error(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": "X", "error": "x", "message": "x"}, headers=headers)


def _idem(request: httpx.Request, name: str = "Idempotency-Key") -> str | None:
    return request.headers.get(name)


# --- retries and idempotency keys -------------------------------------------------------------------------


def test_retries_reuse_one_v4_idempotency_key() -> None:
    sleeps: list[float] = []
    server = Server(_error(503), _error(500), httpx.Response(201, json={"bcId": "p1"}))
    response = _bc(server, _policy(sleeps)).authorize({"merchantId": "m"})
    assert response.status_code == 201
    keys = {_idem(r) for r in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1
    key = keys.pop()
    assert key is not None and uuid.UUID(key).version == 4
    assert sleeps == [0.5, 1.0]


def test_each_logical_operation_gets_its_own_key_and_callers_key_wins() -> None:
    server = Server(httpx.Response(200, json={}))
    client = _bc(server, _policy([]))
    client.capture("p1")
    client.capture("p1")
    client.capture("p1", idempotency_key="mine-1")
    client.capture("p1", idempotency_key=OMIT)
    client.get_payment("p1")
    keys = [_idem(r) for r in server.requests]
    assert keys[0] != keys[1] and None not in keys[:2]
    assert keys[2:] == ["mine-1", None, None]


def test_transport_errors_are_retried_with_the_same_key() -> None:
    sleeps: list[float] = []
    server = Server(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json={}))
    assert _bc(server, _policy(sleeps)).void("p1").status_code == 200
    assert len({_idem(r) for r in server.requests}) == 1 and len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 423])
def test_no_retry_on_4xx_other_than_429(status: int) -> None:
    sleeps: list[float] = []
    server = Server(_error(status))
    assert _bc(server, _policy(sleeps)).refund("p1", 100).status_code == status
    assert len(server.requests) == 1 and sleeps == []


def test_backoff_doubles_from_half_a_second_to_five_with_full_jitter() -> None:
    policy = RetryPolicy(random=lambda: 1.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    half = RetryPolicy(random=lambda: 0.5)
    assert [half.backoff(n) for n in (1, 4, 6)] == [0.25, 2.0, 2.5]
    assert RetryPolicy(jitter=False, random=lambda: 0.0).backoff(2) == 1.0


def test_backoff_honours_retry_after_seconds() -> None:
    sleeps: list[float] = []
    server = Server(_error(429, **{"Retry-After": "7"}), _error(503, **{"Retry-After": "2"}), httpx.Response(200))
    _bc(server, _policy(sleeps)).get_payment("p1")
    assert sleeps == [7.0, 2.0]


def test_retry_after_is_capped_at_sixty_seconds_and_accepts_http_dates() -> None:
    sleeps: list[float] = []
    when = format_datetime(datetime.fromtimestamp(NOW + 30, tz=UTC), usegmt=True)
    server = Server(_error(429, **{"Retry-After": "3600"}), _error(429, **{"Retry-After": when}), httpx.Response(200))
    _bc(server, _policy(sleeps)).get_payment("p1")
    assert sleeps == [60.0, 30.0]


def test_429_without_retry_after_waits_for_x_ratelimit_reset() -> None:
    sleeps: list[float] = []
    reset = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 12)}
    server = Server(_error(429, **reset), _error(500, **reset), httpx.Response(200))
    _bc(server, _policy(sleeps)).get_payment("p1")
    assert sleeps == [12.0, 1.0]  # the reset applies to the 429 only; the 500 gets the plain backoff


def test_infrastructure_error_after_exhaustion_carries_last_response() -> None:
    sleeps: list[float] = []
    server = Server(_error(502))
    with pytest.raises(InfrastructureError) as info:
        _bc(server, _policy(sleeps, max_attempts=3)).charge({"merchantId": "m"})
    error = info.value
    assert error.attempts == 3 and len(server.requests) == 3 and len(sleeps) == 2
    assert error.response is not None and error.response.status_code == 502
    assert error.exception is None and error.operation == "bettercharge.charge"


def test_infrastructure_error_after_transport_errors_carries_exception() -> None:
    server = Server(httpx.ConnectError("refused"))
    with pytest.raises(InfrastructureError) as info:
        _bp(server, _policy([], max_attempts=2)).get_transaction("t1")
    assert isinstance(info.value.exception, httpx.ConnectError)
    assert info.value.response is None and len(server.requests) == 2


@pytest.mark.parametrize("status", [429, 500, 502])
def test_without_retries_returns_raw_429_and_5xx(status: int) -> None:
    server = Server(_error(status, **{"Retry-After": "1"}))
    client = _bc(server, _policy([]))
    assert client.without_retries().get_payment("p1").status_code == status
    assert len(server.requests) == 1
    assert client.retry.max_attempts > 1  # the original keeps retrying


def test_without_retries_still_reports_transport_errors_as_infrastructure() -> None:
    server = Server(httpx.ConnectError("refused"))
    with pytest.raises(InfrastructureError):
        _bc(server).without_retries().get_payment("p1")
    assert len(server.requests) == 1


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="initial_backoff"):
        RetryPolicy(initial_backoff=-1)


# --- BetterCharge --------------------------------------------------------------------------------------------


def test_bettercharge_sends_catalog_auth_headers_and_explicit_timeout() -> None:
    server = Server()
    client = _bc(server)
    client.get_payment("p1")
    auth = bettercharge().auth
    assert server.requests[0].headers[auth.api_key_header] == API_KEY
    assert server.requests[0].headers[auth.partner_header] == PARTNER
    assert client.http.timeout.connect is not None and client.http.timeout.read is not None


OPERATION_CALLS: dict[str, Callable[[BetterChargeClient], httpx.Response]] = {
    "authorize": lambda c: c.authorize({"merchantId": "m"}),
    "charge": lambda c: c.charge({"merchantId": "m"}),
    "capture": lambda c: c.capture("p/1", 500),
    "void": lambda c: c.void("p/1", "customer asked"),
    "refund": lambda c: c.refund("p/1", 200, "partial"),
    "stop": lambda c: c.stop("p/1"),
    "get_payment": lambda c: c.get_payment("p/1"),
    "create_merchant": lambda c: c.create_merchant({"merchantId": "m", "name": "M"}),
    "get_merchant": lambda c: c.get_merchant("m/1"),
    "update_merchant": lambda c: c.update_merchant("m/1", {"enabled": False}),
}


@pytest.mark.parametrize("operation", [op.name for op in bettercharge().operations])
def test_every_catalog_operation_has_a_method_with_its_method_and_path(operation: str) -> None:
    server = Server()
    OPERATION_CALLS[operation](_bc(server))
    spec = next(op for op in bettercharge().operations if op.name == operation)
    request = server.requests[0]
    assert request.method == spec.method
    assert request.url.raw_path.decode() == spec.path.format(bcId="p%2F1", merchantId="m%2F1")
    assert (_idem(request) is not None) == (spec.method in bettercharge().idempotency.methods)


def test_bettercharge_bodies_carry_only_given_fields() -> None:
    server = Server()
    client = _bc(server)
    client.capture("p1")
    client.refund("p1", reason="dup")
    client.stop("p1")
    assert [json.loads(r.content) for r in server.requests] == [{}, {"reason": "dup"}, {}]


def test_raw_sends_malformed_bodies_and_lets_headers_override_credentials() -> None:
    server = Server(_error(400))
    client = _bc(server)
    assert client.raw("POST", "/payments/authorize", content=b"{not json").status_code == 400
    client.raw("GET", "/payments/p1", headers={"x-api-key": "wrong"})
    bare = {k: v for k, v in client.auth_headers.items() if k != bettercharge().auth.partner_header}
    client.raw("GET", "/payments/p1", headers=bare, authenticate=False)
    first, second, third = server.requests
    assert first.content == b"{not json" and _idem(first) is None
    assert second.headers[bettercharge().auth.api_key_header] == "wrong"
    assert bettercharge().auth.partner_header not in third.headers
    assert third.headers[bettercharge().auth.api_key_header] == API_KEY


def test_client_rejects_bad_construction_and_arguments() -> None:
    with pytest.raises(ValueError, match="base_url"):
        BetterChargeClient("not a url", API_KEY, PARTNER)
    with pytest.raises(ValueError, match="api_key"):
        BetterChargeClient(BASE, "", PARTNER)
    with pytest.raises(ValueError, match="bcId"):
        _bc(Server()).capture("")


# --- Better Payment ------------------------------------------------------------------------------------------


def test_betterpayment_basic_auth_and_idempotency_header_choice() -> None:
    default_name, other_name = idempotency_headers()
    server = Server()
    default = _bp(server)
    default.payment({"payment_type": "cc"})
    _bp(server, idempotency_header=other_name).authorize({"payment_type": "cc"})
    default.capture("t1", "5.00", idempotency_header=other_name, idempotency_key="k-1")
    default.get_transaction("t1")
    expected = "Basic " + base64.b64encode(f"{BP_KEY}:{BP_PASSWORD}".encode()).decode()
    assert all(r.headers["Authorization"] == expected for r in server.requests)
    first, second, third, fourth = server.requests
    assert default.idempotency_header == default_name
    assert _idem(first, default_name) and _idem(first, other_name) is None
    assert _idem(second, other_name) and _idem(second, default_name) is None
    assert _idem(third, other_name) == "k-1" and _idem(third, default_name) is None
    assert default_name not in fourth.headers and other_name not in fourth.headers
    assert json.loads(third.content) == {"transaction_id": "t1", "amount": "5.00"}


BP_OPERATION_CALLS: dict[str, Callable[[BetterPaymentClient], httpx.Response]] = {
    "payment": lambda c: c.payment({"payment_type": "cc"}),
    "authorize": lambda c: c.authorize({"payment_type": "cc"}),
    "register": lambda c: c.register({"payment_type": "cc"}),
    "capture": lambda c: c.capture("t/1"),
    "reverse": lambda c: c.reverse("t/1"),
    "refund": lambda c: c.refund("t/1"),
    "get_transaction": lambda c: c.get_transaction("t/1"),
    "get_log": lambda c: c.transaction_log("t/1"),
    "get_refunds": lambda c: c.transaction_refunds("t/1"),
}


@pytest.mark.parametrize("operation", [op.name for op in betterpayment().operations])
def test_every_betterpayment_catalog_operation_has_a_method(operation: str) -> None:
    server = Server()
    BP_OPERATION_CALLS[operation](_bp(server))
    spec = next(op for op in betterpayment().operations if op.name == operation)
    request = server.requests[0]
    assert request.method == spec.method
    assert request.url.raw_path.decode() == spec.path.format(transaction_id="t%2F1")


def test_betterpayment_rejects_unknown_idempotency_header() -> None:
    with pytest.raises(ValueError, match=idempotency_headers()[0]):
        _bp(Server(), idempotency_header="Idem-Key")
    with pytest.raises(ValueError, match=idempotency_headers()[0]):
        _bp(Server()).payment({}, idempotency_header="Idem-Key")


def test_betterpayment_bodies_carry_only_given_fields() -> None:
    server = Server()
    client = _bp(server)
    client.reverse("t1")
    client.refund("t1", 1.5, comment="c", refund_id="r1")
    client.capture("t1", vat=19, extra={"invoice_id": "i-1"})
    assert [json.loads(r.content) for r in server.requests] == [
        {"transaction_id": "t1"},
        {"transaction_id": "t1", "amount": 1.5, "comment": "c", "refund_id": "r1"},
        {"transaction_id": "t1", "vat": 19, "invoice_id": "i-1"},
    ]


# --- evidence ------------------------------------------------------------------------------------------------


def test_clients_record_every_attempt_redacted(tmp_path: Path) -> None:
    pan = next(card.pan for card in bettercharge().cards if not luhn_valid(card.pan))
    server = Server(_error(503), httpx.Response(201, json={"bcId": "p1"}))
    recorder = EvidenceRecorder()
    body = {"merchantId": "m", "card": {"number": pan, "cvv": "321", "expMonth": 1, "expYear": 2031}}
    with use_recorder(recorder), recorder.case("suites/t.py::test_pay"):
        _bc(server, _policy([])).authorize(body)
        _bp(Server(), _policy([])).payment({"card_number": pan, "card_cvv": "321"})
    exchanges = recorder.exchanges("suites/t.py::test_pay")
    assert [(e.operation, e.attempt, e.status) for e in exchanges] == [
        ("bettercharge.authorize", 1, 503),
        ("bettercharge.authorize", 2, 201),
        ("betterpayment.payment", 1, 200),
    ]
    recorder.write(tmp_path)
    text = "".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    for secret in (pan, "321", API_KEY, BP_PASSWORD, base64.b64encode(f"{BP_KEY}:{BP_PASSWORD}".encode()).decode()):
        assert secret not in text


# --- request budget ------------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_budget_blocks_the_request_beyond_the_limit_until_the_window_slides(tmp_path: Path) -> None:
    fake = FakeTime()
    budget = RequestBudget(API_KEY, 3, 10.0, directory=tmp_path, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        assert budget.acquire() == 0.0
        fake.now += 1.0
    assert budget.acquire() == pytest.approx(7.0)  # the first request leaves the window at NOW + 10
    assert fake.sleeps == [pytest.approx(7.0)]


def test_budget_file_is_named_by_hash_and_holds_no_key(tmp_path: Path) -> None:
    budget = RequestBudget(API_KEY, 5, directory=tmp_path)
    budget.acquire()
    names = [p.name for p in tmp_path.iterdir()]
    assert all(API_KEY not in name for name in names)
    assert API_KEY not in budget.path.read_text(encoding="utf-8")
    assert RequestBudget("other-key", 5, directory=tmp_path).path != budget.path


def test_budget_gives_up_after_max_wait(tmp_path: Path) -> None:
    fake = FakeTime()
    budget = RequestBudget(API_KEY, 1, 60.0, directory=tmp_path, max_wait=5, clock=fake.clock, sleep=fake.sleep)
    budget.acquire()
    with pytest.raises(BudgetTimeout, match="max_wait"):
        budget.acquire()


def test_budget_directory_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYCERT_BUDGET_DIR", str(tmp_path / "shared"))
    assert RequestBudget(API_KEY, 1).path.parent == tmp_path / "shared"


def test_rate_limit_budget_uses_catalog_limit(tmp_path: Path) -> None:
    budget = rate_limit_budget(API_KEY, directory=tmp_path)
    assert budget.limit == bettercharge().rate_limit.limit
    assert budget.window == bettercharge().rate_limit.window_seconds


def test_client_spends_one_budget_slot_per_attempt_and_reports_exhaustion(tmp_path: Path) -> None:
    fake = FakeTime()
    budget = RequestBudget(API_KEY, 2, 60.0, directory=tmp_path, max_wait=1, clock=fake.clock, sleep=fake.sleep)
    server = Server(_error(503), httpx.Response(200))
    client = _bc(server, _policy([]), budget=budget)
    client.get_payment("p1")  # two attempts, two slots
    with pytest.raises(InfrastructureError) as info:
        client.get_payment("p1")
    assert isinstance(info.value.exception, BudgetTimeout)
    assert len(server.requests) == 2


def _rate(remaining: int, reset: float, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={}, headers={"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": str(remaining),
                                                    "X-RateLimit-Reset": str(int(reset))})


def test_budget_spends_the_servers_fixed_windows_not_a_sliding_one_of_its_own(tmp_path: Path) -> None:
    """Three requests late in the server's window: the fourth goes at its reset (plus the clock margin), not a
    whole window after the first, as a sliding window would make it."""
    from harness.clients.budget import RESET_MARGIN

    fake = FakeTime()
    reset = NOW + 10.0
    budget = rate_limit_budget(API_KEY, directory=tmp_path, clock=fake.clock, sleep=fake.sleep)
    budget = RequestBudget(API_KEY, 3, 60.0, directory=tmp_path, clock=fake.clock, sleep=fake.sleep,
                           remaining_header=budget.remaining_header, reset_header=budget.reset_header)
    server = Server(_rate(2, reset), _rate(1, reset), _rate(0, reset), _rate(2, reset + 60))
    client = _bc(server, _policy([]), budget=budget)
    for _ in range(3):
        client.get_payment("p1")
    client.get_payment("p1")
    assert fake.sleeps == [pytest.approx(reset + RESET_MARGIN - NOW)]
    assert len(server.requests) == 4


def test_an_answer_to_another_keys_request_never_speaks_for_our_window(tmp_path: Path) -> None:
    """The limit is per API key. A request sent with another key, or none (an auth test, the contract suite's
    ignored-auth check), is answered with *that* key's window: fresher, with room left. Taken for ours, it made
    the budget send into our drained window (two unplanned 429s in a sandbox run)."""
    fake = FakeTime()
    reset = NOW + 10.0
    budget = rate_limit_budget(API_KEY, directory=tmp_path, clock=fake.clock, sleep=fake.sleep)

    ours = iter([2, 1, 0])

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-api-key") == API_KEY:
            return _rate(next(ours), reset)  # ours: two left, then one, then none
        return _rate(99, reset + 30)  # another key's window, opened later, with room left

    client = BetterChargeClient(BASE, API_KEY, PARTNER, retry=_policy([]), budget=budget,
                                transport=httpx.MockTransport(answer))
    client.get_payment("p1")
    client.raw("GET", "/payments/p2", headers={"x-api-key": "another-key"})
    client.raw("GET", "/payments/p3", authenticate=False)
    client.get_payment("p4")
    client.get_payment("p5")
    assert fake.sleeps == [], "the server left room for every one of them"
    assert budget.try_acquire() == pytest.approx(reset + 2.0 - NOW), "our window is drained until its reset"
    assert not json.loads(budget.path.read_text())["in_flight"], "each answer ended its request's flight"


def test_budget_counts_what_the_server_says_is_left_less_what_is_in_flight(tmp_path: Path) -> None:
    fake = FakeTime()
    budget = RequestBudget(API_KEY, 100, 60.0, directory=tmp_path, clock=fake.clock, sleep=fake.sleep)
    budget.observe(2, NOW + 30)  # another client of the key left 2
    assert budget.try_acquire() == 0.0  # one on its way
    assert budget.try_acquire() == 0.0  # and a second: the server's 2 are claimed
    assert budget.try_acquire() > 0  # although our own sliding window has room for 98 more
    budget.observe(1, NOW + 30)  # the first answer: the server counted it, the second is still in flight
    assert budget.try_acquire() > 0
    budget.observe(0, NOW + 30)
    assert budget.in_window() == 100
    fake.now = NOW + 33
    assert budget.try_acquire() == 0.0  # the server's next window


def test_an_observing_budget_never_waits_but_makes_the_others_wait(tmp_path: Path) -> None:
    """The rate-limit suite drains the window on purpose: the budgeted clients of the run must not then send
    into it and meet an unplanned 429."""
    fake = FakeTime()
    shared = RequestBudget(API_KEY, 3, 60.0, directory=tmp_path, clock=fake.clock, sleep=fake.sleep)
    drainer = ObservingBudget(RequestBudget(API_KEY, 3, 60.0, directory=tmp_path, clock=fake.clock))
    for left in (2, 1, 0, 0):
        assert drainer.acquire() == 0.0
        drainer.observe(left, NOW + 20)
    assert shared.try_acquire() == pytest.approx(20 + 2.0)


def test_a_key_held_by_another_process_makes_the_others_wait_until_it_is_released_or_expires(
        tmp_path: Path) -> None:
    """A rate-limit test on one xdist worker counts a window's requests exactly: the other workers wait."""
    fake = FakeTime()
    budget = RequestBudget(API_KEY, 100, 60.0, directory=tmp_path, clock=fake.clock, sleep=fake.sleep)
    budget.path.write_text(json.dumps({"stamps": [], "reserved_by": 1, "reserved_until": NOW + 30}))
    assert budget.try_acquire() == pytest.approx(1.0)  # held by process 1: look again in a second
    fake.now = NOW + 31
    assert budget.try_acquire() == 0.0  # the holder died: its hold expired
    mine = ObservingBudget(budget, hold=90)
    assert json.loads(budget.path.read_text())["reserved_by"] == os.getpid()
    assert budget.try_acquire() == 0.0  # our own process is not held up by its own hold
    mine.close()
    assert json.loads(budget.path.read_text())["reserved_by"] is None


def test_budget_reads_the_old_file_format_and_survives_a_broken_file(tmp_path: Path) -> None:
    fake = FakeTime()
    budget = RequestBudget(API_KEY, 2, 60.0, directory=tmp_path, clock=fake.clock, sleep=fake.sleep)
    budget.path.write_text(json.dumps([NOW - 1, NOW - 2]))
    assert budget.try_acquire() > 0
    budget.path.write_text('{"stamps": "x", "remaining": true, "reset": "soon"}')
    assert budget.try_acquire() == 0.0


def _acquire_in_other_process(directory: str, limit: int, window: float, go: Any, results: Any) -> None:
    budget = RequestBudget(API_KEY, limit, window, directory=directory, max_wait=5)
    results.put("ready")
    go.wait(5)
    asked = time.time()
    budget.acquire()
    results.put((asked, time.time()))


def test_budget_is_shared_across_processes(tmp_path: Path) -> None:
    limit, window = 2, 1.0
    context = multiprocessing.get_context()  # the platform default; the target is importable for spawn too
    go, results = context.Event(), context.Queue()
    other = context.Process(
        target=_acquire_in_other_process, args=(str(tmp_path), limit, window, go, results), daemon=True
    )
    other.start()
    try:
        assert results.get(timeout=10) == "ready"
        budget = RequestBudget(API_KEY, limit, window, directory=tmp_path)
        first = time.time()
        for _ in range(limit):
            budget.acquire()
        go.set()
        asked, granted = results.get(timeout=10)
    finally:
        other.join(10)
        if other.is_alive():
            other.kill()
    assert asked < first + window, "the other process asked within the window"
    assert granted >= first + window - 0.01, "and was held until the first request left it"


# --- layering and public API ---------------------------------------------------------------------------------


def test_clients_never_import_the_simulator() -> None:
    code = "import sys, harness.clients; print(sorted(m for m in sys.modules if m.startswith('harness.simulator')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == "[]"


def test_public_api_is_pinned() -> None:
    assert set(harness.clients.__all__) == {
        "DEFAULT_TIMEOUT",
        "OMIT",
        "ApiClient",
        "BetterChargeClient",
        "BetterPaymentClient",
        "BudgetTimeout",
        "ClientError",
        "HeaderAuth",
        "IdempotencyKey",
        "InfrastructureError",
        "ObservingBudget",
        "Omit",
        "OperationSpec",
        "RequestBudget",
        "RetryPolicy",
        "idempotency_headers",
        "rate_limit_budget",
    }


@pytest.fixture(autouse=True)
def _no_stray_recorder() -> Iterator[None]:
    """Keep tests independent of any recorder another test (or a plugin) left active."""
    with use_recorder(None):
        yield
