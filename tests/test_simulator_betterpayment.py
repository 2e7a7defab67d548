"""The Better Payment simulator behaves as the catalog says: flows, amounts, idempotency, postbacks, defects.

One simulator per module (reset before each test), a fresh postback receiver per test, plain httpx, and the
client-side 3DS helper playing the customer's browser. Card data comes from the catalog's seed example.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from harness.catalog import betterpayment
from harness.postback_signing import (
    SIGNATURE_HEADER,
    php_http_build_query,
    signature_conventional,
    verify_signature,
)
from harness.receiver import Delivery, PostbackReceiver
from harness.simulator import defects as defect_registry
from harness.simulator.server import RunningSimulator, start
from harness.simulator.state import SimulatorConfig
from harness.threeds import ThreeDSError, complete_customer_step, parse_forms

CAT = betterpayment()
SIM = CAT.simulator
SEED = CAT.seed_examples
PAN = CAT.seed_card_pan
CVV = str(SEED.payment_request["card_cvv"])
OWN_MPI = {"threeds_authentication_value": "AAABBEg0VhI0VniQEjRWAAAAAAA=",
           "threeds_directory_server_trans_id": "f25084f0-5b16-4c0a-ae5d-b24808a95e4b"}
SUCCESS_URL = str(SEED.payment_request["success_url"])
ERROR_URL = str(SEED.payment_request["error_url"])
TICK = 0.35  # > the dispatcher's 0.1 s poll: long enough to be sure nothing more was delivered


def err(error_id: str) -> int:
    return CAT.error(error_id).code


def status(name: str) -> int:
    return CAT.status_named(name).code


def wait_until(predicate: Callable[[], Any], timeout: float = 4.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class BP:
    """A merchant talking to one simulator, with its own postback receiver."""

    def __init__(self, sim: RunningSimulator, rx: PostbackReceiver) -> None:
        self.url = sim.url
        self.rx = rx
        # verify=False: loopback http only, and it spares loading the CA bundle for every client.
        self.http = httpx.Client(base_url=sim.url, auth=(SIM.api_key, SIM.api_password), timeout=10, verify=False)
        self.other = httpx.Client(base_url=sim.url, auth=(SIM.other_api_key, SIM.other_api_password), timeout=10,
                                  verify=False)
        self.control = httpx.Client(base_url=f"{sim.url}/_simulator", timeout=10, verify=False)

    def close(self) -> None:
        for c in (self.http, self.other, self.control):
            c.close()

    # request bodies -------------------------------------------------------------------------------------------
    def card(self, **over: Any) -> dict[str, Any]:
        body = {**SEED.payment_request, "postback_url": self.rx.url, **over}
        return {k: v for k, v in body.items() if v is not None}

    def mpi(self, **over: Any) -> dict[str, Any]:
        return self.card(**{**OWN_MPI, **over})

    def redirect(self, payment_type: str, **over: Any) -> dict[str, Any]:
        body = {"payment_type": payment_type, "order_id": f"o-{uuid.uuid4().hex[:8]}", "amount": "10.00",
                "currency": "EUR", "postback_url": self.rx.url, "success_url": SUCCESS_URL, "error_url": ERROR_URL,
                "merchant_reference": "ref-1", **over}
        return {k: v for k, v in body.items() if v is not None}

    # calls ----------------------------------------------------------------------------------------------------
    def post(self, path: str, body: Any, client: httpx.Client | None = None, **kw: Any) -> httpx.Response:
        return (client or self.http).post(f"/rest/{path}", json=body, **kw)

    def ok(self, path: str, body: Any, **kw: Any) -> dict[str, Any]:
        r = self.post(path, body, **kw)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        assert data["error_code"] == 0
        return data

    def tx(self, tid: str) -> dict[str, Any]:
        r = self.http.get(f"/rest/transactions/{tid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def step(self, response: dict[str, Any], choice: str) -> str | None:
        landing = complete_customer_step(self.http, response, choice=choice, success_url=SUCCESS_URL,
                                         error_url=ERROR_URL)
        return landing.outcome

    def advance(self, seconds: float) -> None:
        self.control.post("/clock", json={"advance_seconds": seconds}).raise_for_status()

    def defects(self, *names: str) -> None:
        self.control.post("/defects", json={"enable": list(names)}).raise_for_status()

    def postback_log(self, tid: str | None = None) -> dict[str, Any]:
        params = {"transaction_id": tid} if tid else None
        return dict(self.control.get("/betterpayment/postbacks", params=params).json())

    def deliveries(self, tid: str, n: int, timeout: float = 4.0) -> list[Delivery]:
        return self.rx.wait_for(n, timeout, where=lambda d: d.fields.get("transaction_id") == tid)


def expect_error(r: httpx.Response, error_id: str, *names: str) -> dict[str, Any]:
    row = CAT.error(error_id)
    assert r.status_code == row.http_status, r.text
    body = r.json()
    assert set(body) == {"error_code", "error_message"} and body["error_code"] == row.code, body
    for n in names:
        assert n in body["error_message"], (n, body)
    return dict(body)


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start(SimulatorConfig(defects_allowed=False))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def dsim() -> Iterator[RunningSimulator]:
    running = start(SimulatorConfig(defects_allowed=True))
    yield running
    running.stop()


def _merchant(running: RunningSimulator, transport: str = "http") -> Iterator[BP]:
    """A fresh merchant. These tests read each error row's own HTTP status, so they run the simulator under the
    `http` error transport; the default (in_band) has its own tests in test_simulator_bp_fidelity.py."""
    httpx.post(f"{running.url}/_simulator/reset", timeout=10, verify=False).raise_for_status()
    httpx.post(f"{running.url}/_simulator/betterpayment/settings", json={"error_transport": transport},
               timeout=10).raise_for_status()
    with PostbackReceiver(incoming_key=SIM.incoming_key, webhook_key=SIM.webhook_key) as rx:
        bp = BP(running, rx)
        yield bp
        bp.close()


@pytest.fixture
def bp(sim: RunningSimulator) -> Iterator[BP]:
    yield from _merchant(sim)


@pytest.fixture
def dbp(dsim: RunningSimulator) -> Iterator[BP]:
    yield from _merchant(dsim)


# --- the seed's own examples ---------------------------------------------------------------------------------

def test_seed_example_request_answers_the_seed_3ds_required_shape(bp: BP) -> None:
    r = bp.http.post("/rest/payment", json=SEED.payment_request,
                     headers={"Idempotency-Key": SEED.idempotency_key})
    body = r.json()
    assert r.status_code == 200
    assert list(body) == list(SEED.pending_response)
    assert uuid.UUID(body["transaction_id"])
    for key in ("payment_type", "status_code", "status", "order_id", "message", "additional_transaction_data",
                "amount", "included_fees", "error_code", "client_action"):
        assert body[key] == SEED.pending_response[key], key
    assert body["action_data"]["url"] == bp.url + CAT.outcomes.pages["acs"].path
    assert list(body["action_data"]["fields"]) == ["creq"]
    again = bp.http.post("/rest/payment", json=SEED.payment_request,
                         headers={"Idempotency-Key": SEED.idempotency_key})
    assert again.json() == body and again.headers.get(CAT.idempotency.replay_header) == "true"


def test_own_mpi_completes_directly_in_the_seed_shape_with_a_signed_postback(bp: BP) -> None:
    body = bp.ok("payment", bp.mpi())
    assert list(body) == list(SEED.direct_response)
    for key, value in SEED.direct_response.items():
        if key != "transaction_id":
            assert body[key] == value, key
    [d] = bp.deliveries(body["transaction_id"], 1)
    assert list(d.fields) == CAT.postbacks.kinds["completed"].names
    assert d.checksum_ok and d.checksum_last and d.signature_ok
    assert d.headers["Content-Type"] == CAT.postbacks.content_type
    assert d.fields["status_code"] == "3" and d.fields["status"] == "completed" and d.fields["amount"] == "15.90"
    tx = bp.tx(body["transaction_id"])
    assert list(tx) == CAT.responses["transaction"].fields and "error_code" not in tx
    assert tx["status_code"] == 3 and tx["captured_amount"] == 15.9


def test_postbacks_never_leave_loopback(bp: BP) -> None:
    """The simulator runs offline: a postback_url on another host is logged as not sent, never contacted."""
    body = bp.ok("payment", bp.mpi(postback_url="https://merchant.example/postback"))
    log = wait_until(lambda: bp.postback_log(body["transaction_id"])["deliveries"] or None)
    assert log[0]["status"] is None
    assert log[0]["error"] == "not sent: merchant.example is not a loopback address"


@pytest.mark.parametrize("url", ["https://merchant.example/postback", "http://127.0.0.1:9/_simulator/reset"])
def test_a_receiver_never_contacted_has_attempt_1_logged_with_the_answer_and_retries_on_schedule(
        bp: BP, url: str) -> None:
    """Attempt 1 to a receiver the simulator refuses (another host, a control route) is decided without the
    network, so it is in the log as soon as the payment has answered, not a delivery-loop tick later; its
    retries still come due with the clock, one per interval, up to the catalog's count."""
    retry = CAT.postbacks.retry
    tid = bp.ok("payment", bp.mpi(postback_url=url))["transaction_id"]
    [post] = bp.postback_log(tid)["postbacks"]
    first = bp.postback_log(tid)["deliveries"]
    assert [d["attempt"] for d in first] == [1] and first[0]["status"] is None
    assert first[0]["error"].startswith("not sent: ")
    assert post["attempts"] == 1 and not post["delivered"]
    assert post["next_attempt_at"] == pytest.approx(first[0]["at"] + retry.interval_seconds, abs=0.01)
    bp.advance(retry.interval_seconds - 1)
    assert len(bp.postback_log(tid)["deliveries"]) == 1  # not due yet
    bp.advance(1)
    for _ in range(retry.max_attempts + 2):
        bp.advance(retry.interval_seconds)
    log = bp.postback_log(tid)
    assert [d["attempt"] for d in log["deliveries"]] == list(range(1, retry.max_attempts + 1))
    assert log["postbacks"][0]["exhausted"]


def test_every_query_of_a_merchants_flow_finds_its_rows_by_index(sim: RunningSimulator, bp: BP) -> None:
    """A long-running simulator (`paycert simulate` behind a merchant's nightly CI) holds many thousands of
    payments: a query that filters by a key but scans its table answers more slowly with every payment taken.
    Every statement the flow below issues is recorded and its plan read (EXPLAIN QUERY PLAN): none may scan a
    table it filters."""
    store = sim.server.config.app.state.simulator.store
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        tid = bp.ok("payment", bp.mpi(postback_url="https://merchant.example/pb"))["transaction_id"]
        bp.tx(tid)
        bp.http.get(f"/rest/transactions/{tid}/log").raise_for_status()
        bp.ok("refund", {"transaction_id": tid, "amount": "1.00"})
        bp.http.get(f"/rest/transactions/{tid}/refunds").raise_for_status()
        bp.postback_log(tid)
        auth = bp.ok("authorize", bp.mpi())["transaction_id"]
        bp.ok("capture", {"transaction_id": auth, "amount": "15.90"})
    finally:
        store._conn.set_trace_callback(None)
    keyed = [s for s in statements if s.split(None, 1)[0].upper() in {"SELECT", "UPDATE", "DELETE"} and " WHERE " in s]
    assert any("bp_log" in s for s in keyed) and any("bp_postbacks p WHERE" in s for s in keyed)
    with store.read() as conn:
        scans = [(statement, step) for statement in keyed
                 for step in (row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement))
                 if step.startswith("SCAN ")]
    assert scans == []


def test_amount_is_accepted_as_number_and_string(bp: BP) -> None:
    for amount in ("15.90", 15.90, 15.9, 15, "7"):
        body = bp.ok("payment", bp.mpi(amount=amount))
        assert body["amount"] == float(amount)


# --- 3DS and redirect customer steps -------------------------------------------------------------------------

def test_3ds_challenge_approved(bp: BP) -> None:
    body = bp.ok("payment", bp.card(additional_transaction_data="cust=1"))
    assert body["status_code"] == status("pending") and body["client_action"] == "postForm"
    assert bp.rx.deliveries() == []
    assert bp.step(body, "approve") == "success"
    [d] = bp.deliveries(body["transaction_id"], 1)
    assert d.verified and d.fields["status"] == "completed" and d.fields["additional_transaction_data"] == "cust=1"
    assert bp.tx(body["transaction_id"])["status"] == "completed"


def test_3ds_challenge_failed(bp: BP) -> None:
    body = bp.ok("payment", bp.card())
    assert bp.step(body, "fail") == "error"
    [d] = bp.deliveries(body["transaction_id"], 1)
    fail = CAT.outcomes.pages["acs"].choice("fail")
    assert fail is not None
    assert list(d.fields) == CAT.postbacks.kinds["declined"].names
    assert d.fields["status_code"] == str(fail.status_code) and d.fields["reason_code"] == fail.reason_code
    assert bp.tx(body["transaction_id"])["status"] == "declined"


def test_acs_page_is_a_form_and_a_second_submit_changes_nothing(bp: BP) -> None:
    body = bp.ok("payment", bp.card())
    page = bp.http.post(body["action_data"]["url"], data=body["action_data"]["fields"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    [form] = parse_forms(page.text)
    assert form.method == "POST"
    assert {b[1] for b in form.buttons} == {c.value for c in CAT.outcomes.pages["acs"].choices}
    assert PAN not in page.text and PAN[:6] in page.text
    data = {**dict(form.inputs), "decision": "approve"}
    first = bp.http.post(form.action, data=data)
    assert first.status_code == 303 and first.headers["location"] == SUCCESS_URL
    second = bp.http.post(form.action, data={**dict(form.inputs), "decision": "fail"})
    assert second.status_code == 303 and second.headers["location"] == SUCCESS_URL
    bp.deliveries(body["transaction_id"], 1)
    time.sleep(TICK)
    assert len(bp.rx.deliveries()) == 1


def test_customer_pages_refuse_bad_input(bp: BP) -> None:
    acs = bp.url + CAT.outcomes.pages["acs"].path
    assert bp.http.get(acs).status_code == 405 and bp.http.get(acs).headers["allow"] == "POST"
    assert bp.http.post(acs, data={"creq": "not-base64!"}).status_code == 400
    assert bp.http.post(acs, data={}).status_code == 400
    assert bp.http.post(f"{acs}/complete", data={"step_id": "nope", "decision": "approve"}).status_code == 404
    body = bp.ok("payment", bp.card())
    page = bp.http.post(body["action_data"]["url"], data=body["action_data"]["fields"])
    [form] = parse_forms(page.text)
    assert bp.http.post(form.action, data={**dict(form.inputs), "decision": "maybe"}).status_code == 400
    assert bp.http.get(f"{bp.url}{CAT.outcomes.pages['bank'].path}/{uuid.uuid4()}").status_code == 404
    assert bp.http.post(acs, content=b"x" * 20000).status_code == 413
    with pytest.raises(ThreeDSError, match="no form offers"):
        bp.step(body, "dance")
    with pytest.raises(ThreeDSError, match="no usable client_action"):
        bp.step({"status": "pending"}, "approve")


@pytest.mark.parametrize("payment_type", [p.name for p in CAT.payment_types if p.flow == "redirect"])
@pytest.mark.parametrize("choice", [c.value for c in CAT.outcomes.pages["bank"].choices])
def test_redirect_methods(bp: BP, payment_type: str, choice: str) -> None:
    body = bp.ok("payment", bp.redirect(payment_type))
    assert body["status_code"] == CAT.outcomes.step_status["redirect"]
    assert body["client_action"] == "redirect" and list(body["action_data"]) == ["url"]
    chosen = CAT.outcomes.pages["bank"].choice(choice)
    assert chosen is not None
    final = CAT.outcomes.success_status["payment"] if chosen.result == "success" else chosen.status_code
    assert bp.step(body, choice) == CAT.status(final or 0).landing
    [d] = bp.deliveries(body["transaction_id"], 1)
    kind = CAT.postbacks.kind_for_status(final or 0)
    assert list(d.fields) == CAT.postbacks.kinds[kind].names
    assert d.verified and d.fields["status_code"] == str(final) and d.fields["message"] == chosen.message
    if payment_type == "wero":
        assert d.fields["wallet_activity_reference"].startswith("WAR") and d.fields["payer_location"]
    assert bp.tx(body["transaction_id"])["status_code"] == final


@pytest.mark.parametrize("outcome", CAT.outcomes.card_holders, ids=lambda o: o.id)
def test_card_holder_conventions(bp: BP, outcome: Any) -> None:
    body = bp.ok("payment", bp.mpi(card_holder=outcome.card_holder.upper()))
    assert body["status_code"] == outcome.status_code and body["message"] == outcome.message
    [d] = bp.deliveries(body["transaction_id"], 1)
    assert list(d.fields) == CAT.postbacks.kinds["declined"].names
    assert d.fields["reason_code"] == outcome.reason_code
    challenged = bp.ok("payment", bp.card(card_holder=outcome.card_holder))
    assert challenged["status_code"] == status("pending")
    assert bp.step(challenged, "approve") == "error"
    assert bp.tx(challenged["transaction_id"])["status_code"] == outcome.status_code


def test_cardpos_completes_without_customer_step(bp: BP) -> None:
    body = bp.ok("payment", bp.card(payment_type="cardpos", success_url=None, error_url=None))
    assert body["status_code"] == status("completed") and "client_action" not in body
    expect_error(bp.post("payment", bp.card(payment_type="cardpos")), "BP-ERR-212-FIELDS-NOT-ALLOWED",
                 "error_url", "success_url")


# --- validation ------------------------------------------------------------------------------------------------

def _valid_body(bp: BP, payment_type: str) -> dict[str, Any]:
    pt = CAT.payment_type(payment_type)
    assert pt is not None
    if pt.flow == "redirect":
        return bp.redirect(payment_type)
    if not pt.is_card:  # invoice, SEPA, wallets: the common block, their own required blocks and tokens
        body = bp.redirect(payment_type)
        for block, presence in pt.blocks.items():
            if presence == "required" and block not in ("common", "redirection_urls"):
                body |= {f.name: ("DE89370400440532013000" if f.type == "iban" else "paycert")
                         for f in CAT.field_blocks[block].fields if f.required}
        return body | {name: "paycert-token" for name in pt.also_required}
    body = bp.card(payment_type=payment_type)
    if pt.blocks["redirection_urls"] == "absent":
        body = {k: v for k, v in body.items() if k not in ("success_url", "error_url")}
    return body


@pytest.mark.parametrize("payment_type", [p.name for p in CAT.payment_types])
def test_missing_fields_per_payment_type(bp: BP, payment_type: str) -> None:
    base = _valid_body(bp, payment_type)
    bp.ok("payment", base)
    for name in CAT.required_fields(payment_type):
        without = {k: v for k, v in base.items() if k != name}
        expect_error(bp.post("payment", without), "BP-ERR-204-MISSING-FIELDS", name)
        if name != "payment_type":
            expect_error(bp.post("payment", {**base, name: "  "}), "BP-ERR-204-MISSING-FIELDS", name)
    r = expect_error(bp.post("payment", {}), "BP-ERR-204-MISSING-FIELDS")
    assert r["error_message"] == CAT.error("BP-ERR-204-MISSING-FIELDS").message.format(
        fields=", ".join(sorted(f.name for f in CAT.field_blocks["common"].fields if f.required)))


def test_fields_of_absent_blocks_and_unsupported_operations(bp: BP) -> None:
    for pt in ("ideal", "wero", "rtp"):
        expect_error(bp.post("payment", bp.redirect(pt, card_number=PAN, card_cvv=CVV)),
                     "BP-ERR-212-FIELDS-NOT-ALLOWED", "card_cvv, card_number")
        expect_error(bp.post("authorize", bp.redirect(pt)), "BP-ERR-213-OPERATION-UNSUPPORTED", pt, "authorize")
        expect_error(bp.post("register", bp.redirect(pt)), "BP-ERR-213-OPERATION-UNSUPPORTED", pt, "register")
    expect_error(bp.post("payment", bp.mpi(threeds_directory_server_trans_id=None)),
                 "BP-ERR-204-MISSING-FIELDS", "threeds_directory_server_trans_id")


def test_unknown_and_invalid_payment_types(bp: BP) -> None:
    expect_error(bp.post("payment", bp.card(payment_type="bitcoin")), "BP-ERR-206-PAYMENT-TYPE", "bitcoin")
    expect_error(bp.post("payment", bp.card(payment_type=5)), "BP-ERR-205-INVALID-FIELDS", "payment_type")
    expect_error(bp.post("payment", bp.card(payment_type=["cardecom"])), "BP-ERR-205-INVALID-FIELDS")


@pytest.mark.parametrize(("field", "value"), [
    ("amount", "abc"), ("amount", 0), ("amount", -1), ("amount", 1.234), ("amount", "1e3"), ("amount", True),
    ("amount", 10**20), ("amount", {"v": 1}), ("currency", "eur"), ("currency", "EURO"),
    ("card_number", PAN[:-1] + str((int(PAN[-1]) + 1) % 10)), ("card_number", int(PAN)), ("card_cvv", "12"),
    ("card_expiry_month", "13"), ("card_expiry_month", 0),
    ("card_expiry_year", "26"), ("email", "no-at-sign"), ("invoice_date", "2026-02-30"), ("locale", "DE"),
    ("order_id", "x" * 51), ("order_id", [123]), ("customer_ip", "300.1.1.1"), ("recurring", "yes"),
    ("country", "Germany"), ("shipping_costs", -5), ("additional_transaction_data", "x" * 2000),
    ("postback_url", ["https://a"]), ("card_holder", "a\x00b"),
])
def test_invalid_values_are_named(bp: BP, field: str, value: Any) -> None:
    expect_error(bp.post("payment", bp.card(**{field: value})), "BP-ERR-205-INVALID-FIELDS", field)


def test_several_invalid_fields_are_all_named_sorted(bp: BP) -> None:
    r = expect_error(bp.post("payment", bp.card(currency="x", amount="y", card_cvv="z")), "BP-ERR-205-INVALID-FIELDS")
    assert r["error_message"].endswith("amount, card_cvv, currency")


def test_url_policy(bp: BP, sim: RunningSimulator) -> None:
    for field in ("postback_url", "success_url", "error_url"):
        for bad in ("http://merchant.example/pb", "ftp://merchant.example/", "not a url", "https://"):
            expect_error(bp.post("payment", bp.card(**{field: bad})), "BP-ERR-149-URL", field)
    expect_error(bp.post("payment", bp.redirect("wero", wero_checkout_url="http://shop.example/")),
                 "BP-ERR-149-URL", "wero_checkout_url")
    for ok in ("http://127.0.0.1:9/x", "http://127.9.8.7/x", "http://localhost:8080/x", "http://[::1]:9/x",
               "https://merchant.example/pb"):
        bp.ok("payment", bp.card(success_url=ok, error_url=ok))
    strict = start(SimulatorConfig(strict=True))
    try:
        httpx.post(f"{strict.url}/_simulator/betterpayment/settings", json={"error_transport": "http"},
                   timeout=10).raise_for_status()
        with httpx.Client(base_url=strict.url, auth=(SIM.api_key, SIM.api_password), timeout=10) as c:
            expect_error(c.post("/rest/payment", json=bp.card()), "BP-ERR-149-URL", "postback_url")
            accepted = c.post("/rest/payment", json=bp.card(postback_url="https://merchant.example/pb"))
            # pending: nothing is delivered to the (unreachable) https postback URL
            assert accepted.status_code == 200 and accepted.json()["status"] == "pending"
    finally:
        strict.stop()


# --- auth, content type, robustness ---------------------------------------------------------------------------

def test_authentication(bp: BP) -> None:
    body = bp.card()
    anon = httpx.post(f"{bp.url}/rest/payment", json=body, timeout=10)
    expect_error(anon, "BP-ERR-201-AUTH")
    assert anon.headers["www-authenticate"].startswith("Basic")
    expect_error(httpx.post(f"{bp.url}/rest/payment", json=body, auth=(SIM.api_key, "wrong"), timeout=10),
                 "BP-ERR-201-AUTH")
    expect_error(httpx.post(f"{bp.url}/rest/payment", json=body, auth=("nobody", SIM.api_password), timeout=10),
                 "BP-ERR-201-AUTH")
    for header in ("Bearer abc", "Basic", "Basic !!!", "Basic ZGVtbw==", "Basic " + "A" * 5000, "Basic /w=="):
        r = httpx.post(f"{bp.url}/rest/payment", json=body, headers={"Authorization": header}, timeout=10)
        expect_error(r, "BP-ERR-201-AUTH")
    assert bp.post("payment", body, headers={"Authorization": CAT.auth.example_header}).status_code == 200
    expect_error(httpx.get(f"{bp.url}/rest/transactions/x", timeout=10), "BP-ERR-201-AUTH")


def test_content_type_and_malformed_json(bp: BP) -> None:
    expect_error(bp.http.post("/rest/payment", content=b"{}", headers={"Content-Type": "text/plain"}),
                 "BP-ERR-202-CONTENT-TYPE")
    expect_error(bp.http.post("/rest/payment", content=b"{}"), "BP-ERR-202-CONTENT-TYPE")
    expect_error(bp.http.post("/rest/payment", data={"a": "b"}), "BP-ERR-202-CONTENT-TYPE")
    for raw in (b"", b"{", b"[]", b"null", b"\xff\xfe", b'"str"', b"[" * 50000):
        expect_error(bp.http.post("/rest/payment", content=raw, headers={"Content-Type": "application/json"}),
                     "BP-ERR-203-MALFORMED-JSON")
    ok = bp.http.post("/rest/payment", content=httpx.Request("POST", "/", json=bp.card()).read(),
                      headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200
    expect_error(bp.http.post("/rest/payment", content=b" " * 70000, headers={"Content-Type": "application/json"}),
                 "BP-ERR-218-TOO-LARGE")


def test_odd_requests_never_get_a_5xx(bp: BP) -> None:
    bodies: list[Any] = [
        {"payment_type": None}, {"payment_type": "cardecom", "amount": "NaN"}, bp.card(amount=float("1e308")),
        bp.card(order_id={"a": [1, 2]}), bp.card(card_number="4" * 5000), {"transaction_id": ["x"]},
    ]
    for path in ("payment", "authorize", "register", "capture", "reverse", "refund"):
        for body in bodies:
            r = bp.post(path, body)
            assert 400 <= r.status_code < 500, (path, body, r.text)
            assert set(r.json()) == {"error_code", "error_message"}
    for method in ("PUT", "DELETE", "PATCH"):
        r = bp.http.request(method, "/rest/payment")
        expect_error(r, "BP-ERR-216-METHOD", method)
        assert r.headers["allow"] == "POST"
    assert bp.http.delete("/rest/transactions/abc/log").headers["allow"] == "GET"
    expect_error(bp.http.post("/rest/transactions/abc"), "BP-ERR-216-METHOD")
    expect_error(bp.http.get("/rest/nothing/here"), "BP-ERR-217-ENDPOINT", "/rest/nothing/here")
    expect_error(bp.http.get("/rest/transactions/" + "9" * 300), "BP-ERR-207-UNKNOWN-TRANSACTION")
    r = bp.http.post("/rest/payment", json=bp.card(), headers={"X-Idempotency-Key": "k" * 300})
    expect_error(r, "BP-ERR-205-INVALID-FIELDS", "X-Idempotency-Key")


# --- authorize, capture, reverse ------------------------------------------------------------------------------

def test_authorize_and_captures(bp: BP) -> None:
    auth = bp.ok("authorize", bp.mpi(amount="10.00"))
    tid = auth["transaction_id"]
    assert auth["status_code"] == status("authorized") and auth["status"] == "authorized"
    first = bp.ok("capture", {"transaction_id": tid, "amount": 4})
    assert list(first) == CAT.responses["capture"].fields
    assert first["status_code"] == status("completed") and first["card_last_four"] == PAN[-4:]
    assert first["card_brand"] == "visa" and first["card_expiry_month"] == "12"
    assert PAN not in str(first)
    bp.ok("capture", {"transaction_id": tid, "amount": "3.00"})
    expect_error(bp.post("capture", {"transaction_id": tid, "amount": 3.01}), "BP-ERR-208-CAPTURE-EXCEEDS",
                 "3.01", "3.00")
    bp.ok("capture", {"transaction_id": tid})
    assert bp.tx(tid)["captured_amount"] == 10.0
    expect_error(bp.post("capture", {"transaction_id": tid, "amount": 1}), "BP-ERR-210-STATUS", "capture")
    log = bp.http.get(f"/rest/transactions/{tid}/log").json()
    assert [(e["type"], e["status"], e["amount"]) for e in log] == [
        ("authorize", 8, 10.0), ("capture", 3, 4.0), ("capture", 3, 3.0), ("capture", 3, 3.0)]
    assert all(list(e) == CAT.responses["log_entry"].fields for e in log)
    posts = bp.deliveries(tid, 4)
    assert [d.fields["status"] for d in posts] == ["authorized", "completed", "completed", "completed"]


def test_authorize_with_3ds_and_register(bp: BP) -> None:
    auth = bp.ok("authorize", bp.card())
    assert auth["client_action"] == "postForm" and bp.step(auth, "approve") == "success"
    assert bp.tx(auth["transaction_id"])["status_code"] == status("authorized")
    reg = bp.ok("register", bp.card(amount=0))
    assert bp.step(reg, "approve") == "success"
    assert bp.tx(reg["transaction_id"])["status_code"] == status("registered")
    direct = bp.ok("register", bp.mpi())
    assert direct["status_code"] == status("registered")


def test_capture_not_allowed(bp: BP) -> None:
    pending = bp.ok("authorize", bp.card())["transaction_id"]
    paid = bp.ok("payment", bp.mpi())["transaction_id"]
    declined = bp.ok("authorize", bp.mpi(card_holder=CAT.outcomes.card_holders[0].card_holder))["transaction_id"]
    for tid, name in ((pending, "pending"), (paid, "completed"), (declined, "declined")):
        expect_error(bp.post("capture", {"transaction_id": tid}), "BP-ERR-210-STATUS", "capture", name)
    expect_error(bp.post("capture", {"transaction_id": str(uuid.uuid4())}), "BP-ERR-207-UNKNOWN-TRANSACTION")
    expect_error(bp.post("capture", {}), "BP-ERR-204-MISSING-FIELDS", "transaction_id")
    expect_error(bp.post("capture", {"transaction_id": paid, "amount": "x", "VAT": "y"}),
                 "BP-ERR-205-INVALID-FIELDS", "VAT, amount")


def test_reversals(bp: BP) -> None:
    full = bp.ok("authorize", bp.mpi(amount="10.00"))["transaction_id"]
    rev = bp.ok("reverse", {"transaction_id": full})
    assert list(rev) == CAT.responses["reverse"].fields
    assert (rev["status_code"], rev["status"], rev["message"]) == (12, "reversed", CAT.test_mode_message.text)
    assert bp.tx(full)["status_code"] == status("reversed")
    expect_error(bp.post("reverse", {"transaction_id": full}), "BP-ERR-210-STATUS", "reverse", "reversed")
    expect_error(bp.post("capture", {"transaction_id": full}), "BP-ERR-210-STATUS", "capture", "reversed")

    part = bp.ok("authorize", bp.mpi(amount="10.00"))["transaction_id"]
    assert bp.ok("reverse", {"transaction_id": part, "amount": 4})["status_code"] == 12
    assert bp.tx(part)["status_code"] == status("authorized")
    expect_error(bp.post("reverse", {"transaction_id": part, "amount": 7}), "BP-ERR-208-CAPTURE-EXCEEDS")
    expect_error(bp.post("capture", {"transaction_id": part, "amount": 7}), "BP-ERR-208-CAPTURE-EXCEEDS")
    bp.ok("capture", {"transaction_id": part, "amount": 2})
    expect_error(bp.post("reverse", {"transaction_id": part}), "BP-ERR-211-REVERSE-CAPTURED", part)
    paid = bp.ok("payment", bp.mpi())["transaction_id"]
    expect_error(bp.post("reverse", {"transaction_id": paid}), "BP-ERR-211-REVERSE-CAPTURED")
    pending = bp.ok("authorize", bp.card())["transaction_id"]
    expect_error(bp.post("reverse", {"transaction_id": pending}), "BP-ERR-210-STATUS", "pending")


# --- refunds --------------------------------------------------------------------------------------------------

def test_refunds(bp: BP) -> None:
    tid = bp.ok("payment", bp.mpi())["transaction_id"]  # 15.90
    first = bp.ok("refund", {"transaction_id": tid, "amount": 5})
    assert list(first) == CAT.responses["refund"].fields
    assert (first["status"], first["status_code"]) == ("successful", 1)
    bp.ok("refund", {"transaction_id": tid, "amount": "5.00", "refund_id": "my-refund-1", "comment": "c"})
    expect_error(bp.post("refund", {"transaction_id": tid, "amount": "5.91"}), "BP-ERR-209-REFUND-EXCEEDS",
                 "5.91", "5.90")
    expect_error(bp.post("refund", {"transaction_id": tid, "amount": 1, "refund_id": "my-refund-1"}),
                 "BP-ERR-205-INVALID-FIELDS", "refund_id")
    last = bp.ok("refund", {"transaction_id": tid})
    tx = bp.tx(tid)
    assert (tx["status"], tx["refunded_amount"], tx["captured_amount"]) == ("refunded", 15.9, 15.9)
    expect_error(bp.post("refund", {"transaction_id": tid, "amount": 1}), "BP-ERR-210-STATUS", "refund", "refunded")
    refunds = bp.http.get(f"/rest/transactions/{tid}/refunds").json()
    assert [r["amount"] for r in refunds] == [5.0, 5.0, 5.9]
    assert [r["refund_id"] for r in refunds] == [first["refund_id"], "my-refund-1", last["refund_id"]]
    assert all(list(r) == CAT.responses["refund_object"].fields for r in refunds)
    posts = bp.deliveries(tid, 4)
    refund_posts = [d for d in posts if "refund_id" in d.fields]
    assert len(refund_posts) == 3 and all(d.verified for d in refund_posts)
    assert all(list(d.fields) == CAT.postbacks.kinds["refund"].names for d in refund_posts)
    assert [d.fields["refund_amount"] for d in refund_posts] == ["5.00", "5.00", "5.90"]
    assert refund_posts[1].fields["refund_id"] == "my-refund-1"


def test_refund_not_allowed(bp: BP) -> None:
    auth = bp.ok("authorize", bp.mpi())["transaction_id"]
    pending = bp.ok("payment", bp.card())["transaction_id"]
    for tid in (auth, pending):
        expect_error(bp.post("refund", {"transaction_id": tid}), "BP-ERR-210-STATUS", "refund")
    expect_error(bp.post("refund", {"transaction_id": "nope"}), "BP-ERR-207-UNKNOWN-TRANSACTION", "nope")
    expect_error(bp.post("refund", {"transaction_id": auth, "execution_date": "tomorrow"}),
                 "BP-ERR-205-INVALID-FIELDS", "execution_date")


# --- register and recurring ------------------------------------------------------------------------------------

def test_recurring_payments(bp: BP) -> None:
    reg = bp.ok("register", bp.mpi())["transaction_id"]
    charge = {"payment_type": "cardecom", "order_id": "r-1", "amount": "9.99", "currency": "EUR",
              "postback_url": bp.rx.url, "original_transaction_id": reg, "recurring": 1}
    body = bp.ok("payment", charge)
    assert body["status_code"] == status("completed") and "client_action" not in body
    assert bp.ok("authorize", {**charge, "recurring": "1"})["status_code"] == status("authorized")
    expect_error(bp.post("payment", {**charge, "card_number": PAN}), "BP-ERR-212-FIELDS-NOT-ALLOWED", "card_number")
    expect_error(bp.post("payment", {**charge, "original_transaction_id": "missing"}),
                 "BP-ERR-207-UNKNOWN-TRANSACTION", "missing")
    expect_error(bp.post("payment", charge, client=bp.other), "BP-ERR-207-UNKNOWN-TRANSACTION")
    declined = bp.ok("payment", bp.mpi(card_holder=CAT.outcomes.card_holders[0].card_holder))["transaction_id"]
    expect_error(bp.post("payment", {**charge, "original_transaction_id": declined}),
                 "BP-ERR-214-ORIGINAL-UNUSABLE", "declined")
    expect_error(bp.post("payment", {**charge, "payment_type": "cardpos"}), "BP-ERR-205-INVALID-FIELDS", "payment_type")
    expect_error(bp.post("register", {**charge}), "BP-ERR-212-FIELDS-NOT-ALLOWED", "original_transaction_id")
    wero = bp.redirect("wero", original_transaction_id=reg)
    expect_error(bp.post("payment", wero), "BP-ERR-212-FIELDS-NOT-ALLOWED", "original_transaction_id")


# --- look-ups ---------------------------------------------------------------------------------------------------

def test_transactions_are_scoped_per_api_key(bp: BP) -> None:
    tid = bp.ok("payment", bp.mpi())["transaction_id"]
    for suffix in ("", "/log", "/refunds"):
        expect_error(bp.other.get(f"/rest/transactions/{tid}{suffix}"), "BP-ERR-207-UNKNOWN-TRANSACTION", tid)
        assert bp.http.get(f"/rest/transactions/{tid}{suffix}").status_code == 200
    expect_error(bp.post("refund", {"transaction_id": tid}, client=bp.other), "BP-ERR-207-UNKNOWN-TRANSACTION")


def test_storage_keeps_no_pan_cvv_or_secret(bp: BP, sim: RunningSimulator) -> None:
    bp.ok("payment", bp.mpi(card_cvv="987"))
    three = bp.ok("authorize", bp.card(card_cvv="987"))
    bp.step(three, "approve")
    bp.rx.wait_for(2)
    app: Any = sim.server.config.app
    store = app.state.simulator.store
    with store.read() as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cols = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        dump = "\n".join(repr(tuple(row)) for t in tables for row in conn.execute(f"SELECT * FROM {t}"))
    assert PAN not in dump
    assert not any("cvv" in c for cs in cols.values() for c in cs)
    assert "'987'" not in dump
    for secret in (SIM.api_password, SIM.incoming_key, SIM.webhook_key):
        assert secret not in dump
    internal = bp.control.get(f"/betterpayment/transactions/{three['transaction_id']}").json()
    assert internal["card"]["bin"] == PAN[:6] and internal["card"]["last4"] == PAN[-4:]


# --- idempotency ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", CAT.idempotency.headers)
def test_idempotent_replay(bp: BP, header: str) -> None:
    key = str(uuid.uuid4())
    first = bp.post("payment", bp.mpi(), headers={header: key})
    second = bp.post("payment", bp.mpi(), headers={header: key})
    assert first.json() == second.json()
    assert second.headers[CAT.idempotency.replay_header] == "true"
    bp.deliveries(first.json()["transaction_id"], 1)
    time.sleep(TICK)
    assert len(bp.rx.deliveries()) == 1
    different = bp.post("payment", bp.mpi(amount="1.00"), headers={header: key})
    assert different.json() == first.json()  # the seed promises the cached answer (IETF's 422 is advisory)


def test_idempotency_validation_not_stored_scope_and_retention(bp: BP) -> None:
    key = str(uuid.uuid4())
    bad = bp.post("payment", bp.mpi(amount="x"), headers={"Idempotency-Key": key})
    assert bad.status_code == 400
    good = bp.post("payment", bp.mpi(), headers={"Idempotency-Key": key})
    assert good.status_code == 200
    other = bp.post("payment", bp.mpi(), client=bp.other, headers={"Idempotency-Key": key})
    assert other.json()["transaction_id"] != good.json()["transaction_id"]
    bp.advance(CAT.idempotency.retention_seconds - 2)
    assert bp.post("payment", bp.mpi(), headers={"Idempotency-Key": key}).json() == good.json()
    bp.advance(3)
    fresh = bp.post("payment", bp.mpi(), headers={"Idempotency-Key": key})
    assert fresh.json()["transaction_id"] != good.json()["transaction_id"]
    both = bp.post("payment", bp.mpi(), headers={"Idempotency-Key": key, "X-Idempotency-Key": str(uuid.uuid4())})
    assert both.json()["transaction_id"] != fresh.json()["transaction_id"]  # X- wins when both are sent


def test_idempotent_operations_and_concurrency(bp: BP) -> None:
    tid = bp.ok("authorize", bp.mpi(amount="10.00"))["transaction_id"]
    key = str(uuid.uuid4())
    for _ in range(2):
        assert bp.post("capture", {"transaction_id": tid, "amount": 3}, headers={"X-Idempotency-Key": key}
                       ).status_code == 200
    assert bp.tx(tid)["captured_amount"] == 3.0
    missing_key = str(uuid.uuid4())
    a = bp.post("refund", {"transaction_id": "nope"}, headers={"X-Idempotency-Key": missing_key})
    b = bp.post("refund", {"transaction_id": "nope"}, headers={"X-Idempotency-Key": missing_key})
    assert a.status_code == 404 and b.headers.get(CAT.idempotency.replay_header) == "true"

    ckey, results = str(uuid.uuid4()), []

    def call() -> None:
        with httpx.Client(base_url=bp.url, auth=(SIM.api_key, SIM.api_password), timeout=10, verify=False) as c:
            results.append(c.post("/rest/payment", json=bp.mpi(order_id="conc"), headers={"Idempotency-Key": ckey}))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.json()["transaction_id"] for r in results}) == 1
    time.sleep(TICK)
    assert len([d for d in bp.rx.deliveries() if d.fields.get("order_id") == "conc"]) == 1


# --- postbacks --------------------------------------------------------------------------------------------------

def test_api_does_not_wait_for_a_hanging_postback_receiver(bp: BP) -> None:
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts connections, never answers
    try:
        started = time.monotonic()
        bp.ok("payment", bp.mpi(postback_url=f"http://127.0.0.1:{hang.getsockname()[1]}/pb"))
        assert time.monotonic() - started < 1.5
    finally:
        hang.close()


def test_postback_retries_until_200_spaced_600s(bp: BP) -> None:
    interval = CAT.postbacks.retry.interval_seconds
    bp.rx.fail_next(2)
    tid = bp.ok("payment", bp.mpi())["transaction_id"]
    bp.deliveries(tid, 1)
    bp.advance(interval - 1)
    time.sleep(TICK)
    assert len(bp.rx.deliveries()) == 1
    bp.advance(1)
    bp.deliveries(tid, 2)
    bp.advance(interval)
    got = bp.deliveries(tid, 3)
    assert [d.answered for d in got] == [500, 500, 200]
    bp.advance(interval * 3)
    time.sleep(TICK)
    assert len(bp.rx.deliveries()) == 3
    log = bp.postback_log(tid)
    times = [a["at"] for a in log["deliveries"]]
    assert [a["status"] for a in log["deliveries"]] == [500, 500, 200]
    assert all(b - a >= interval for a, b in itertools.pairwise(times))
    assert log["postbacks"][0]["delivered"] is True and log["postbacks"][0]["attempts"] == 3
    assert {a["url"] for a in log["deliveries"]} == {bp.rx.url}


def test_a_clock_move_answers_once_the_retries_it_made_due_were_attempted(bp: BP) -> None:
    """The retry-schedule tests check each attempt right after moving the clock, without sleeping through the
    delivery loop's ticks (a third of the project's boundary sweep was such sleeps): so the move must answer
    only once what it made due was attempted, in order, and logged."""
    interval = CAT.postbacks.retry.interval_seconds
    bp.rx.fail_next(100)  # every attempt fails: each transaction keeps retrying
    tids = [bp.ok("payment", bp.mpi())["transaction_id"] for _ in range(2)]
    for tid in tids:
        bp.deliveries(tid, 1)
    for number in (2, 3):
        bp.advance(interval)
        for tid in tids:  # no wait: already here, and already in the delivery log
            assert len(bp.rx.for_transaction(tid)) == number
            assert [a["attempt"] for a in bp.postback_log(tid)["deliveries"]] == list(range(1, number + 1))
    bp.advance(interval - 1)
    assert all(len(bp.rx.for_transaction(tid)) == 3 for tid in tids), "nothing was due: nothing came"


def test_postback_stops_after_the_maximum_attempts(bp: BP) -> None:
    retry = CAT.postbacks.retry
    bp.rx.fail_next(1000)
    tid = bp.ok("payment", bp.mpi())["transaction_id"]
    for n in range(1, retry.max_attempts):
        bp.deliveries(tid, n)
        bp.advance(retry.interval_seconds)
    bp.deliveries(tid, retry.max_attempts)
    for _ in range(2):
        bp.advance(retry.interval_seconds)
        time.sleep(TICK)
    assert len(bp.rx.deliveries()) == retry.max_attempts
    [post] = bp.postback_log(tid)["postbacks"]
    assert post["exhausted"] is True and post["delivered"] is False and post["next_attempt_at"] is None


def test_postback_to_an_unreachable_url_is_logged_as_an_error(bp: BP) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    tid = bp.ok("payment", bp.mpi(postback_url=f"http://127.0.0.1:{port}/pb"))["transaction_id"]
    entry = wait_until(lambda: bp.postback_log(tid)["deliveries"])[0]
    assert entry["status"] is None and entry["error"] and entry["attempt"] == 1


def test_forced_status_sends_a_postback(bp: BP) -> None:
    tid = bp.ok("payment", bp.mpi())["transaction_id"]
    r = bp.control.post(f"/betterpayment/transactions/{tid}/status", json={"status_code": 13})
    assert r.status_code == 200 and r.json()["status"] == "chargeback"
    posts = bp.deliveries(tid, 2)
    assert posts[-1].fields["status"] == "chargeback" and posts[-1].verified
    assert bp.control.post(f"/betterpayment/transactions/{tid}/status", json={"status_code": 99}).status_code == 400
    assert bp.control.post("/betterpayment/transactions/nope/status", json={"status_code": 13}).status_code == 404
    assert bp.control.get("/betterpayment/transactions/nope").status_code == 404


def test_threeds_helper_parses_forms() -> None:
    html = """<html><form action="/a" method="post"><input type="hidden" name="h" value="1">
      <input type="text" name="t" value="x"><input type="checkbox" name="c" value="y" checked>
      <input type="checkbox" name="d" value="z"><button type="submit" name="decision" value="ok">Yes &amp; go</button>
      <input type="submit" name="decision" value="no"><button type="button">noop</button></form>
      <form action="/b"><input name="q"></form></html>"""
    a, b = parse_forms(html)
    assert (a.action, a.method, b.method) == ("/a", "POST", "GET")
    assert a.inputs == [("h", "1"), ("t", "x"), ("c", "y")]
    assert a.buttons == [("decision", "ok", "Yes & go"), ("decision", "no", "no")]
    assert a.button_for("YES & GO") == ("decision", "ok", "Yes & go") and a.button_for("maybe") is None


# --- deliberate defects -----------------------------------------------------------------------------------------

def _first_delivery(h: BP) -> Delivery:
    h.post("payment", h.mpi())
    return h.rx.wait_for(1)[0]


def _attempts_after(h: BP, advances: list[float]) -> int:
    """Deliveries of an always-failing postback after moving the clock by each of `advances` in turn."""
    h.rx.fail_next(1000)
    h.post("payment", h.mpi())
    h.rx.wait_for(1)
    for seconds in advances:
        before = len(h.rx.deliveries())
        h.advance(seconds)  # answers once what the move made due was attempted
        try:
            h.rx.wait_for(before + 1, timeout=TICK)
        except TimeoutError:
            break
    return len(h.rx.deliveries())


def _same_tx(h: BP, header: str, second_client: httpx.Client | None = None, wait: float = 0) -> bool:
    key = str(uuid.uuid4())
    a = h.post("payment", h.mpi(), headers={header: key}).json()
    if wait:
        h.advance(wait)
    b = h.post("payment", h.mpi(), client=second_client, headers={header: key}).json()
    return bool(a.get("transaction_id") == b.get("transaction_id"))


def _capture_over(h: BP) -> int:
    tid = h.ok("authorize", h.mpi(amount="10.00"))["transaction_id"]
    return h.post("capture", {"transaction_id": tid, "amount": 11}).status_code


def _refund_over(h: BP) -> int:
    tid = h.post("payment", h.mpi(amount="10.00")).json()
    tid = tid.get("transaction_id") or tid.get("id")
    return h.post("refund", {"transaction_id": tid, "amount": 11}).status_code


def _reverse_after_capture(h: BP) -> int:
    tid = h.ok("authorize", h.mpi(amount="10.00"))["transaction_id"]
    h.ok("capture", {"transaction_id": tid, "amount": 5})
    return h.post("reverse", {"transaction_id": tid}).status_code


def _reposted(h: BP) -> int:
    """Deliveries for a challenged payment whose customer answers the finished step a second time."""
    pending = h.ok("payment", h.card())
    h.step(pending, "approve")
    h.rx.wait_for(1, 4.0)
    with contextlib.suppress(ThreeDSError):  # an error page is a fine answer to a finished step
        h.step(pending, "fail")
    h.advance(0)  # answers once every due postback has been attempted
    return len(h.rx.for_transaction(pending["transaction_id"]))


def _pan_in_postback(h: BP) -> tuple[bool, bool]:
    d = _first_delivery(h)
    log = h.postback_log()
    return PAN in d.raw_body.decode(), PAN in str(log)


def _rebuilt_ok(h: BP, text: str) -> tuple[bool, bool]:
    """(raw-body checksum ok, PHP-rebuilt checksum ok) of a completed postback carrying `text`."""
    h.ok("payment", h.mpi(additional_transaction_data=text))
    d = h.rx.wait_for(1, 4.0)[0]
    return d.checksum_ok, d.checksum_rebuilt_ok


def _legacy(h: BP, *, checksum_ok: bool) -> int:
    body = {k: str(v) for k, v in h.redirect("ideal").items()}
    query = php_http_build_query({"api_key": SIM.api_key, **body})
    digest = hashlib.sha1((query + (SIM.api_password if checksum_ok else "wrong")).encode()).hexdigest()
    return h.http.post("/rest/payment", content=f"{query}&checksum={digest}", auth=None,
                       headers={"Content-Type": CAT.legacy_auth.content_type}).status_code


DEFECT_PROBES: dict[str, Callable[[BP], Any]] = {
    "bp.auth_any_password": lambda h: h.http.post("/rest/payment", json=h.mpi(),
                                                  auth=(SIM.api_key, "wrong")).status_code,
    "bp.error_message_key": lambda h: sorted(h.post("payment", {}).json()),
    "bp.error_fields_unnamed": lambda h: "card_cvv" in str(h.post("payment", h.card(card_cvv=None)).json()),
    "bp.error_transport_mixed": lambda h: h.post("payment", {}).status_code,
    "bp.wallet_type_refused": lambda h: h.post("payment", _valid_body(h, "applepay")).status_code,
    "bp.sync_needs_redirect": lambda h: h.post("payment", _valid_body(h, "kar")).json()["status_code"],
    "bp.sync_capture_refused": lambda h: h.post("capture", {"transaction_id": h.ok(
        "payment", _valid_body(h, "dd"))["transaction_id"]}).status_code,
    "bp.applepay_validation_missing": lambda h: h.http.post(
        CAT.apple_pay.path, json={CAT.apple_pay.request_field: "shop.example"}).status_code,
    "bp.leniency_empty_refused": lambda h: h.post("payment", h.mpi(vat="", company_vat_id="")).status_code,
    "bp.leniency_number_refused": lambda h: h.post("payment", h.mpi(customer_id=42)).status_code,
    "bp.leniency_locale_strict": lambda h: h.post("payment", h.mpi(locale="de_DE")).status_code,
    "bp.postback_tilde_unescaped": lambda h: _rebuilt_ok(h, "a~b"),
    "bp.postback_space_percent20": lambda h: _rebuilt_ok(h, "a b"),
    "bp.legacy_auth_refused": lambda h: _legacy(h, checksum_ok=True),
    "bp.legacy_checksum_ignored": lambda h: _legacy(h, checksum_ok=False),
    "bp.status_code_wrong": lambda h: h.post("payment", h.mpi()).json()["status_code"],
    "bp.status_name_wrong": lambda h: h.post("payment", h.mpi()).json()["status"],
    "bp.capture_above_authorized": _capture_over,
    "bp.refund_above_captured": _refund_over,
    "bp.reverse_after_capture": _reverse_after_capture,
    "bp.idem_ignores_x_header": lambda h: _same_tx(h, "X-Idempotency-Key"),
    "bp.idem_shared_scope": lambda h: _same_tx(h, "Idempotency-Key", second_client=h.other),
    "bp.idem_never_expires": lambda h: _same_tx(h, "Idempotency-Key", wait=CAT.idempotency.retention_seconds + 1),
    "bp.postback_missing_field": lambda h: "order_id" in _first_delivery(h).fields,
    "bp.checksum_wrong_key": lambda h: _first_delivery(h).checksum_ok,
    "bp.checksum_not_last": lambda h: (_first_delivery(h).checksum_last, h.rx.deliveries()[0].checksum_ok),
    "bp.signature_conventional_order": lambda h: (
        lambda d: (d.signature_ok,
                   d.headers.get(SIGNATURE_HEADER) == signature_conventional(d.raw_body, SIM.webhook_key)))(
        _first_delivery(h)),
    "bp.signature_missing": lambda h: (
        lambda d: (d.signature_present,
                   verify_signature(d.raw_body, d.headers.get(SIGNATURE_HEADER), SIM.webhook_key)))(
        _first_delivery(h)),
    "bp.retry_none": lambda h: _attempts_after(h, [CAT.postbacks.retry.interval_seconds]),
    "bp.retry_wrong_spacing": lambda h: _attempts_after(h, [CAT.postbacks.retry.interval_seconds / 2]),
    "bp.retry_eleven_attempts": lambda h: _attempts_after(h, [CAT.postbacks.retry.interval_seconds] * 11),
    "bp.threeds_pending_without_client_action": lambda h: "client_action" in h.post("payment", h.card()).json(),
    "bp.threeds_direct_ignored": lambda h: h.post("payment", h.mpi()).json()["status_code"],
    "bp.step_reposted": _reposted,
    "bp.url_http_accepted": lambda h: h.post("payment", h.card(success_url="http://merchant.example/ok")).status_code,
    "bp.schema_transaction_id_renamed": lambda h: "transaction_id" in h.post("payment", h.mpi()).json(),
    "bp.schema_amount_string": lambda h: type(h.post("payment", h.mpi()).json()["amount"]).__name__,
    "bp.pan_leak_response": lambda h: PAN in h.post("payment", h.mpi()).text,
    "bp.pan_leak_postback": _pan_in_postback,
}


def test_every_registered_defect_has_a_probe() -> None:
    # the off-by-one defects of the catalog's boundaries are proven by tests/test_boundaries.py
    registered = {d.name for d in defect_registry.all_defects() if d.api == "betterpayment" and d.area != "boundaries"}
    assert registered == set(DEFECT_PROBES)
    assert len(registered) >= 20
    assert all(n.startswith("bp.") for n in registered)


def test_defects_cannot_be_enabled_in_a_normal_simulator(bp: BP) -> None:
    r = bp.control.post("/defects", json={"enable": ["bp.retry_none"]})
    assert r.status_code == 404


@pytest.mark.parametrize("name", sorted(DEFECT_PROBES))
def test_each_defect_changes_observable_behaviour(dbp: BP, dsim: RunningSimulator, name: str) -> None:
    observations = []
    for enabled in ((), (name,)):
        dbp.control.post("/reset").raise_for_status()
        dbp.defects(*enabled)
        dbp.rx.clear()
        dbp.rx.fail_next(0)
        observations.append(DEFECT_PROBES[name](dbp))
        time.sleep(0.05)
    dbp.defects()
    clean, broken = observations
    assert clean != broken, f"{name}: no observable change ({clean!r})"
    if name == "bp.pan_leak_postback":
        assert broken == (True, False)  # the receiver sees the PAN; the simulator's log stays masked
