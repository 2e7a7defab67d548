"""The simulator's two URL profiles (harness/simulator/state.py `SimulatorConfig.strict`, `paycert simulate
--strict`): the default one accepts loopback http:// URLs, so the suites can receive postbacks on this machine;
the strict one refuses them with error 149 naming the field, as the API refuses any http:// URL.

Why here and not in the certification suites: the profiles are a switch of paycert's own simulator, not a fact
of the API, so a merchant's report has no requirement about them (the catalog describes the APIs).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.catalog import betterpayment
from harness.cli import build_parser
from harness.clients.betterpayment import BetterPaymentClient
from harness.simulator.server import start
from harness.simulator.state import SimulatorConfig
from harness.suite.betterpayment.checks import expect_error, expect_payment
from harness.suite.betterpayment.requests import Urls, loopback_hosts, mpi_body

CAT = betterpayment()
FIELDS = ("postback_url", "success_url", "error_url")
#: https on loopback where nobody listens: accepted by both profiles, and no postback leaves the machine.
URLS = Urls(postback="https://127.0.0.1:9/pb", success="https://127.0.0.1:9/ok", error="https://127.0.0.1:9/err",
            deliverable=False)


def _client(strict: bool) -> Iterator[BetterPaymentClient]:
    running = start(SimulatorConfig(strict=strict))
    sim = CAT.simulator
    try:
        with BetterPaymentClient(running.url, sim.api_key, sim.api_password) as client:
            yield client
    finally:
        running.stop()


@pytest.fixture(scope="module")
def default_profile() -> Iterator[BetterPaymentClient]:
    yield from _client(strict=False)


@pytest.fixture(scope="module")
def strict_profile() -> Iterator[BetterPaymentClient]:
    yield from _client(strict=True)


@pytest.mark.parametrize("host", loopback_hosts())
def test_the_default_profile_accepts_loopback_http(default_profile: BetterPaymentClient, host: str) -> None:
    for field in FIELDS:
        body = mpi_body(URLS, **{field: f"http://{host}:9/paycert-loopback"})
        expect_payment(default_profile.payment(body), "payment", body,
                       status_code=CAT.outcomes.success_status["payment"])


@pytest.mark.parametrize("host", loopback_hosts())
def test_the_strict_profile_refuses_loopback_http_naming_the_field(strict_profile: BetterPaymentClient,
                                                                  host: str) -> None:
    for field in FIELDS:
        body = mpi_body(URLS, **{field: f"http://{host}/x"})
        expect_error(strict_profile.payment(body), CAT.url_policy.error, field=field)
    secure = mpi_body(URLS)
    expect_payment(strict_profile.payment(secure), "payment", secure,
                   status_code=CAT.outcomes.success_status["payment"])


def test_paycert_simulate_strict_is_the_strict_profile() -> None:
    assert build_parser().parse_args(["simulate", "--strict"]).strict is True
    assert build_parser().parse_args(["simulate"]).strict is False
