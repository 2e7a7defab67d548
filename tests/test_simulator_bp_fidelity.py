"""The Better Payment simulator's fidelity to the vendor's plugins: the in-band error transport by default and
its setting, leniency at the validation edge, Apple Pay merchant validation, legacy checksum authentication
and PHP-exact postback encoding (catalog leniencies, error_transport, apple_pay, legacy_auth)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from harness.catalog import betterpayment
from harness.simulator.betterpayment.context import ERROR_TRANSPORT_ENV, start_error_transport
from harness.simulator.betterpayment.money import parse_cents
from harness.simulator.server import RunningSimulator

CAT = betterpayment()
SIM = CAT.simulator
SEED = CAT.seed_examples.payment_request


@pytest.fixture
def http(sim: RunningSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, auth=(SIM.api_key, SIM.api_password), timeout=10) as client:
        client.post("/_simulator/reset").raise_for_status()
        yield client
        client.post("/_simulator/betterpayment/settings", json={"error_transport": CAT.error_transport.default})


def _ideal(**over: object) -> dict[str, object]:
    body = {"payment_type": "ideal", "order_id": "o-1", "amount": "10.00", "currency": "EUR",
            "postback_url": "https://merchant.example/pb", "success_url": "https://merchant.example/ok",
            "error_url": "https://merchant.example/ko", **over}
    return {k: v for k, v in body.items() if v is not ...}


def test_application_errors_are_in_band_by_default_and_protocol_errors_keep_their_status(http: httpx.Client) -> None:
    assert http.get("/_simulator/betterpayment/settings").json() == {"error_transport": "in_band"}
    missing = http.post("/rest/payment", json={"payment_type": "ideal"})
    assert missing.status_code == 200 and missing.json()["error_code"] == CAT.error("BP-ERR-204-MISSING-FIELDS").code
    unknown = http.get("/rest/transactions/nope")
    assert unknown.status_code == 200 and unknown.json()["error_code"] == 207
    anonymous = httpx.post(f"{http.base_url}/rest/payment", json={}, timeout=10)
    assert anonymous.status_code == 401
    assert http.post("/rest/payment", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    http.post("/_simulator/betterpayment/settings", json={"error_transport": "http"}).raise_for_status()
    assert http.post("/rest/payment", json={"payment_type": "ideal"}).status_code == 400
    assert http.get("/rest/transactions/nope").status_code == 404


def test_transport_setting_refuses_bad_values(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ({"error_transport": "smoke"}, {"colour": "blue"}):
        r = http.post("/_simulator/betterpayment/settings", json=bad)
        assert r.status_code == 400 and "error" in r.json()
    monkeypatch.setenv(ERROR_TRANSPORT_ENV, "http")
    assert start_error_transport(CAT) == "http"
    monkeypatch.setenv(ERROR_TRANSPORT_ENV, "teapot")
    with pytest.raises(ValueError, match=f"{ERROR_TRANSPORT_ENV} must be one of in_band, http"):
        start_error_transport(CAT)


def test_validation_failures_are_not_stored_under_a_key_even_in_band(http: httpx.Client) -> None:
    headers = {"Idempotency-Key": "fidelity-key-1"}
    bad = http.post("/rest/payment", json=_ideal(amount="x"), headers=headers)
    assert bad.status_code == 200 and bad.json()["error_code"] == 205
    good = http.post("/rest/payment", json=_ideal(), headers=headers)
    assert good.json()["error_code"] == 0 and "transaction_id" in good.json()


@pytest.mark.parametrize(("over", "accepted"), [
    ({"customer_id": 42, "invoice_id": 1001}, True), ({"locale": "de_DE"}, True), ({"locale": "de-DE"}, True),
    ({"vat": "", "address2": None, "company_vat_id": ""}, True),
    ({"shipping_costs": 4.9, "vat": 2.5399999999999996}, True),
    ({"currency": ...}, True), ({"customer_id": True}, False), ({"customer_id": ["7"]}, False),
    ({"locale": "DEU"}, False), ({"amount": 10.001}, False), ({"amount": "10.001"}, False), ({"order_id": " "}, False),
])
def test_leniency_and_its_limits(http: httpx.Client, over: dict[str, object], accepted: bool) -> None:
    body = http.post("/rest/payment", json=_ideal(**over)).json()
    assert (body["error_code"] == 0) is accepted, body
    if accepted and over.get("currency") is ...:
        assert http.get(f"/rest/transactions/{body['transaction_id']}").json()["currency"] == "EUR"


def test_float_noise_is_rounded_only_for_json_numbers() -> None:
    assert parse_cents(2.5399999999999996) == 254
    assert parse_cents(0.1 + 0.2) == 30
    assert parse_cents(2.545) is None and parse_cents("2.5399999999999996") is None


def test_apple_pay_merchant_validation(http: httpx.Client) -> None:
    r = http.post(CAT.apple_pay.path, json={CAT.apple_pay.request_field: "shop.example"})
    session = json.loads(base64.b64decode(r.json()[CAT.apple_pay.response_field]))
    assert r.status_code == 200 and list(session) == CAT.apple_pay.session_fields
    assert session["domainName"] == "shop.example"
    assert http.post(CAT.apple_pay.path, json={CAT.apple_pay.request_field: "bad host!"}).json()["error_code"] == 205
    assert http.get(CAT.apple_pay.path).status_code == 405


def test_legacy_checksum_authentication(http: httpx.Client) -> None:
    query = "api_key=" + SIM.api_key + "&" + "&".join(f"{k}={v}" for k, v in _ideal().items() if "url" not in k)
    query += "&postback_url=https%3A%2F%2Fmerchant.example%2Fpb&success_url=https%3A%2F%2Fm.example%2Fok"
    query += "&error_url=https%3A%2F%2Fm.example%2Fko"
    good = hashlib.sha1((query + SIM.api_password).encode()).hexdigest()
    form = {"Content-Type": CAT.legacy_auth.content_type}
    ok = httpx.post(f"{http.base_url}/rest/payment", content=f"{query}&checksum={good}", headers=form, timeout=10)
    assert ok.status_code == 200 and ok.json()["status"] == "started", ok.text
    for bad in (f"{query}&checksum={'0' * 40}", query, f"checksum={good}&{query}", f"{query}&checksum={good}&x=1"):
        r = httpx.post(f"{http.base_url}/rest/payment", content=bad, headers=form, timeout=10)
        assert r.status_code == 401 and r.json()["error_code"] == 201, bad


def test_every_observed_fact_names_a_plugin_file_at_a_commit() -> None:
    """Provenance `observed` means code that runs against the real API: its source must say which file, at
    which commit (owner/repo@<40 hex>:path), so anyone can re-read it."""
    import re

    pattern = re.compile(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}:\S+")
    entries = [*CAT.payment_types, *CAT.leniencies, *CAT.rules, CAT.error_transport, CAT.apple_pay,
               *CAT.field_blocks.values()]
    observed = [e for e in entries if e.provenance == "observed"]
    assert len(observed) >= 20
    for entry in observed:
        # (or the plugin fixtures, whose every request names its file and commit: test_plugin_compat.py)
        assert pattern.search(entry.source) or entry.source.startswith("fixtures/betterpayment/plugins/"), (
            f"observed without owner/repo@commit:path: {entry.source[:120]}")
