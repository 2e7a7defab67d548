"""Every number of the Better Payment catalog checked at its boundary, from both sides.

Generated from the catalog's `boundaries` table and one derived row per field max_length
(harness/catalog/boundaries.py): per boundary one test at the number (inside: a replay 3599 s later is served
from the cache, the 10th postback attempt comes, a capture of exactly the remaining amount succeeds, a 50-character
order_id passes) and one a unit beyond it (outside: at 3600 s the key is fresh, no 11th attempt, one cent more gets
422, 51 characters get 400). Each test names the boundary's requirement; the probe per kind is in
harness/suite/betterpayment/probes.py.
Boundaries on the simulator clock or the simulator's own settings are simulator-only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.catalog import betterpayment
from harness.catalog.boundaries import Boundary, Side
from harness.clients import BetterPaymentClient
from harness.plugin import Target
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.probes import PROBES, ProbeContext
from harness.suite.betterpayment.requests import Urls
from harness.suite.probes import boundary_cases

# Clock moves must not meet another worker sharing an external simulator (see the clock_lock fixture).
pytestmark = pytest.mark.usefixtures("clock_lock")

#: Probes that watch postback deliveries: they get a receiver of their own.
POSTBACK_PROBES = ("retry_spacing", "retry_max")

@pytest.fixture
def own_receiver(bp_keys: tuple[str, str]) -> Iterator[PostbackReceiver]:
    with PostbackReceiver(incoming_key=bp_keys[0], webhook_key=bp_keys[1]) as rx:
        yield rx


@pytest.mark.parametrize(("boundary", "side"), boundary_cases(betterpayment().all_boundaries))
def test_boundary(boundary: Boundary, side: Side, client: BetterPaymentClient, urls: Urls, paycert_target: Target,
                  request: pytest.FixtureRequest) -> None:
    control = request.getfixturevalue("simulator_control") if paycert_target.is_simulator else None
    receiver = request.getfixturevalue("own_receiver") if boundary.probe in POSTBACK_PROBES else None
    PROBES.run(ProbeContext(client, urls, receiver, control=control), boundary, side)
