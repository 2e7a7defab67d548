"""The simulator survives bad input, stalls and hostile postback URLs, and keeps nothing secret at rest (issue 11).

Each measured bad input of the issue is replayed here and must get a documented 4xx on a connection that stays
usable: NaN and unbounded clock advances, a poisoned clock offset across a restart, deep nesting and oversized
bodies on every route, lone surrogates and control characters, non-ASCII digits, a body that stalls while its
idempotency key is retried, a postback aimed at the control interface, a shared simulator's control token,
and card numbers typed into free text.
"""

from __future__ import annotations

import json
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from harness import simulator_control
from harness.catalog import bettercharge, betterpayment
from harness.simulator.app import create_app
from harness.simulator.clock import MAX_OFFSET_SECONDS
from harness.simulator.server import RunningSimulator, start
from harness.simulator.state import SimulatorConfig
from harness.simulator.store import Store
from harness.simulator_control import TOKEN_HEADER, SimulatorControl

BC = bettercharge()
BP = betterpayment()
BC_HEADERS = {BC.auth.api_key_header: BC.simulator.api_key, BC.auth.partner_header: BC.simulator.partner_id}
BP_AUTH = (BP.simulator.api_key, BP.simulator.api_password)
OWN_MPI = {"threeds_authentication_value": "AAABBEg0VhI0VniQEjRWAAAAAAA=",
           "threeds_directory_server_trans_id": "f25084f0-5b16-4c0a-ae5d-b24808a95e4b"}
DEAD_RECEIVER = "http://127.0.0.1:9/postback"  # loopback, nothing listens: deliveries fail quietly


def luhn_pan(prefix: str = "52000000", length: int = 16) -> str:
    """A Luhn-valid number that is no catalog test card (free text a merchant might paste)."""
    body = (prefix + "7" * length)[: length - 1]
    for check in "0123456789":
        digits = [int(c) for c in body + check]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return body + check
    raise AssertionError("unreachable")


def bc_body(**over: Any) -> dict[str, Any]:
    card = BC.approving_card
    return {"merchantId": BC.simulator.merchant_id, "orderReference": f"o-{uuid.uuid4().hex[:12]}",
            "amount": BC.amounts.authorized, "currency": BC.simulator.supported_currencies[0],
            "customer": {"email": "buyer@example.com"},
            "card": {"number": card.pan, "expMonth": 12, "expYear": datetime.now(UTC).year + 3, "cvv": "123",
                     "holder": "Test Holder"}, **over}


def bp_body(**over: Any) -> dict[str, Any]:
    body = {**BP.seed_examples.payment_request, **OWN_MPI, "postback_url": DEAD_RECEIVER,
            "order_id": f"o-{uuid.uuid4().hex[:12]}", "card_expiry_year": str(datetime.now(UTC).year + 3), **over}
    return {k: v for k, v in body.items() if v is not None}


def raw_json(body: dict[str, Any], key: str, raw_value: str) -> bytes:
    """`body` as JSON text with `key`'s value replaced by `raw_value` verbatim (NaN, a \\ud800 escape, ...)."""
    marker = f"__raw_{uuid.uuid4().hex}__"
    return json.dumps({**body, key: marker}).replace(f'"{marker}"', raw_value).encode()


def local_port(response: httpx.Response) -> int:
    """The client-side port of the connection that carried `response` (same port = connection reused)."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start(SimulatorConfig(body_timeout=1.0, claim_timeout=1.0))
    yield running
    running.stop()


@pytest.fixture
def http(sim: RunningSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        client.post("/_simulator/reset").raise_for_status()
        yield client


def _documented(r: httpx.Response) -> None:
    """A 4xx with the error body its route documents: control {"error"}, BetterCharge {code, error, message},
    Better Payment {error_code, error_message}."""
    body = r.json()
    path = r.request.url.path
    if path.startswith("/rest"):  # Better Payment's errors travel in band by default (catalog error_transport)
        assert r.status_code in (200, 400, 401, 404, 405, 413, 415, 422), (r.status_code, r.text[:300])
        assert isinstance(body.get("error_code"), int) and body["error_code"] != 0 and body.get("error_message"), body
        return
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if path.startswith("/_simulator"):
        assert isinstance(body.get("error"), str) and body["error"], body
    elif path.startswith("/rest"):
        assert isinstance(body.get("error_code"), int) and body.get("error_message"), body
    else:
        assert {"code", "error", "message"} <= set(body), body


# ---------------------------------------------------------------- clock


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999", "-1", '"60"', "true", "1e10", "null"])
def test_clock_refuses_what_is_not_a_finite_bounded_advance(http: httpx.Client, raw: str) -> None:
    r = http.post("/_simulator/clock", content=raw_json({}, "advance_seconds", raw))
    assert r.status_code == 400, r.text
    _documented(r)
    assert http.get("/_simulator/clock").json()["offset"] == 0


def test_repeated_advances_stop_at_the_bound_and_both_apis_keep_answering(http: httpx.Client) -> None:
    accepted = refused = 0
    for _ in range(int(MAX_OFFSET_SECONDS // 1e9) + 3):
        r = http.post("/_simulator/clock", json={"advance_seconds": 1e9})
        if r.status_code == 200:
            accepted += 1
        else:
            assert r.status_code == 400 and "100 years" in r.json()["error"], r.text
            refused += 1
    assert accepted == int(MAX_OFFSET_SECONDS // 1e9) and refused == 3
    assert http.get("/_simulator/clock").json()["offset"] <= MAX_OFFSET_SECONDS
    assert http.post("/payments/authorize", json=bc_body(), headers=BC_HEADERS).status_code < 500
    assert http.post("/rest/payment", json=bp_body(), auth=BP_AUTH).status_code == 200


@pytest.mark.parametrize("poison", ["nan", "inf", "-5", "1e300", "garbage"])
def test_a_poisoned_offset_does_not_survive_a_restart(tmp_path: Path, poison: str) -> None:
    store = Store(tmp_path)
    store.set_meta("clock_offset", poison)
    store.close()
    running = start(SimulatorConfig(data_dir=tmp_path))
    try:
        with httpx.Client(base_url=running.url, timeout=10) as client:
            assert client.get("/_simulator/clock").json()["offset"] == 0
            assert client.post("/payments/authorize", json=bc_body(), headers=BC_HEADERS).status_code == 201
            assert client.post("/rest/payment", json=bp_body(), auth=BP_AUTH).status_code == 200
    finally:
        running.stop()


# ---------------------------------------------------------------- nesting, size, strings

# Every route that takes a body: (method, path, headers, auth)
BODY_ROUTES: list[tuple[str, str, dict[str, str], Any]] = [
    ("POST", "/_simulator/clock", {}, None),
    ("POST", "/_simulator/defects", {}, None),
    ("POST", "/_simulator/bettercharge/faults", {}, None),
    ("POST", "/_simulator/bettercharge/toggles", {}, None),
    ("POST", "/_simulator/bettercharge/latency", {}, None),
    ("POST", "/_simulator/bettercharge/payments/bc_x/state", {}, None),
    ("PATCH", f"/_simulator/bettercharge/merchants/{BC.simulator.merchant_id}", {}, None),
    ("POST", "/_simulator/betterpayment/transactions/x/status", {}, None),
    ("POST", "/payments/authorize", BC_HEADERS, None),
    ("POST", "/payments/charge", BC_HEADERS, None),
    ("POST", "/payments/bc_x/capture", BC_HEADERS, None),
    ("POST", "/payments/bc_x/refund", BC_HEADERS, None),
    ("POST", "/merchants", BC_HEADERS, None),
    ("PATCH", f"/merchants/{BC.simulator.merchant_id}", BC_HEADERS, None),
    *(("POST", op.path, {}, BP_AUTH) for op in BP.operations if op.method == "POST"),
]


@pytest.mark.parametrize(("method", "path", "headers", "auth"), BODY_ROUTES,
                         ids=[f"{m} {p}" for m, p, *_ in BODY_ROUTES])
def test_deep_nesting_oversize_and_non_json_get_a_documented_4xx_on_every_route(
        http: httpx.Client, method: str, path: str, headers: dict[str, str], auth: Any) -> None:
    ports = set()
    for content in (b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 40 + b"1" + b"}" * 40,
                    b'{"x": "' + b"a" * 70_000 + b'"}', b'{"amount": NaN}', b"\xff\xfe{}", b"[1, 2]"):
        r = http.request(method, path, content=content, auth=auth,
                         headers={**headers, "content-type": "application/json"})
        _documented(r)
        ports.add(local_port(r))
    assert len(ports) == 1, "a refusal must not cost the client its connection"


BP_STRING_FIELDS = sorted(k for k, v in bp_body().items() if isinstance(v, str))


@pytest.mark.parametrize("raw", ['"\\ud800"', '"x\\udfffy"', '"a\\u0000b"', '"line\\u001bx"', '"\\u0085"'])
def test_lone_surrogates_and_control_characters_are_named_invalid_fields(http: httpx.Client, raw: str) -> None:
    ports = set()
    for field in BP_STRING_FIELDS:
        r = http.post("/rest/payment", content=raw_json(bp_body(), field, raw), auth=BP_AUTH,
                      headers={"content-type": "application/json"})
        assert r.status_code in (200, 400), (field, r.text)  # in band by default
        assert r.json()["error_code"] == BP.error("BP-ERR-205-INVALID-FIELDS").code, (field, r.text)
        assert field in r.json()["error_message"], (field, r.text)
        ports.add(local_port(r))
    for field in ("orderReference", "currency", "merchantId"):
        r = http.post("/payments/authorize", content=raw_json(bc_body(), field, raw),
                      headers={**BC_HEADERS, "content-type": "application/json"})
        assert r.status_code == 400 and field in r.json()["message"], (field, r.text)
        ports.add(local_port(r))
    holder = raw_json(bc_body(), "card", raw_json(bc_body()["card"], "holder", raw).decode())
    r = http.post("/payments/authorize", content=holder, headers={**BC_HEADERS, "content-type": "application/json"})
    assert r.status_code == 400 and "card.holder" in r.json()["message"], r.text
    r = http.post("/_simulator/bettercharge/payments/bc_x/state", content=raw_json({}, "state", raw))
    _documented(r)
    ports.add(local_port(r))
    assert len(ports) == 1
    assert http.get("/_simulator/clock").status_code == 200


@pytest.mark.parametrize(("field", "value"), [
    ("amount", "١٥.٩٠"), ("amount", "15.90\n"), ("currency", "EUR\n"), ("currency", "ＥＵＲ"),
    ("card_expiry_month", "١٢"), ("card_expiry_year", "٢٠٣٠"), ("card_number", "٤" * 16),
])
def test_better_payment_ascii_patterns_mean_ascii(http: httpx.Client, field: str, value: str) -> None:
    r = http.post("/rest/payment", json=bp_body(**{field: value}), auth=BP_AUTH)
    if field == "amount" and value.endswith("\n"):  # surrounding whitespace is the API's leniency; the digits
        return  # are ASCII either way
    assert r.status_code in (200, 400), r.text  # in band by default
    assert r.json()["error_code"] == BP.error("BP-ERR-205-INVALID-FIELDS").code and field in r.json()["error_message"]


@pytest.mark.parametrize(("field", "value"), [("currency", "EUR\n"), ("orderReference", "ref\tx"),
                                              ("orderReference", "ref\nx"), ("amount", "١٥")])
def test_bettercharge_text_is_one_clean_line(http: httpx.Client, field: str, value: str) -> None:
    r = http.post("/payments/authorize", json=bc_body(**{field: value}), headers=BC_HEADERS)
    assert r.status_code == 400 and field in r.json()["message"], r.text


def test_a_simulator_bug_still_answers_and_keeps_the_connection() -> None:
    async def boom(request: Request) -> Any:
        raise ZeroDivisionError("deliberate")

    app = create_app(SimulatorConfig())
    app.router.routes.insert(0, Route("/_boom", boom, methods=["GET", "POST"]))
    running = start(app=app)
    try:
        with httpx.Client(base_url=running.url, timeout=10) as client:
            first = client.post("/_boom", json={"a": 1})
            assert first.status_code == 500
            assert first.json() == {"error": "simulator internal error", "detail": "ZeroDivisionError"}
            after = client.get("/_simulator/clock")
            assert after.status_code == 200 and local_port(after) == local_port(first)
    finally:
        running.stop()


# ---------------------------------------------------------------- stalls and claims


def _stalled(url: str, path: str, headers: dict[str, str], body: bytes) -> socket.socket:
    """Send the request line, the headers and the first 10 bytes of `body`, then nothing."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
            "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:10])
    return sock


def _answer_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize("api", ["bettercharge", "betterpayment"])
def test_a_stalled_body_does_not_hold_its_idempotency_key(sim: RunningSimulator, http: httpx.Client,
                                                          api: str) -> None:
    key = str(uuid.uuid4())
    if api == "bettercharge":
        path, body = "/payments/authorize", bc_body()
        headers = {**BC_HEADERS, BC.idempotency.header: key}
    else:
        path, body = "/rest/payment", bp_body()
        headers = {"Authorization": httpx.BasicAuth(*BP_AUTH)._auth_header, "X-Idempotency-Key": key}
    stalled = _stalled(sim.url, path, headers, json.dumps(body).encode())
    try:
        began = time.monotonic()
        retry = http.post(path, json=body, headers=headers)
        took = time.monotonic() - began
        assert retry.status_code in (200, 201), retry.text
        assert took < 0.8, f"the retry waited {took:.2f} s for the stalled first request"
        replay = http.post(path, json=body, headers=headers)
        assert replay.content == retry.content
        began = time.monotonic()
        # The body did not arrive in time: the API's invalid-body row (Better Payment: in band, HTTP 200).
        assert _answer_status(stalled) == (400 if api == "bettercharge" else 200)
        assert time.monotonic() - began < 3
    finally:
        stalled.close()


def test_a_duplicate_waits_for_the_first_in_bounded_time(http: httpx.Client, sim: RunningSimulator) -> None:
    http.post("/_simulator/bettercharge/latency", json={"psp_seconds": 2.5}).raise_for_status()
    key = str(uuid.uuid4())
    body = bc_body()
    headers = {**BC_HEADERS, BC.idempotency.header: key}
    first: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: first.setdefault(
        "r", httpx.post(f"{sim.url}/payments/authorize", json=body, headers=headers, timeout=10)))
    thread.start()
    time.sleep(0.3)
    began = time.monotonic()
    busy = http.post("/payments/authorize", json=body, headers=headers)
    assert busy.status_code == 409 and busy.json()["code"] == "CONFLICT", busy.text
    assert time.monotonic() - began < 2.0
    thread.join(10)
    assert first["r"].status_code == 201
    replay = http.post("/payments/authorize", json=body, headers=headers)
    assert replay.status_code == 201 and replay.json()["bcId"] == first["r"].json()["bcId"]
    assert replay.headers.get("Idempotent-Replayed") == "true"


# ---------------------------------------------------------------- self-directed postbacks, control token


def test_postbacks_never_reach_a_control_route(http: httpx.Client, sim: RunningSimulator) -> None:
    keep = http.post("/payments/authorize", json=bc_body(), headers=BC_HEADERS).json()["bcId"]
    spellings = ["/_simulator/reset", "/%5Fsimulator/reset", "//_simulator/reset", "/x/../_simulator/reset",
                 "/_SIMULATOR/reset", "/_simulator/clock"]
    tids = []
    for spelling in spellings:
        r = http.post("/rest/payment", json=bp_body(postback_url=f"{sim.url}{spelling}"), auth=BP_AUTH)
        assert r.status_code == 200, r.text
        tids.append(r.json()["transaction_id"])
    deadline = time.monotonic() + 5
    while True:
        deliveries = http.get("/_simulator/betterpayment/postbacks").json()["deliveries"]
        if len({d["transaction_id"] for d in deliveries} & set(tids)) == len(tids) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {d["transaction_id"] for d in deliveries} >= set(tids), "every postback attempt is logged"
    assert all(d["status"] is None and "control route" in d["error"] for d in deliveries
               if d["transaction_id"] in tids), deliveries
    assert http.get(f"/payments/{keep}", headers=BC_HEADERS).status_code == 200, "the simulator reset itself"


def test_a_shared_simulator_answers_its_control_routes_only_with_its_token() -> None:
    running = start(SimulatorConfig(control_token="s3cret-token"))
    try:
        with httpx.Client(base_url=running.url, timeout=10) as client:
            for headers in ({}, {TOKEN_HEADER: "wrong"}, {TOKEN_HEADER: ""}):
                for method, path in (("POST", "/_simulator/reset"), ("GET", "/_simulator/clock"),
                                     ("POST", "/_simulator/bettercharge/latency")):
                    r = client.request(method, path, headers=headers, json={})
                    assert r.status_code == 401 and TOKEN_HEADER.lower() in r.json()["error"], r.text
            assert client.post("/_simulator/reset", headers={TOKEN_HEADER: "s3cret-token"}).status_code == 200
            assert client.post("/payments/authorize", json=bc_body(), headers=BC_HEADERS).status_code == 201
        simulator_control.use_token("s3cret-token")
        control = SimulatorControl(running.url)
        try:
            control.reset()
            control.advance(5)
            assert control.now() > time.time()
        finally:
            control.close()
            simulator_control.use_token(None)
        with pytest.raises(RuntimeError, match="401"):
            SimulatorControl(running.url).reset()
    finally:
        running.stop()


# ---------------------------------------------------------------- at rest


def test_nothing_secret_at_rest(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    plain, grouped = luhn_pan(), luhn_pan("4000", 16)
    grouped_text = " ".join(grouped[i:i + 4] for i in range(0, 16, 4))
    free_text = f"card {plain} / {grouped_text}"
    running = start(SimulatorConfig(data_dir=data_dir))
    try:
        with httpx.Client(base_url=running.url, timeout=10) as client:
            r = client.post("/rest/payment", auth=BP_AUTH, headers={"X-Idempotency-Key": "k-1"},
                            json=bp_body(additional_transaction_data=free_text, merchant_reference=free_text))
            assert r.status_code == 200 and r.json()["additional_transaction_data"] == free_text, r.text
            tid = r.json()["transaction_id"]
            merchant = f"m-{uuid.uuid4().hex[:8]}"
            assert client.post("/merchants", headers=BC_HEADERS,
                               json={"merchantId": merchant, "name": free_text}).status_code == 201
            r = client.post("/payments/authorize", headers={**BC_HEADERS, BC.idempotency.header: str(uuid.uuid4())},
                            json=bc_body(orderReference=f"order {plain}"))
            assert r.status_code == 201, r.text
            shown = (client.get(f"/_simulator/betterpayment/transactions/{tid}").text
                     + client.get("/_simulator/betterpayment/postbacks").text
                     + client.get(f"/_simulator/bettercharge/merchants/{merchant}").text)
            for pan in (plain, grouped, grouped_text):
                assert pan not in shown, "the control interface shows a card number"
            assert plain[:6] in shown and plain[-4:] in shown
    finally:
        running.stop()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = sorted(data_dir.iterdir())
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        data = path.read_bytes()
        for pan in (plain, grouped, grouped_text):
            assert pan.encode() not in data, f"{path.name} holds a card number"


@pytest.mark.parametrize(("argv", "message"), [
    (["--control-token", "  "], "control token"),
    (["--control-token", "tab\there"], "control token"),
    (["--data-dir", "__FILE__"], "not a directory"),
    (["--data-dir", "__CORRUPT__"], "cannot be used"),
])
def test_simulate_refuses_a_bad_token_or_store_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           argv: list[str], message: str) -> None:
    from harness.cli import main

    a_file = tmp_path / "file"
    a_file.write_text("x")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "simulator.sqlite3").write_bytes(b"this is not a database" * 100)
    argv = [{"__FILE__": str(a_file), "__CORRUPT__": str(corrupt)}.get(a, a) for a in argv]
    assert main(["simulate", "--port", "0", *argv]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in errors[0], errors
