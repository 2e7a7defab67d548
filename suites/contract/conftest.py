"""Contract suite wiring: the run's options, the tests' order over the workers, one case sender per test.

The engine is harness/contract/ (schemas and cached cases, realistic data, the sender, stateful chains);
each test reports its cases at teardown, and harness.contract.counts sums them for the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.config import ConfigError, current_settings
from harness.contract import options, order
from harness.contract.counts import PROPERTY
from harness.contract.sender import CaseSender


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = current_settings()
    except ConfigError:  # the plugin reports it; meanwhile assume the smaller budget
        options.configure("sandbox", {})
    else:
        options.configure(settings.target, settings.variables)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order.deal(items, int(getattr(config, "workerinput", {}).get("workercount", 1) or 1))


def _sender(request: pytest.FixtureRequest, api: str) -> Iterator[CaseSender]:
    sender = CaseSender.for_target(api, options.kind_of(request.node), request.getfixturevalue("paycert_target"),
                                   request.getfixturevalue("paycert_settings"),
                                   request.getfixturevalue(f"{api}_client"))  # the plugin's: budget, evidence
    try:
        yield sender
    finally:
        sender.close()
        request.node.user_properties.append((PROPERTY, sender.report()))


# Both take paycert_target by name: the plugin resets the embedded simulator before every test that does.
@pytest.fixture
def bettercharge_sender(request: pytest.FixtureRequest, paycert_target: Any) -> Iterator[CaseSender]:
    yield from _sender(request, "bettercharge")


@pytest.fixture
def betterpayment_sender(request: pytest.FixtureRequest, paycert_target: Any) -> Iterator[CaseSender]:
    yield from _sender(request, "betterpayment")
