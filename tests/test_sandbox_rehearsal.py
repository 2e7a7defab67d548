"""Sandbox rehearsals: the simulator posing as a remote sandbox (TLS from a throw-away CA, real-time rate limit,
one API's credentials only), preflight against it, and calibration of adopted assumptions end to end.

Bounded: each certify run selects a few suite tests (`-k`), so a run sends a few dozen requests at most, far from
the rate limit; the full-suite figures are measured apart (README, *Sandbox runs*).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rehearsal import PosingSandbox, differing_sandbox, posing_sandbox

from harness.catalog import CatalogError
from harness.catalog.common import load_yaml
from harness.catalog.overlay import OVERLAY_FILE, apply_overlay
from harness.cli import main
from harness.config import load_settings
from harness.report.certify import CertifyOptions, certify
from harness.report.model import load_report
from harness.report.preflight import run_preflight

BC = {"BETTERCHARGE_API_KEY": "sim-api-key", "BETTERCHARGE_PARTNER_ID": "sim-partner"}


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's shell with nothing set but what each test sets; the working directory is fresh (no .env)."""
    for name in list(os.environ):
        if name.startswith(("PAYCERT_", "BETTERCHARGE_", "BETTERPAYMENT_")):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PAYCERT_BUDGET_DIR", str(tmp_path / "budget"))
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:schemathesis")
    return work


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[PosingSandbox]:
    with posing_sandbox(tmp_path) as served:
        yield served


def _use(monkeypatch: pytest.MonkeyPatch, served: PosingSandbox, **extra: str) -> None:
    monkeypatch.setenv("BETTERCHARGE_BASE_URL", served.url)
    monkeypatch.setenv("PAYCERT_CA_BUNDLE", str(served.ca_bundle))
    for name, value in {**BC, **extra}.items():
        monkeypatch.setenv(name, value)


def _certify(work: Path, selection: str, api: str = "bettercharge") -> tuple[int, dict[str, Any]]:
    from rich.console import Console

    console = Console(file=(work / "console.txt").open("a"), width=160)
    options = CertifyOptions(apis=(api,), target="sandbox", workers=0, out_dir=work / "out",
                             pytest_args=("-k", selection))
    result = certify(options, console)
    return result.exit_code, load_report(result.run_dir / "report.json")


BP = {"BETTERPAYMENT_API_KEY": "demo", "BETTERPAYMENT_API_PASSWORD": "p@55w0rd",
      "BETTERPAYMENT_INCOMING_KEY": "bp-sim-incoming-key-0c1d", "BETTERPAYMENT_WEBHOOK_KEY": "bp-sim-webhook-key-9e4f"}


@pytest.mark.parametrize(("api", "selection"), [("bettercharge", "test_cards"), ("betterpayment", "test_auth")])
def test_scoped_tls_sandbox_run_with_only_one_apis_credentials(clean_env: Path, sandbox: PosingSandbox,
                                                                monkeypatch: pytest.MonkeyPatch, api: str,
                                                                selection: str) -> None:
    monkeypatch.setenv("PAYCERT_CA_BUNDLE", str(sandbox.ca_bundle))
    own = BC if api == "bettercharge" else BP  # and nothing of the other API
    for name, value in own.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(f"{api.upper()}_BASE_URL", sandbox.url)
    _, report = _certify(clean_env, selection, api)
    tests = report["tests"]
    assert tests and all(t["outcome"] in ("passed", "not_verifiable") for t in tests), [
        (t["nodeid"], t["message"][:200]) for t in tests if t["outcome"] not in ("passed", "not_verifiable")]
    assert report["run"]["base_urls"] == {api: sandbox.url}
    spent = report["run"]["requests"]
    assert [s["api"] for s in spent] == [api] and spent[0]["requests"] > len(tests) / 2
    assert spent[0]["rate_limited"] == 0 and spent[0]["key"].startswith("sha256:")
    console = (clean_env / "console.txt").read_text()
    assert all(secret not in console for secret in own.values() if len(secret) > 6)
    # what blocks is only what the selection left out: no failure, no infrastructure problem
    v = report["verdict"]
    assert v["contract_failures"] == v["infrastructure_failures"] == v["unconfirmed_assumptions"] == []
    assert f"preflight {api}: ok" in console and f"requests: {api} key sha256:" in console


def test_preflight_names_each_problem_in_one_line(clean_env: Path, sandbox: PosingSandbox,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def findings(**env: str) -> list[str]:
        settings = load_settings(target="sandbox", apis=("bettercharge",), environ={
            "BETTERCHARGE_BASE_URL": sandbox.url, "PAYCERT_CA_BUNDLE": str(sandbox.ca_bundle),
            "PAYCERT_BUDGET_DIR": os.environ["PAYCERT_BUDGET_DIR"], **BC, **env})
        result = run_preflight(settings)
        assert all(c.requests <= 5 for c in result.checks)
        return [f.line() for f in result.findings if f.fatal]

    assert findings() == []
    assert findings(BETTERCHARGE_API_KEY="wrong-key") == [
        "problem: bettercharge: BETTERCHARGE_API_KEY: refused (401 UNAUTHORIZED): a wrong key, or a key of another "
        "partner than BETTERCHARGE_PARTNER_ID"]
    assert findings(BETTERCHARGE_PARTNER_ID="nobody") == [
        "problem: bettercharge: BETTERCHARGE_PARTNER_ID: the API does not know this partner (404 PARTNER_NOT_FOUND)"]
    [wrong_url] = findings(BETTERCHARGE_BASE_URL=sandbox.url + "/not-the-api")
    assert wrong_url.startswith("problem: bettercharge: BETTERCHARGE_BASE_URL: ")
    assert "not like the BetterCharge" in wrong_url
    [untrusted] = findings(PAYCERT_CA_BUNDLE="")
    assert untrusted.startswith("problem: bettercharge: PAYCERT_CA_BUNDLE: the TLS certificate of localhost is not "
                                "trusted by the default trust store")
    [refused] = findings(BETTERCHARGE_BASE_URL="https://127.0.0.1:9")
    assert refused.startswith("problem: bettercharge: BETTERCHARGE_BASE_URL: cannot reach https://127.0.0.1:9")
    import harness.report.preflight as preflight

    real = preflight.time.time
    monkeypatch.setattr(preflight.time, "time", lambda: real() + 300)
    [skew] = findings()
    assert skew.startswith("problem: bettercharge: system clock: the local clock is 30") and "ahead of" in skew
    monkeypatch.undo()


def test_certify_stops_in_its_first_seconds_on_a_preflight_problem(clean_env: Path, sandbox: PosingSandbox,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _use(monkeypatch, sandbox, BETTERCHARGE_API_KEY="wrong-key")
    assert main(["certify", "--target", "sandbox", "--api", "bettercharge", "--out", str(clean_env / "out")]) == 2
    captured = capsys.readouterr()
    assert "problem: bettercharge: BETTERCHARGE_API_KEY: refused (401" in captured.out
    assert captured.err.strip().startswith("paycert: preflight failed (1 problem(s) above)")
    assert not (clean_env / "out" / "latest").exists()
    assert main(["check", "--target", "sandbox", "--api", "bettercharge"]) == 1


# ---------------------------------------------------------------- calibration

#: the "sandbox" differs from the adopted contract on these adopted details (catalog entry, field, its value)
DIFFERENCES = [
    {"api": "bettercharge", "entry": "BC-TX-CAPTURED-REFUND-PARTIAL", "field": "expect.state", "adopted": "CAPTURED",
     "observed": "REFUNDED"},
    {"api": "bettercharge", "entry": "BC-TX-VOIDED-VOID-NONE", "field": "expect",
     "adopted": {"status": 422, "error": "BC-ERR-422-ALREADY-VOIDED"},
     "observed": {"status": 400, "error": "BC-ERR-400-INVALID-VOID"}},
]
SELECTION = "test_transition and (VOIDED-void-none or CAPTURED-refund-partial) and not PARTIALLY and not AUTO"


def test_calibration_rehearsal(clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = [{**d, "run": "the-sandbox", "target": "sandbox", "date": "2026-12-01"} for d in DIFFERENCES]
    with differing_sandbox(tmp_path / "differing", truth) as served:
        _use(monkeypatch, served)
        code, report = _certify(clean_env, SELECTION)
        assert code == 1
        assert sorted(report["verdict"]["unconfirmed_assumptions"]) == ["BC-TX-CAPTURED-REFUND-PARTIAL",
                                                                       "BC-TX-VOIDED-VOID-NONE"]
        assert report["verdict"]["contract_failures"] == []  # the states these tests pass through were not reached
        # the documented facts these tests would have checked next were not reached: blocked, not failed
        assert set(report["verdict"]["blocked_by_assumptions"]) <= {
            "BC-STATE-AUTHORIZED", "BC-STATE-CAPTURED", "BC-STATE-VOIDED", "BC-STATE-REFUNDED",
            "BC-ERR-422-ALREADY-VOIDED"}
        seen = [(o["entry"], o["field"], o["expected"], o["observed"])
                for a in report["unconfirmed_assumptions"] for o in a["observations"]]
        assert {(e, f, str(x), str(o)) for e, f, x, o in seen} == {
            ("BC-TX-VOIDED-VOID-NONE", "expect", "{'status': 422, 'error': 'BC-ERR-422-ALREADY-VOIDED'}",
             "{'status': 400, 'error': 'BC-ERR-400-INVALID-VOID'}"),
            ("BC-TX-CAPTURED-REFUND-PARTIAL", "expect.state", "CAPTURED", "REFUNDED")}
        assert all(a["evidence"] for a in report["unconfirmed_assumptions"])
        assert any("unconfirmed assumption" in rule for rule in report["verdict"]["rules"])
        html = (clean_env / "out" / "latest" / "report.html").read_text()
        assert 'id="unconfirmed"' in html and "REFUNDED" in html

        assert main(["calibrate", "latest", "--out", str(clean_env / "out")]) == 0
        overlay = yaml.safe_load((clean_env / OVERLAY_FILE).read_text())
        entries = {(e["entry"], e["field"]): e for e in overlay["entries"]}
        assert set(entries) == {("BC-TX-VOIDED-VOID-NONE", "expect"),
                                ("BC-TX-CAPTURED-REFUND-PARTIAL", "expect.state")}
        for e in entries.values():
            assert e["provenance"] == "observed" and e["run"] == report["run"]["run_id"] and e["target"] == "sandbox"

        _fresh_catalog()  # as a new paycert process would load it: with the overlay in the working directory
        try:
            code, again = _certify(clean_env, SELECTION)
        finally:
            (clean_env / OVERLAY_FILE).unlink()
            _fresh_catalog()
        passed = {r["id"]: r for r in again["requirements"] if r["outcome"] == "passed"}
        assert {"BC-TX-VOIDED-VOID-NONE", "BC-TX-CAPTURED-REFUND-PARTIAL"} <= set(passed), [
            t["message"][-800:] for t in again["tests"] if t["outcome"] != "passed"]
        assert passed["BC-TX-CAPTURED-REFUND-PARTIAL"]["provenance"] == "observed"
        assert again["verdict"]["unconfirmed_assumptions"] == []


def _fresh_catalog() -> None:
    from harness import catalog

    catalog.bettercharge.cache_clear()
    catalog.betterpayment.cache_clear()


def test_a_documented_fact_cannot_be_calibrated(tmp_path: Path) -> None:
    overlay = tmp_path / OVERLAY_FILE
    overlay.write_text(yaml.safe_dump({"format": "paycert-calibration/1", "entries": [
        {"api": "bettercharge", "entry": "BC-ERR-404-PAYMENT", "field": "message", "adopted": "Payment {bcId} does "
         "not exist", "observed": "Payment not found", "run": "r", "target": "sandbox", "date": "2026-12-01"}]}))
    with pytest.raises(CatalogError, match="documented; a documented fact cannot be calibrated away, only waived"):
        apply_overlay("bettercharge.yaml", load_yaml("bettercharge.yaml"), overlay)


@pytest.mark.parametrize(("entry", "problem"), [
    ({"entry": "BC-TX-NOPE", "field": "expect.state", "adopted": "X", "observed": "Y"}, "no such catalog entry"),
    ({"entry": "BC-TX-CAPTURED-REFUND-PARTIAL", "field": "expect.colour", "adopted": "X", "observed": "Y"},
     "has no field expect.colour"),
    ({"entry": "operation:void", "field": "success", "adopted": 200, "observed": "202"}, "not of the catalog's type"),
    ({"entry": "BC-TX-VOIDED-VOID-NONE", "field": "expect", "adopted": {"status": 422},
      "observed": {"status": 400}}, "not the adopted"),
    ({"entry": "operation:void", "field": "success", "adopted": 201, "observed": 202}, "not the adopted 201"),
])
def test_a_bad_overlay_entry_is_one_line(tmp_path: Path, entry: dict[str, Any], problem: str) -> None:
    overlay = tmp_path / OVERLAY_FILE
    overlay.write_text(yaml.safe_dump({"format": "paycert-calibration/1", "entries": [
        {"api": "bettercharge", **entry, "run": "r", "target": "sandbox", "date": "2026-12-01"}]}))
    with pytest.raises(CatalogError, match=problem) as exc:
        apply_overlay("bettercharge.yaml", load_yaml("bettercharge.yaml"), overlay)
    assert str(exc.value).startswith(f"{overlay}: entry 1") and "\n" not in str(exc.value)
