"""harness.contract: generated cases are reproducible and survive the cache; replay re-mints only what the hooks
minted; every request — a case, a check's follow-up — goes through the API client (evidence, redaction,
retries), and a 5xx beyond the retries is an InfrastructureError, not a contract failure.

In-process against httpx.MockTransport: no server, a few seconds.
"""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from harness import openapi
from harness.clients import InfrastructureError
from harness.clients.base import RetryPolicy
from harness.clients.bettercharge import BetterChargeClient
from harness.contract.cases import RECEIVER_PLACEHOLDER, CaseCache, cache_key, fresh_value, generate, refresh
from harness.contract.transport import ClientTransport, route_through
from harness.evidence import EvidenceRecorder, use_recorder

API_KEY, PARTNER = "bc-key-engine-0123456789", "partner-engine"
LABEL = "POST /payments/{bcId}/capture"


def _schema(seed: int = 7, checks: dict[str, Any] | None = None) -> Any:
    config = SchemathesisConfig.from_dict({
        "seed": seed, "generation": {"mode": "all", "max-examples": 6, "database": "none",
                                     "with-security-parameters": False},
        "phases": {"coverage": {"enabled": False}}, "suppress-health-check": ["all"],
        **({"checks": checks} if checks else {}),
    })
    return schemathesis.openapi.from_dict(copy.deepcopy(openapi.document("bettercharge")), config=config)


def _shape(case: Any) -> tuple[Any, ...]:
    body = "<not set>" if type(case.body).__name__ == "NotSet" else json.dumps(case.body, sort_keys=True, default=repr)
    return (case.method, case.path, dict(case.path_parameters), dict(case.query), dict(case.headers), body,
            case.meta.generation.mode if case.meta else None)


def test_generation_is_reproducible_and_the_cache_returns_the_same_cases(tmp_path: Path) -> None:
    schema = _schema()
    first, again = generate(schema, LABEL), generate(_schema(), LABEL)
    assert len(first) >= 6 and [_shape(c) for c in first] == [_shape(c) for c in again]
    assert {str(c.meta.generation.mode) for c in first} >= {"positive", "negative"}
    assert [_shape(c) for c in generate(_schema(seed=8), LABEL)] != [_shape(c) for c in first]

    cache = CaseCache(tmp_path / "cache")
    key = cache_key("bettercharge", LABEL, 7)
    assert cache.load(key, schema.find_operation_by_label(LABEL)) is None
    cache.store(key, first)
    loaded = cache.load(key, schema.find_operation_by_label(LABEL))
    assert loaded is not None and [_shape(c) for c in loaded] == [_shape(c) for c in first]
    assert loaded[0].operation.label == LABEL
    # A case without a body comes back with schemathesis' NOT_SET itself (it tests `body is NOT_SET`).
    from schemathesis.core import NOT_SET

    blank = again[0]
    blank.body = NOT_SET
    cache.store(cache_key("blank"), [blank])
    (back,) = cache.load(cache_key("blank"), schema.find_operation_by_label(LABEL)) or [None]
    assert back is not None and back.body is NOT_SET
    assert cache.load(cache_key("bettercharge", LABEL, 8), schema.find_operation_by_label(LABEL)) is None
    path = cache._path(key)
    path.write_bytes(gzip.compress(b"not a pickle"))
    assert cache.load(key, schema.find_operation_by_label(LABEL)) is None  # a bad file is a miss, not a crash


def test_replay_remints_only_minted_values_and_points_receivers_at_the_run() -> None:
    schema = _schema()
    (case, *_) = generate(schema, LABEL)
    order, key, foreign = f"ord-{fresh_value()}", fresh_value("uuid"), str(uuid.uuid4())
    case.body = {"orderReference": order, "postback_url": f"{RECEIVER_PLACEHOLDER}/postback", "note": foreign,
                 "again": order}
    case.headers["Idempotency-Key"] = key
    urls = {f"{RECEIVER_PLACEHOLDER}/postback": "http://127.0.0.1:1/_simulator/contract/postback"}

    refresh(case, urls, remint=False)
    assert case.body["orderReference"] == order and case.headers["Idempotency-Key"] == key
    assert case.body["postback_url"] == "http://127.0.0.1:1/_simulator/contract/postback"

    refresh(case, urls)
    assert case.body["orderReference"] != order and len(case.body["orderReference"]) == len(order)
    assert case.body["again"] == case.body["orderReference"]  # one value, one replacement, within a case
    assert case.headers["Idempotency-Key"] != key and uuid.UUID(case.headers["Idempotency-Key"])
    assert case.body["note"] == foreign  # generated data is left as it was drawn


def _client(handler: Any) -> BetterChargeClient:
    return BetterChargeClient("http://api.test", API_KEY, PARTNER, transport=httpx.MockTransport(handler),
                              retry=RetryPolicy(sleep=lambda _seconds: None))


def _headers() -> dict[str, str]:
    return {"x-api-key": API_KEY, "x-partner-id": PARTNER}


def test_cases_and_check_follow_ups_go_through_the_client_and_are_recorded_masked() -> None:
    seen: list[httpx.Request] = []

    def accept_everything(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"bcId": "bc_1", "state": "CAPTURED"})

    schema = _schema(checks={"enabled": False, "ignored_auth": {"enabled": True}})
    client = _client(accept_everything)
    route_through(schema, ClientTransport("bettercharge", client))
    (case, *_) = generate(schema, LABEL)
    recorder = EvidenceRecorder(secrets=[API_KEY])
    with use_recorder(recorder), recorder.case("suites/contract/t.py::test_x"):
        response = case.call(base_url="http://api.test", headers=_headers())
        with pytest.raises(FailureGroup, match=r"(?i)authentication"):  # accepted without credentials: a finding
            case.validate_response(response, headers=_headers(), transport_kwargs={"base_url": "http://api.test",
                                                                                   "headers": _headers()})
    client.close()
    exchanges = recorder.exchanges("suites/contract/t.py::test_x")
    assert len(exchanges) == len(seen) >= 2  # the case and ignored_auth's own requests, all recorded
    assert {e.operation for e in exchanges} == {"bettercharge.contract.capturePayment"}
    assert any("x-api-key" not in {n.lower() for n, _ in e.request_headers} for e in exchanges)
    assert API_KEY not in repr(exchanges)


def test_a_5xx_beyond_the_retries_is_an_infrastructure_error_with_every_attempt_recorded() -> None:
    def unavailable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "unavailable"})

    schema = _schema()
    client = _client(unavailable)
    route_through(schema, ClientTransport("bettercharge", client))
    (case, *_) = generate(schema, LABEL)
    recorder = EvidenceRecorder()
    with use_recorder(recorder), recorder.case("c"), pytest.raises(InfrastructureError, match="HTTP 503"):
        case.call(base_url="http://api.test", headers=_headers())
    client.close()
    assert [e.status for e in recorder.exchanges("c")] == [503] * client.retry.max_attempts


def _item(nodeid: str, provokes: bool = False) -> Any:
    import types

    name = nodeid.rsplit("::", 1)[1]
    mark = types.SimpleNamespace(name="provokes_rate_limit", kwargs={}) if provokes else None
    return types.SimpleNamespace(nodeid=nodeid, name=name, originalname=name.split("[")[0],
                                 get_closest_marker=lambda wanted: mark if wanted == "provokes_rate_limit" else None)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_rate_limit_tests_the_plugin_put_first_stay_first_ahead_of_the_contract_tests(workers: int) -> None:
    """Dealt behind the contract tests, a fresh-window rate test waited out a window they had only partly spent:
    60 s idle in a sandbox run (benchmarks/sandbox_floor.py)."""
    from harness.contract import order

    rate = [_item(f"suites/bettercharge/test_rate.py::test_{i}", provokes=True) for i in range(5)]
    others = [_item(f"suites/bettercharge/test_cards.py::test_card[{i}]") for i in range(20)]
    contract = [_item(f"suites/contract/test_a_contract.py::test_negative[POST /x{i}]") for i in range(6)]
    items = rate + others + contract
    order.deal(items, workers)
    assert items[:5] == rate
    assert items[5:5 + order._LEAD] == others[:order._LEAD]
    assert "contract" in items[5 + order._LEAD].nodeid


def test_contract_tests_are_dealt_over_the_workers_longest_first_after_a_few_short_ones() -> None:
    from harness.contract import order

    contract = [_item(f"suites/contract/test_a_contract.py::test_{kind}[POST /x{i}]")
                for kind in ("conformance", "negative", "data_validation") for i in range(4)]
    contract += [_item("suites/contract/test_a_contract.py::test_stateful"),
                 _item("suites/contract/test_b_contract.py::test_stateful_payments")]
    others = [_item(f"suites/bettercharge/test_cards.py::test_card[{i}]") for i in range(86)]
    items = others[:40] + contract + others[40:]
    order.deal(items, 4)
    assert sorted(i.nodeid for i in items) == sorted(i.nodeid for i in [*contract, *others])
    shares = [items[len(items) * w // 4:len(items) * (w + 1) // 4] for w in range(4)]
    for share in shares:
        assert all("contract" not in i.nodeid for i in share[:order._LEAD])
        assert "contract" in share[order._LEAD].nodeid
    heads = [share[order._LEAD].nodeid for share in shares]
    assert sum("stateful" in h for h in heads) == 2 and sum("negative" in h for h in heads) == 2


def test_case_counts_are_summed_on_the_controller_and_written_for_the_report(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The counts live in a plugin registered in every process (harness.plugin), not in the contract conftest,
    which an xdist controller running `pytest suites` never loads: the report lost them that way."""
    import types

    from harness.contract.counts import PROPERTY, ContractCounts

    counts = ContractCounts()
    for api, kind, n in (("bettercharge", "negative", 7), ("bettercharge", "stateful", 3),
                         ("bettercharge", "data_validation", 5), ("betterpayment", "conformance", 2)):
        for when in ("call", "teardown"):
            counts.pytest_runtest_logreport(types.SimpleNamespace(  # type: ignore[arg-type]
                when=when, user_properties=[(PROPERTY, {"api": api, "kind": kind, "cases": n,
                                                        "statuses": {400: n}, "seed": 9, "max_examples": 40})]))
    stats = tmp_path / "stats.json"
    # The file is a variable of the run's settings (handed over by certify), as every variable is.
    from dataclasses import replace

    from report_support import sim_settings

    from harness.config import use_settings

    monkeypatch.setattr("harness.config._LOADER.settings", None)  # restored after the test
    use_settings(replace(sim_settings(), variables={"PAYCERT_CONTRACT_STATS": str(stats)}))
    lines: list[str] = []
    counts.pytest_terminal_summary(types.SimpleNamespace(write_line=lines.append), types.SimpleNamespace())  # type: ignore[arg-type]
    written = json.loads(stats.read_text())
    assert written["apis"]["bettercharge"] == {"mandatory_cases": 10, "statuses": {"400": 15},
                                               "by_kind": {"negative": 7, "stateful": 3, "data_validation": 5}}
    assert written["seed"] == 9 and lines and "bettercharge 10 mandatory cases" in lines[0]
    assert "paycert-contract-counts" in Path(__file__).parents[1].joinpath("harness", "plugin.py").read_text()


def _sender_for(handler: Any, kind: str = "conformance") -> Any:
    from harness.contract.sender import CaseSender

    schema = _schema(checks={"enabled": False, "ignored_auth": {"enabled": True}})
    client = _client(handler)
    sender = CaseSender(api="bettercharge", kind=kind, base_url="http://api.test",  # type: ignore[arg-type]
                        headers=_headers(), client=client)
    return sender, route_through(schema, ClientTransport("bettercharge", client))


def test_ignored_auth_probes_once_per_operation_and_still_catches_an_api_that_does_not_enforce() -> None:
    """schemathesis' engine confirms enforcement once per operation and run; the sender does the same (it sent
    two probes after every successful case before). An API that accepts any credentials still fails."""
    sent: list[bool] = []

    def enforcing(request: httpx.Request) -> httpx.Response:
        authed = request.headers.get("x-api-key") == API_KEY
        sent.append(authed)
        return httpx.Response(200, json={"bcId": "bc_1"}) if authed else httpx.Response(401, json={"error": "no"})

    sender, schema = _sender_for(enforcing)
    cases = generate(schema, LABEL)[:5]
    for case in cases:
        sender.call_and_validate(case)
    probes = sent.count(False)  # without credentials, then a wrong value for each security parameter
    assert probes >= 2 and sent[1:1 + probes] == [False] * probes, "the first case is probed"
    assert len(sent) == len(cases) + probes, "and no case after it"

    def lax(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"bcId": "bc_1"})

    sender, schema = _sender_for(lax)
    with pytest.raises(FailureGroup, match=r"(?i)authentication"):
        sender.call_and_validate(generate(schema, LABEL)[0])
