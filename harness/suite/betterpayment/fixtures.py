"""Fixtures of the Better Payment certification suites: merchant URLs, the postback receiver, a browser for the
customer steps and a second merchant; suites/betterpayment/conftest.py imports them.

The postback receiver runs on loopback for the whole session (one per xdist worker). Its URL is
http://127.0.0.1:<port>/postback, which the simulator's default profile accepts. A real test API can only reach
a public https URL: set PAYCERT_POSTBACK_URL to one that forwards to the receiver (a tunnel to
PAYCERT_POSTBACK_PORT, which then needs `-n 0` or `-n 1`); both come from the run's settings (harness.config), so
.env and the environment mean the same. Without it, tests that need a delivered postback are
skipped as not verifiable on that target, and requests carry the seed's example https postback URL instead.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from filelock import FileLock

from harness.catalog import betterpayment
from harness.clients.betterpayment import BetterPaymentClient
from harness.plugin import NOT_VERIFIABLE, not_verifiable
from harness.receiver import PostbackReceiver
from harness.simulator_control import SimulatorControl
from harness.tls import trust_context

from .requests import Urls
from .views import seed_request

#: Why a postback test is skipped on a sandbox: the gateway cannot reach a loopback receiver.
POSTBACK_NOT_VERIFIABLE = (f"{NOT_VERIFIABLE}; or set PAYCERT_POSTBACK_URL to a public https URL that forwards "
                           "to the postback receiver (PAYCERT_POSTBACK_PORT)")


@pytest.fixture(scope="session")
def bp_keys(paycert_target: Any) -> tuple[str, str]:
    """(incoming key, webhook key) the postbacks of this target are signed with."""
    s = paycert_target.settings.betterpayment
    return s.incoming_key, s.webhook_key


@pytest.fixture(scope="session")
def postback_receiver(bp_keys: tuple[str, str], paycert_target: Any) -> Iterator[PostbackReceiver]:
    port = paycert_target.settings.postback_port
    receiver = PostbackReceiver(incoming_key=bp_keys[0], webhook_key=bp_keys[1], port=port)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def urls(paycert_target: Any, postback_receiver: PostbackReceiver) -> Urls:
    """postback_url, success_url, error_url for this test's requests.

    success_url and error_url are the seed's (the browser helper stops before requesting them).
    """
    public = paycert_target.settings.postback_url
    seed = seed_request()
    if public:
        postback, deliverable = public, True
    elif paycert_target.is_simulator:
        postback, deliverable = postback_receiver.url, True
    else:
        postback, deliverable = str(seed["postback_url"]), False
    return Urls(postback=postback, success=str(seed["success_url"]), error=str(seed["error_url"]),
                deliverable=deliverable)


@pytest.fixture
def postbacks(urls: Urls, postback_receiver: PostbackReceiver) -> PostbackReceiver:
    """The receiver, answering 200 again; tests asking for it need postbacks to arrive."""
    if not urls.deliverable:
        not_verifiable(POSTBACK_NOT_VERIFIABLE, setting="PAYCERT_POSTBACK_URL")
    postback_receiver.fail_next(0)
    return postback_receiver


@pytest.fixture(scope="session")
def client(betterpayment_client: BetterPaymentClient) -> BetterPaymentClient:
    """The merchant's client: the plugin's session-wide `betterpayment_client` (one httpx client costs ~50 ms
    for its TLS context, which over ~800 tests would be most of the run time)."""
    return betterpayment_client


@pytest.fixture(scope="session")
def browser() -> Iterator[httpx.Client]:
    """What the customer's browser uses to get through the 3DS or bank page."""
    with httpx.Client(timeout=15, follow_redirects=False, verify=trust_context()) as http:
        yield http


@pytest.fixture(scope="session")
def other_client(paycert_target: Any) -> Iterator[BetterPaymentClient]:
    """A second merchant's client: the catalog's second simulator credential (simulator only)."""
    if not paycert_target.is_simulator:
        not_verifiable()
    sim = betterpayment().simulator
    with BetterPaymentClient(paycert_target.base_url("betterpayment"), sim.other_api_key,
                             sim.other_api_password) as other:
        yield other


@pytest.fixture(scope="session")
def settle(paycert_target: Any) -> Iterator[Callable[[float], None]]:
    """`settle(seconds)` before a negative check ("no second postback"): background deliveries have had their
    chance to happen. On a simulator its control interface answers a zero clock move once every postback due by
    then has been attempted and answered (Dispatcher.settle, harness/simulator/betterpayment/postbacks.py), which
    is exact where a sleep is a guess a loaded machine can lose, and takes milliseconds instead of `seconds`.
    A sandbox has nothing to ask: there the test waits `seconds`."""
    if not paycert_target.is_simulator:
        yield time.sleep
        return
    control = SimulatorControl(paycert_target.simulator_url)
    yield lambda _seconds: control.advance(0)
    control.close()


@pytest.fixture
def clock_lock(paycert_target: Any) -> Iterator[None]:
    """Serialises the tests that move the simulator clock or depend on it standing still (idempotency retention,
    postback retries) when several xdist workers share one external simulator (PAYCERT_SIMULATOR_URL): its clock
    is global, so one worker's jump would expire another's idempotency key or release its retries early. The
    embedded simulator is per worker and a sandbox has no clock to move, so there it does nothing."""
    if paycert_target.embedded or not paycert_target.is_simulator:
        yield
        return
    digest = hashlib.sha256(str(paycert_target.simulator_url).encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"paycert-bp-clock-{digest}.lock", timeout=900):
        yield
