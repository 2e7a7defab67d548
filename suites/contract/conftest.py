"""Contract suite wiring: the run's case budget and seed, one exchange per test, the tests' order.

Each test reports its cases as a user property at teardown; harness.contract.counts (registered by the plugin,
so it also runs on an xdist controller that never loads this conftest) sums them for the summary line, the
PAYCERT_CONTRACT_STATS file and the report. The project's tests hold the suite to >= 1,000 cases per API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from harness.config import ConfigError, current_settings
from harness.contract.counts import PROPERTY

from . import _support
from ._support import RUN, Exchange


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = current_settings()
    except ConfigError:
        settings = None  # the plugin reports the configuration error; meanwhile assume the smaller budget
    # The run's variables (.env overlaid by the environment), as every other consumer sees them.
    _support.configure(settings.target if settings else "sandbox", settings.variables if settings else None)
    # xdist workers start after this and inherit the environment: one seed for the whole run.
    os.environ.setdefault(_support.SEED_ENV, str(RUN.seed))


#: Relative cost of the contract tests by kind (their measured share of a run), longest first.
_COST = {"stateful": 4, "negative": 3, "data_validation": 2, "conformance": 1}
#: Short tests each worker runs before its contract tests, so the run shows results from its first seconds.
_LEAD = 3


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread the contract tests over the xdist workers, the longest at the head of each worker's share.

    A contract test runs hundreds of cases; left in collection order they all land in one worker's share
    (xdist hands each worker a contiguous range) and one of them, started last, keeps that worker busy after
    every other test is done. Dealt round-robin, longest first (stateful, then negative data for request
    bodies), each worker runs a few short tests (a first result within seconds), then its part of them, then
    the rest of its share.
    The order is a pure function of the items and the worker count, so every worker computes the same one.
    """
    def cost(item: pytest.Item) -> tuple[int, int]:
        name = getattr(item, "originalname", item.name)
        kind = next((k for k in _COST if k in name), None)
        if kind is None or "suites/contract/" not in item.nodeid.replace("\\", "/"):
            return (0, 0)
        return (_COST[kind], 1 if "[POST " in item.nodeid or "[PATCH " in item.nodeid else 0)

    contract = sorted((i for i in items if cost(i)[0]), key=lambda i: (-cost(i)[0], -cost(i)[1]))
    if not contract:
        return
    others = [i for i in items if not cost(i)[0]]
    workers = max(int(getattr(config, "workerinput", {}).get("workercount", 1) or 1), 1)
    buckets = [contract[w::workers] for w in range(workers)]
    ordered: list[pytest.Item] = []
    for w in range(workers):
        share = len(items) * (w + 1) // workers - len(items) * w // workers
        take = max(share - len(buckets[w]), 0) if w < workers - 1 else len(others)
        ordered.extend(others[:min(_LEAD, take)])  # a first result within seconds, then the long ones
        ordered.extend(buckets[w])
        ordered.extend(others[min(_LEAD, take):take])
        others = others[take:]
    items[:] = ordered + others


def _exchange(request: pytest.FixtureRequest, api: str) -> Iterator[Exchange]:
    target = request.getfixturevalue("paycert_target")
    settings = request.getfixturevalue("paycert_settings")
    client = request.getfixturevalue(f"{api}_client")  # the plugin's: budget, evidence, retries
    kind = _kind_of(request.node)
    advance = reset = None
    receiver = None
    if target.is_simulator:
        from harness.clients.base import RetryPolicy
        from harness.simulator_control import SimulatorControl

        # One connection for the clock and the per-scenario resets (a client per call loads the CA store).
        control = SimulatorControl(target.simulator_url or "")
        advance = control.advance
        if target.embedded:
            reset = control.reset
        request.addfinalizer(control.close)
        receiver = f"{target.simulator_url}/_simulator/contract"
        # Waiting out a rate-limit window or a backoff is moving the simulator's clock past it.
        client = client.with_retry(RetryPolicy(sleep=lambda seconds: advance(seconds + 1)))
    exchange = Exchange(api=api, kind=kind, base_url=target.base_url(api), headers=_support.auth_headers(api, settings),
                        client=client, advance=advance, reset=reset, urls=_support.receiver_urls(receiver))
    try:
        yield exchange
    finally:
        exchange.close()
        request.node.user_properties.append(
            (PROPERTY, {"api": api, "kind": kind, "cases": exchange.cases, "statuses": exchange.statuses,
                        "cached": exchange.cached, "seed": RUN.seed, "max_examples": RUN.max_examples,
                        "target": RUN.target}))


def _kind_of(node: Any) -> _support.Kind:
    name = getattr(node, "originalname", None) or node.name
    for kind in _support.KINDS:
        if kind in name:
            return kind
    raise pytest.UsageError(f"{node.nodeid}: contract test names must contain one of {_support.KINDS}")


# Both take paycert_target by name: the plugin resets the embedded simulator before every test that does.
@pytest.fixture
def bettercharge_exchange(request: pytest.FixtureRequest, paycert_target: Any) -> Iterator[Exchange]:
    yield from _exchange(request, "bettercharge")


@pytest.fixture
def betterpayment_exchange(request: pytest.FixtureRequest, paycert_target: Any) -> Iterator[Exchange]:
    yield from _exchange(request, "betterpayment")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    pending = _support.pending_requirements()
    if pending and not hasattr(config, "workerinput"):
        terminalreporter.write_line("paycert contract: requirement ids pending in the catalog: " + ", ".join(pending))
