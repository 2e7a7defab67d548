"""Compatibility with the vendor's own plugins: every request shape an official plugin sends
(fixtures/betterpayment/plugins/<plugin>.json, each naming its plugin source file and commit) is replayed
against the target and must be accepted with the flow its payment type implies; the plugins' own rules are
restated as checks: success is error_code 0 and a lookup without error_code (BP-PLUGIN-SUCCESS-TEST), every
status reported is one their status maps handle (BP-PLUGIN-STATUS-MAPPING, status-maps.json), and postbacks
verify the way the PHP plugins rebuild them (BP-PB-PHP-ENCODING)."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.paths import fixtures_dir
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_operation, expect_payment, get_transaction, json_body
from harness.suite.betterpayment.postbacks import plugin_style_checksum_ok, wait_postbacks
from harness.suite.betterpayment.requests import WALLET_TOKENS, Urls, new_order_id
from harness.suite.betterpayment.views import first_answer, payment_type

CAT = betterpayment()

PLUGINS_DIR = fixtures_dir() / "betterpayment" / "plugins"
PLUGINS = ("shopware6", "woocommerce", "magento2", "civicrm")


@cache
def plugin(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLUGINS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


@cache
def status_maps() -> list[dict[str, Any]]:
    maps: list[dict[str, Any]] = json.loads((PLUGINS_DIR / "status-maps.json").read_text(encoding="utf-8"))["maps"]
    return maps


def _requests() -> list[Any]:
    cases = []
    for name in PLUGINS:
        for request in plugin(name)["requests"]:
            ids = ["BP-PLUGIN-REQUESTS", "BP-PLUGIN-SUCCESS-TEST", "BP-PLUGIN-STATUS-MAPPING"]
            if request.get("payment_type"):
                ids.append(payment_type(request["payment_type"]).id)
            if request["operation"] == "apple_pay_merchant_validation":
                ids.append("BP-APPLEPAY-VALIDATION")
            if request["operation"].startswith("legacy:"):
                ids.append("BP-LEGACY-AUTH")
            cases.append(pytest.param(name, request["id"], id=request["id"], marks=pytest.mark.requirement(*ids)))
    return cases


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:] in values:
        return values[value[1:]]
    if isinstance(value, str) and "$order_id" in value:
        return value.replace("$order_id", values["order_id"])
    return value


def expect_mapped(status_code: int, status: str) -> None:
    """The plugins' status maps handle this status: by name in at least one name map, by code in the code map
    where it lists the code, and the pair is the catalog's."""
    assert (status_code, status) == (status_code, CAT.status(status_code).name), f"{status_code} is not {status}"
    by_name = [m for m in status_maps() if "by_name" in m]
    assert any(status in m["by_name"] for m in by_name), f"no official plugin maps the status {status!r}"
    for m in status_maps():
        if "by_code" in m and status in {CAT.status(int(c)).name for c in m["by_code"]}:
            assert str(status_code) in m["by_code"], f"{m['plugin']} knows {status} under another code"


class Replay:
    def __init__(self, client: BetterPaymentClient, urls: Urls, receiver: PostbackReceiver, keys: tuple[str,
                 str]) -> None:
        self.client, self.urls, self.receiver, self.keys = client, urls, receiver, keys
        self.transactions: dict[str, str] = {}

    def run(self, plugin_name: str, request_id: str) -> None:
        requests = {r["id"]: r for r in plugin(plugin_name)["requests"]}
        request = requests[request_id]
        if request.get("after"):
            self.run(plugin_name, request["after"])
        values = {"postback_url": self.urls.postback, "success_url": self.urls.success,
                  "error_url": self.urls.error, "order_id": new_order_id(),
                  "transaction_id": self.transactions.get(request.get("after", ""), ""),
                  **{k: v for k, v in WALLET_TOKENS.items()}}
        body = {k: _fill(v, values) for k, v in request["body"].items()}
        if body.get("transaction_id"):
            self.transactions[request_id] = str(body["transaction_id"])  # a follow-up keeps its transaction
        getattr(self, "_" + request["operation"].replace(":", "_"))(request, body)

    def _payment(self, request: dict[str, Any], body: dict[str, Any]) -> None:
        pt = payment_type(request["payment_type"])
        status, action = first_answer(pt, "payment")
        answer = expect_payment(self.client.payment(body), "payment", body, status_code=status, client_action=action)
        tid = str(answer["transaction_id"])
        self.transactions[request["id"]] = tid
        expect_mapped(answer["status_code"], answer["status"])
        stored = get_transaction(self.client, tid)  # the plugins' lookup test: no error_code on success
        expect_mapped(stored["status_code"], stored["status"])
        if CAT.status(status).final and body.get("postback_url") and self.urls.deliverable:
            [delivery] = wait_postbacks(self.receiver, tid)
            assert plugin_style_checksum_ok(delivery.raw_body, self.keys[0]), "the plugins' checksum check fails"
            expect_mapped(int(delivery.fields["status_code"]), delivery.fields["status"])

    def _capture(self, request: dict[str, Any], body: dict[str, Any]) -> None:
        answer = expect_operation(self.client.raw("POST", CAT.operation("capture").path, json=body,
                                                  idempotency_key=None), "capture")
        expect_mapped(answer["status_code"], answer["status"])

    def _refund(self, request: dict[str, Any], body: dict[str, Any]) -> None:
        expect_operation(self.client.raw("POST", CAT.operation("refund").path, json=body, idempotency_key=None),
                         "refund")

    def _apple_pay_merchant_validation(self, request: dict[str, Any], body: dict[str, Any]) -> None:
        facts = CAT.apple_pay
        response = self.client.raw(facts.method, facts.path, json=body)
        assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}"
        session = json.loads(base64.b64decode(json_body(response)[facts.response_field]))
        assert session["domainName"] == body[facts.request_field]

    def _legacy_authorize(self, request: dict[str, Any], body: dict[str, Any]) -> None:
        pt = payment_type(request["payment_type"])
        status, action = first_answer(pt, "authorize")
        answer = expect_payment(self.client.legacy("authorize", body), "authorize", body, status_code=status,
                                client_action=action)
        expect_mapped(answer["status_code"], answer["status"])


@pytest.mark.parametrize(("plugin_name", "request_id"), _requests())
def test_plugin_request_is_accepted(client: BetterPaymentClient, urls: Urls, postback_receiver: PostbackReceiver,
                                    bp_keys: tuple[str, str], plugin_name: str, request_id: str) -> None:
    Replay(client, urls, postback_receiver, bp_keys).run(plugin_name, request_id)


@pytest.mark.requirement("BP-PLUGIN-REQUESTS")
def test_every_plugin_request_names_its_source() -> None:
    """Provenance is data: each replayed shape names the plugin file and commit it restates."""
    for name in PLUGINS:
        data = plugin(name)
        assert data["provenance"] == "observed"
        for request in data["requests"]:
            repo, _, rest = request["source"].partition("@")
            assert repo == data["repository"] or repo.startswith("better-payment/") or repo.startswith("systopia/")
            commit = rest.split(":", 1)[0]
            assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit), request["id"]
