"""Fixtures of the BetterCharge certification suites (the paycert plugin gives the target, client and control);
suites/bettercharge/conftest.py imports them.

Merchants: the suites create their own through POST /merchants and change settings only on those. Against a
target that keeps state (a sandbox, a simulator started apart) each profile is created once per session and
worker; the embedded simulator is reset before every test, so there they are created per test, and the standard
merchant is the simulator's seeded one (catalog `simulator.merchant_id`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from harness.clients import DEFAULT_TIMEOUT, BetterChargeClient, ObservingBudget, RetryPolicy, rate_limit_budget
from harness.simulator_control import SimulatorControl

from .merchants import MerchantRef, Merchants
from .requests import Api, ClientFactory


@pytest.fixture(scope="session")
def merchant_cache() -> dict[str, MerchantRef]:
    """Merchants created in this session (worker), by profile, for targets that keep state between tests."""
    return {}


@pytest.fixture
def merchants(bettercharge_client: BetterChargeClient, paycert_target: Any,
              merchant_cache: dict[str, MerchantRef]) -> Merchants:
    cache: dict[str, MerchantRef] = {} if paycert_target.embedded else merchant_cache
    return Merchants(bettercharge_client, paycert_target, cache)


@pytest.fixture(scope="session")
def target_clock(paycert_target: Any) -> Iterator[Callable[[], float]]:
    """Now on the target's clock: the simulator's (tests advance it) or, on a sandbox, the wall clock."""
    if not paycert_target.is_simulator:
        yield time.time
        return
    control = SimulatorControl(paycert_target.simulator_url)
    yield control.now
    control.close()


@pytest.fixture
def api(bettercharge_client: BetterChargeClient, paycert_target: Any, merchants: Merchants,
        target_clock: Callable[[], float]) -> Api:
    return Api(bettercharge_client, paycert_target, merchants, target_clock)


@pytest.fixture
def make_client(paycert_target: Any) -> Iterator[ClientFactory]:
    """More clients of the target: other credentials, other retry policies or timeouts, one per thread.

    Against a sandbox they share the run's request budget; with `budget=False` (the rate-limit suite must be
    able to go past the limit) they never wait for it, but what they send and the answers' rate headers still
    count in it, so the run's other clients wait out the drained window instead of meeting a 429.
    """
    made: list[BetterChargeClient] = []
    holding: list[ObservingBudget] = []
    settings = paycert_target.settings.bettercharge

    def make(api_key: str | None = None, partner_id: str | None = None, *, retry: RetryPolicy | None = None,
             timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, budget: bool = True) -> BetterChargeClient:
        key = api_key or settings.api_key
        sandbox = paycert_target.name == "sandbox" and not paycert_target.embedded
        shared = rate_limit_budget(key, directory=paycert_target.settings.budget_dir) if sandbox else None
        if shared is not None and not budget:
            holding.append(ObservingBudget(shared))  # the key for this worker alone until the test ends
        client = BetterChargeClient(paycert_target.base_url("bettercharge"), key, partner_id or settings.partner_id,
                                    retry=retry, timeout=timeout,
                                    budget=shared if budget or shared is None else holding[-1])
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
    for observer in holding:
        observer.close()
