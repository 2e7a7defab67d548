"""Every number of the BetterCharge catalog checked at its boundary, from both sides.

Generated from the catalog's `boundaries` table (harness/catalog/boundaries.py): per boundary one test at the
number (inside: the 100th request passes, a replay 3599 s later is served from the cache, a card expiring this
month is too close) and one a unit beyond it (outside: the 101st gets 429, at 3600 s the key is fresh, next month
authorizes). Each test names the boundary's requirement; the probe per kind is in harness/suite/bettercharge/probes.py.
A boundary whose number needs the simulator clock is simulator-only.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import bettercharge
from harness.catalog.boundaries import Boundary, Side
from harness.suite.bettercharge.probes import PROBES, ProbeContext
from harness.suite.bettercharge.requests import Api, ClientFactory
from harness.suite.probes import boundary_cases


def _marks(b: Boundary) -> list[pytest.MarkDecorator]:
    """The rate-limit rows drain a window nobody used before them, on purpose (the run's budget counts them
    apart, and the plugin runs them first)."""
    return [pytest.mark.provokes_rate_limit(fresh_window=True)] if b.probe.startswith("rate_") else []


@pytest.mark.parametrize(("boundary", "side"), boundary_cases(bettercharge().all_boundaries, _marks))
def test_boundary(boundary: Boundary, side: Side, api: Api, make_client: ClientFactory,
                  request: pytest.FixtureRequest) -> None:
    control: Any = request.getfixturevalue("simulator_control") if boundary.simulator_only else None
    if control is None and api.target.is_simulator:
        control = request.getfixturevalue("simulator_control")
    PROBES.run(ProbeContext(api, make_client, control=control), boundary, side)
