"""The postback contract (the seed's Server-to-Server Processing guide §5; Better Payment's
public postbacks documentation): layouts, checksum, signature, delivery.

Proves that completed, declined and refund postbacks carry exactly the catalog's fields in order with the
checksum last, form-encoded; that the checksum (SHA-1 of body + incoming key) and the Gateway-Webhook-Signature
(HMAC-SHA256, key = raw body, message = webhook key) verify, recomputed here independently of the harness; that
the signing functions reproduce the documented vectors; that the harness's receiver accepts a genuine delivered
postback and rejects tampered copies of it; that the API answers without waiting for the delivery; and that
statuses only the simulator's control can set are posted too.
"""

from __future__ import annotations

import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from harness import postback_signing
from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import Delivery, PostbackReceiver
from harness.simulator_control import SimulatorControl
from harness.suite.betterpayment.checks import expect_payment, get_transaction
from harness.suite.betterpayment.postbacks import (
    expect_postback,
    header,
    independent_checksum,
    independent_signature,
    wait_postbacks,
)
from harness.suite.betterpayment.requests import Urls, mpi_body
from harness.suite.betterpayment.views import money, seed_amount

CAT = betterpayment()

SIGNATURE = CAT.postbacks.signature
CHECKSUM = CAT.postbacks.checksum
SUCCESS = CAT.outcomes.success_status["payment"]


# --- the documented vectors -------------------------------------------------------------------------------------

@pytest.mark.requirement("BP-PB-DOC-VECTOR", "BP-PB-SIGNATURE")
def test_signature_reproduces_the_documented_vector() -> None:
    v = SIGNATURE.doc_vector
    assert postback_signing.signature(v.body, v.key) == v.expected
    assert independent_signature(v.body.encode(), v.key) == v.expected
    # The conventional argument order does not reproduce it: the order matters and is the doc's.
    assert postback_signing.signature_conventional(v.body, v.key) == SIGNATURE.conventional_order_result != v.expected
    assert not postback_signing.verify_signature(v.body, SIGNATURE.conventional_order_result, v.key)
    assert postback_signing.verify_signature(v.body, v.expected, v.key)


@pytest.mark.requirement("BP-PB-CHECKSUM", "BP-PB-DOC-VECTOR")
@pytest.mark.parametrize("vector", [pytest.param(v, id=f"vector{i}") for i, v in enumerate(CHECKSUM.vectors)])
def test_checksum_reproduces_the_known_vectors(vector: Any) -> None:
    assert postback_signing.checksum(vector.body, vector.key) == vector.expected
    body = f"{vector.body}&{CHECKSUM.field}={vector.expected}".encode()
    assert independent_checksum(body, vector.key) == vector.expected
    assert postback_signing.verify_checksum(body, vector.key)
    assert not postback_signing.verify_checksum(body, vector.key + "x")


# --- layouts ----------------------------------------------------------------------------------------------------

def _completed(client: BetterPaymentClient, urls: Urls, _control: Any) -> tuple[dict[str, Any], str, int]:
    sent = mpi_body(urls, additional_transaction_data="customer_id=PC, billing_info=layout")
    body = expect_payment(client.payment(sent), "payment", sent, status_code=SUCCESS)
    return sent, body["transaction_id"], SUCCESS


def _declined(client: BetterPaymentClient, urls: Urls, _control: Any) -> tuple[dict[str, Any], str, int]:
    outcome = next(o for o in CAT.outcomes.card_holders
                   if CAT.postbacks.kind_for_status(o.status_code) == "declined")
    sent = mpi_body(urls, card_holder=outcome.card_holder)
    body = expect_payment(client.payment(sent), "payment", sent, status_code=outcome.status_code)
    return sent, body["transaction_id"], outcome.status_code


def _refund(client: BetterPaymentClient, urls: Urls, _control: Any) -> tuple[dict[str, Any], str, int]:
    sent, tid, _ = _completed(client, urls, None)
    response = client.refund(tid)
    assert response.status_code == CAT.operation("refund").success, response.text
    return sent, tid, CAT.status_named("refunded").code


_LAYOUTS: dict[str, tuple[Callable[..., tuple[dict[str, Any], str, int]], str, bool]] = {
    "completed": (_completed, "BP-PB-COMPLETED-FIELDS", False),
    "declined": (_declined, "BP-PB-DECLINED-FIELDS", True),  # a decline needs the simulator's test data
    "refund": (_refund, "BP-PB-REFUND-FIELDS", False),
}


def _layout_cases() -> list[Any]:
    cases = []
    for kind in CAT.postbacks.kinds:
        recipe = _LAYOUTS.get(kind)
        marks = [pytest.mark.requirement("BP-PB-FORM", "BP-PB-CHECKSUM", "BP-PB-SIGNATURE",
                                         *([recipe[1]] if recipe else []))]
        if recipe and recipe[2]:
            marks.append(pytest.mark.simulator_only)
        cases.append(pytest.param(kind, id=kind, marks=marks))
    return cases


@pytest.mark.parametrize("kind", _layout_cases())
def test_postback_layout(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver, bp_keys: tuple[str, str],
                         kind: str) -> None:
    assert kind in _LAYOUTS, f"no way to provoke a {kind} postback: add a recipe"
    sent, tid, status = _LAYOUTS[kind][0](client, urls, None)
    deliveries = wait_postbacks(postbacks, tid, where=lambda d: d.fields.get("status_code") == str(status))
    delivery = deliveries[0]
    if urls.postback == postbacks.url:
        assert delivery.path == httpx.URL(urls.postback).path
    expect_postback(delivery, kind, transaction_id=tid, sent=sent, status_code=status, keys=bp_keys,
                    amount=seed_amount() if kind != "refund" else None)
    if kind == "refund":
        assert money(delivery.fields["refund_amount"]) == money(sent["amount"])
        assert delivery.fields["refund_status_code"] == str(CAT.refund_status("successful").code)


# --- verification by the harness: genuine vs tampered -----------------------------------------------------------

def _replace_field(raw: bytes, name: str, value: str) -> bytes:
    pairs = [(k, (value if k == name else v)) for k, v in parse_qsl(raw.decode(), keep_blank_values=True)]
    return urlencode(pairs).encode()


def _tampered(raw: bytes, signature: str, keys: tuple[str, str]) -> dict[str, tuple[bytes, str | None, str, str]]:
    """name -> (body, signature header, incoming key, webhook key) the receiver is given."""
    incoming, webhook = keys
    pairs = parse_qsl(raw.decode(), keep_blank_values=True)
    no_checksum = urlencode([(k, v) for k, v in pairs if k != CHECKSUM.field]).encode()
    checksum_first = urlencode([p for p in pairs if p[0] == CHECKSUM.field]
                               + [p for p in pairs if p[0] != CHECKSUM.field]).encode()
    amount = str(money(dict(pairs)["amount"]) + 1)
    extra = urlencode([(k, v) for k, v in pairs if k != CHECKSUM.field] + [("status_code", "3")]
                      + [p for p in pairs if p[0] == CHECKSUM.field]).encode()
    return {
        "genuine": (raw, signature, incoming, webhook),
        "changed-amount": (_replace_field(raw, "amount", amount), signature, incoming, webhook),
        "changed-order": (_replace_field(raw, "order_id", "PCFORGED"), signature, incoming, webhook),
        "appended-field": (extra, signature, incoming, webhook),
        "wrong-incoming-key": (raw, signature, incoming + "x", webhook),
        "wrong-webhook-key": (raw, signature, incoming, webhook + "x"),
        "missing-checksum": (no_checksum, signature, incoming, webhook),
        "checksum-first": (checksum_first, signature, incoming, webhook),
        "missing-signature": (raw, None, incoming, webhook),
        "conventional-signature": (raw, postback_signing.signature_conventional(raw, webhook), incoming, webhook),
    }


TAMPER_KINDS = ["genuine", "changed-amount", "changed-order", "appended-field", "wrong-incoming-key",
                "wrong-webhook-key", "missing-checksum", "checksum-first", "missing-signature",
                "conventional-signature"]


@pytest.mark.requirement("BP-PB-CHECKSUM", "BP-PB-SIGNATURE")
@pytest.mark.parametrize("kind", TAMPER_KINDS)
def test_receiver_accepts_the_genuine_postback_and_rejects_tampered_copies(
        client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver, bp_keys: tuple[str, str],
        kind: str) -> None:
    _sent, tid, _ = _completed(client, urls, None)
    [delivered] = wait_postbacks(postbacks, tid)
    signature = header(delivered, SIGNATURE.header)
    assert signature is not None and delivered.verified, "the genuine postback does not verify"
    body, sig, incoming, webhook = _tampered(delivered.raw_body, signature, bp_keys)[kind]
    with PostbackReceiver(incoming_key=incoming, webhook_key=webhook, reject_invalid=True) as strict:
        headers = {"Content-Type": CAT.postbacks.content_type}
        if sig is not None:
            headers[SIGNATURE.header] = sig
        answer = httpx.post(strict.url, content=body, headers=headers, timeout=10)
        [seen] = strict.wait_for(1)
    genuine = kind == "genuine"
    assert seen.verified is genuine, f"{kind}: checksum_ok={seen.checksum_ok} signature_ok={seen.signature_ok}"
    assert answer.status_code == (200 if genuine else 401)
    assert (independent_checksum(body, incoming) is not None) is seen.checksum_ok
    assert (sig is not None and hmac.compare_digest(sig, independent_signature(body, webhook))) is seen.signature_ok


# --- delivery is asynchronous -----------------------------------------------------------------------------------

@pytest.fixture
def hanging_endpoint() -> Iterator[tuple[str, threading.Event]]:
    """A loopback endpoint that accepts connections and never answers (set() once one connected)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    connected = threading.Event()
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            connected.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hangs", connected
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-PB-NON-BLOCKING")
def test_api_answers_without_waiting_for_the_postback(client: BetterPaymentClient, urls: Urls,
                                                      hanging_endpoint: tuple[str, threading.Event]) -> None:
    url, connected = hanging_endpoint
    sent = mpi_body(urls, postback_url=url)
    started = time.monotonic()
    response = client.payment(sent)
    elapsed = time.monotonic() - started
    expect_payment(response, "payment", sent, status_code=SUCCESS)
    assert connected.wait(5), "the postback was never attempted"
    budget = CAT.simulator.postback_timeout_seconds / 2  # waiting for the endpoint would take the full timeout
    assert elapsed < budget, f"the API took {elapsed:.1f} s: it waited for the postback endpoint"


# --- statuses set through the simulator's control ---------------------------------------------------------------

FORCED = [pytest.param(s, id=f"{s.code}-{s.name}", marks=pytest.mark.requirement(s.id))
          for s in CAT.statuses if s.simulator_only]


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-PB-FORCED-STATUS")
@pytest.mark.parametrize("status", FORCED)
def test_forced_status_is_posted(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                 bp_keys: tuple[str, str], settle: Callable[[float], None],
                                 simulator_control: SimulatorControl, status: Any) -> None:
    sent, tid, _ = _completed(client, urls, None)
    wait_postbacks(postbacks, tid)
    simulator_control.bp_force_status(tid, status.code)
    stored = get_transaction(client, tid)
    assert (stored["status_code"], stored["status"]) == (status.code, status.name)

    def reports(d: Delivery) -> bool:
        return d.fields.get("status_code") == str(status.code)

    [delivery] = wait_postbacks(postbacks, tid, where=reports)
    expect_postback(delivery, CAT.postbacks.kind_for_status(status.code), transaction_id=tid, sent=sent,
                    status_code=status.code, keys=bp_keys)
    settle(0.3)
    assert len([d for d in postbacks.for_transaction(tid) if reports(d)]) == 1
