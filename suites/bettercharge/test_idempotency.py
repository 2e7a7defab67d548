"""Idempotency-Key semantics (catalog `idempotency`, adopted; the IETF draft "The
Idempotency-Key HTTP Header Field" and Stripe's API reference, "Idempotent requests").

Proves: a replay with the same key and body returns the stored answer and does nothing new; concurrent
duplicates create one payment; a validation failure stores nothing under its key; after the retention period
a key is processed afresh (simulator clock); two API keys never share results. Advisory (IETF/Stripe, the seed
is silent): the same key with another body gets 422, and a stored error is replayed like a success.
"""

from __future__ import annotations

import threading
import uuid
from http import HTTPStatus
from typing import Any

import httpx
import pytest

from harness.catalog import bettercharge
from harness.simulator_control import SimulatorControl
from harness.suite.bettercharge.checks import expect_error, expect_payment, expect_status
from harness.suite.bettercharge.requests import Api, ClientFactory
from harness.suite.bettercharge.scenarios import Scenario
from harness.suite.failure import same

CATALOG = bettercharge()

IDEM = CATALOG.idempotency
_ALREADY_APPROVED = "BC-ERR-422-ALREADY-APPROVED"
_REFUND_EXCEEDED = "BC-ERR-422-REFUND-EXCEEDED"
_AUTHORIZED = CATALOG.situations["AUTHORIZED"].state


def key() -> str:
    return str(uuid.uuid4())


@pytest.mark.requirement("BC-IDEM-REPLAY")
def test_replay_returns_the_stored_payment(api: Api) -> None:
    k, body = key(), api.body()
    first = expect_payment(api.client.authorize(body, idempotency_key=k), "authorize", state=_AUTHORIZED)
    again = api.client.authorize(body, idempotency_key=k)
    same(expect_payment(again, "authorize"), first, "replayed answer")
    # the first payment is the only one for this order: a new key is refused as a duplicate order
    expect_error(api.client.authorize(body, idempotency_key=key()), _ALREADY_APPROVED)
    same(api.get(first["bcId"]), first, "the payment after the replay")


@pytest.mark.requirement("BC-IDEM-REPLAY")
def test_replayed_capture_does_not_capture_twice(api: Api) -> None:
    payment = api.authorized()
    k = key()
    partial = CATALOG.amounts.partial_capture
    first = expect_payment(api.client.capture(payment["bcId"], partial, idempotency_key=k), "capture")
    again = expect_payment(api.client.capture(payment["bcId"], partial, idempotency_key=k), "capture")
    same(again, first, "replayed capture")
    same(api.get(payment["bcId"])["capturedAmount"], partial, "capturedAmount after a replayed capture")


@pytest.mark.requirement("BC-IDEM-PAYLOAD-MISMATCH")
def test_same_key_with_another_body(api: Api, record_property: Any) -> None:
    k = key()
    expect_payment(api.client.authorize(api.body(), idempotency_key=k), "authorize", state=_AUTHORIZED)
    other = api.body(amount=CATALOG.amounts.authorized + 1)
    response = api.client.authorize(other, idempotency_key=k)
    record_property("observed", f"same key, other body -> HTTP {response.status_code}")
    expected = HTTPStatus.UNPROCESSABLE_ENTITY  # IETF draft-06 for a reused key with another payload
    if response.status_code != expected:
        raise AssertionError(f"IETF expects {expected.value} for a reused key with another body; "
                             f"the API answered HTTP {response.status_code}")


@pytest.mark.requirement("BC-IDEM-CONCURRENT")
def test_concurrent_duplicates_create_one_payment(api: Api, make_client: ClientFactory) -> None:
    k, body = key(), api.body()
    clients = [make_client() for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    results: list[httpx.Response | None] = [None] * len(clients)

    def send(i: int) -> None:
        barrier.wait(10)
        results[i] = clients[i].authorize(body, idempotency_key=k)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    payments = [expect_payment(r, "authorize", state=_AUTHORIZED) for r in results if r is not None]
    same(len(payments), len(clients), "answers received")
    same({p["bcId"] for p in payments}, {payments[0]["bcId"]}, "payments created by concurrent duplicates")
    expect_error(api.client.authorize(body, idempotency_key=key()), _ALREADY_APPROVED)


@pytest.mark.requirement("BC-IDEM-VALIDATION-NOT-STORED")
def test_validation_failure_is_not_stored(api: Api) -> None:
    k, body = key(), api.body()
    invalid = {name: value for name, value in body.items() if name != "amount"}
    expect_error(api.client.authorize(invalid, idempotency_key=k), "BC-ERR-400-BAD-REQUEST",
                 fields="amount")
    expect_payment(api.client.authorize(body, idempotency_key=k), "authorize", state=_AUTHORIZED)


@pytest.mark.requirement("BC-IDEM-ERROR-REPLAY")
def test_stored_error_is_replayed(api: Api) -> None:
    """A refund of an uncaptured payment is refused; once captured, the same key must still replay the refusal."""
    scenario = Scenario(api)
    scenario.reach("AUTHORIZED")
    k = key()
    refused = api.client.refund(scenario.bc_id, idempotency_key=k)
    expect_error(refused, _REFUND_EXCEEDED, bcId=scenario.bc_id)
    expect_payment(api.client.capture(scenario.bc_id), "capture", state=CATALOG.situations["CAPTURED"].state)
    again = api.client.refund(scenario.bc_id, idempotency_key=k)
    expect_error(again, _REFUND_EXCEEDED, bcId=scenario.bc_id)
    same(api.get(scenario.bc_id)["refundedAmount"], 0, "refundedAmount after the replayed refusal")


@pytest.mark.simulator_only
@pytest.mark.requirement("BC-IDEM-EXPIRY", "BC-IDEM-REPLAY")
def test_key_expires_after_the_retention(api: Api, simulator_control: SimulatorControl) -> None:
    k, body = key(), api.body()
    first = expect_payment(api.client.authorize(body, idempotency_key=k), "authorize", state=_AUTHORIZED)
    simulator_control.advance(IDEM.retention_seconds - 60)
    same(expect_payment(api.client.authorize(body, idempotency_key=k), "authorize"), first,
         "replay within the retention")
    simulator_control.advance(60)
    # processed afresh: the order exists, so the fresh attempt is a duplicate order
    expect_error(api.client.authorize(body, idempotency_key=k), _ALREADY_APPROVED)


@pytest.mark.simulator_only
@pytest.mark.requirement("BC-IDEM-SCOPE")
def test_api_keys_do_not_share_results(api: Api, make_client: ClientFactory,
                                       simulator_control: SimulatorControl) -> None:
    sim = CATALOG.simulator
    other = make_client(api_key=sim.other_api_key, partner_id=sim.other_partner_id)
    k = key()
    ours = expect_payment(api.client.authorize(api.body(), idempotency_key=k), "authorize", state=_AUTHORIZED)
    theirs_body = api.body(account_id=sim.other_account_id)
    theirs_body["merchantId"] = sim.other_merchant_id
    theirs = expect_payment(other.authorize(theirs_body, idempotency_key=k), "authorize", state=_AUTHORIZED)
    if theirs["bcId"] == ours["bcId"]:
        raise AssertionError("the other API key got our stored answer for the same Idempotency-Key")
    same((theirs["merchantId"], theirs["orderReference"]), (sim.other_merchant_id, theirs_body["orderReference"]),
         "the other key's payment")
    expect_status(api.client.get_payment(theirs["bcId"]), CATALOG.error("BC-ERR-403-FORBIDDEN").status)
