"""Merchant URLs must be https:// (catalog `url_policy`; Better Payment's postbacks
documentation): error 149.

Proves that each URL field of the catalog's policy (postback, success, error, Wero checkout URL) is refused with
error 149 naming the field when it is not https://, for every payment type that takes the field; and, on a
simulator, that loopback http:// URLs are accepted (the test-data convention that lets the suites receive
postbacks locally). The strict profile (`paycert simulate --strict`) is a switch of the simulator, proven in the
project's own tests (tests/test_simulator_url_profiles.py), not here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.plugin import Target
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_error, expect_payment
from harness.suite.betterpayment.requests import Urls, body_for, http_variant, loopback_hosts, mpi_body, mpi_values
from harness.suite.betterpayment.views import block_of, card_type, seed_request

CAT = betterpayment()

POLICY = CAT.url_policy
URL_ERROR = POLICY.error


def _https_example(field: str) -> str:
    """The seed's https URL for the field (the success URL for fields the seed does not show)."""
    return str(seed_request().get(field) or seed_request()["success_url"])


def _https_reachable(field: str, paycert_target: Target) -> str:
    """An https URL to send: on a simulator a loopback one nobody listens on, so no postback leaves the machine."""
    return f"https://127.0.0.1:9/{field}" if paycert_target.is_simulator else _https_example(field)


def _refusals() -> list[Any]:
    cases = []
    for field in POLICY.fields:
        for pt in CAT.payment_types:
            if pt.blocks[block_of(field)] == "absent":
                continue
            cases.append(pytest.param(field, pt.name, id=f"{field}-{pt.name}"))
    return cases


@pytest.mark.requirement("BP-URL-HTTPS", URL_ERROR)
@pytest.mark.parametrize(("field", "pt_name"), _refusals())
def test_url_that_is_not_https_is_refused(client: BetterPaymentClient, urls: Urls, field: str, pt_name: str) -> None:
    plain = http_variant(_https_example(field))
    for insecure in (plain, "ftp" + plain[len("http"):]):
        assert urlsplit(insecure).scheme != POLICY.required_scheme
        extra = mpi_values() if CAT.payment_type(pt_name).flow == "threeds" else {}  # type: ignore[union-attr]
        body = body_for(pt_name, urls, **extra, **{field: insecure})
        expect_error(client.payment(body), URL_ERROR, field=field)


@pytest.mark.requirement("BP-URL-HTTPS")
@pytest.mark.parametrize("field", [f for f in POLICY.fields if card_type().blocks[block_of(f)] != "absent"])
def test_https_url_is_accepted(client: BetterPaymentClient, urls: Urls, paycert_target: Target, field: str) -> None:
    body = mpi_body(urls, **{field: _https_reachable(field, paycert_target)})
    expect_payment(client.payment(body), "payment", body, status_code=CAT.outcomes.success_status["payment"])


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-URL-LOOPBACK")
@pytest.mark.parametrize("host", loopback_hosts())
def test_default_profile_accepts_loopback_http(client: BetterPaymentClient, urls: Urls,
                                               postback_receiver: PostbackReceiver,
                                               host: str) -> None:
    port = urlsplit(postback_receiver.url).port
    for field in ("postback_url", "success_url", "error_url"):
        body = mpi_body(urls, **{field: f"http://{host}:{port}/paycert-loopback"})
        expect_payment(client.payment(body), "payment", body, status_code=CAT.outcomes.success_status["payment"])
