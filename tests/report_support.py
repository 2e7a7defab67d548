"""Helpers shared by the report tests (test_report*.py, test_verdict.py, test_package.py, test_leak_audit.py,
test_diff.py, test_certify.py): synthetic results and evidence, settings with known secrets, and a tiny fake
suite that a real `paycert certify` runs in a child pytest.

Card numbers come from the catalog; secrets are made up here, so a test can plant them and see them caught.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.catalog import Requirement, all_requirements, bettercharge
from harness.config import BetterChargeSettings, BetterPaymentSettings, Settings
from harness.evidence import EvidenceRecorder, pack
from harness.report.evidence_view import EvidenceReader
from harness.report.model import RunInfo, build_report
from harness.report.results import TestRecord, parse_results

BC_API_KEY = "bc-test-secret-key-7f3a"
BP_PASSWORD = "bp-test-password-91c2"
BP_INCOMING = "bp-test-incoming-55aa"
BP_WEBHOOK = "bp-test-webhook-66bb"
SECRETS = (BP_PASSWORD, BP_INCOMING, BP_WEBHOOK, BC_API_KEY)
STARTED = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.UTC)
FINISHED = STARTED + dt.timedelta(minutes=3)


def pans() -> list[str]:
    return [c.pan for c in bettercharge().cards]


def sim_settings(target: str = "simulator") -> Settings:
    base = "https://sandbox.example.test" if target == "sandbox" else "http://simulator"
    return Settings(
        target=target,  # type: ignore[arg-type]
        simulator_url=None,
        betterpayment=BetterPaymentSettings(base, "bp-user", BP_PASSWORD, BP_INCOMING, BP_WEBHOOK),
        bettercharge=BetterChargeSettings(base, BC_API_KEY, "sim-partner"),
    )


def reqs(*ids: str) -> list[Requirement]:
    """Catalog requirements by id, in the order given."""
    by_id = {r.id: r for r in all_requirements()}
    return [by_id[i] for i in ids]


def bc_requirements(kind: str | None = None) -> list[Requirement]:
    return [r for r in all_requirements() if r.api == "bettercharge" and (kind is None or r.kind == kind)]


def first(predicate: Any) -> Requirement:
    return next(r for r in all_requirements() if predicate(r))


def rec(nodeid: str, *requirements: str, outcome: str = "passed", classification: str | None = None,
        message: str = "", duration: float = 0.01, needs_setting: str | None = None) -> dict[str, Any]:
    """One record in the plugin's results format."""
    record = {"nodeid": nodeid, "requirements": list(requirements), "outcome": outcome,
              "classification": classification, "message": message, "duration": duration}
    return record if needs_setting is None else {**record, "needs_setting": needs_setting}


def records(*raw: dict[str, Any]) -> list[TestRecord]:
    return parse_results(list(raw))


def passing(requirements: Iterable[Requirement]) -> list[dict[str, Any]]:
    """One passing test per requirement."""
    return [rec(f"suites/test_x.py::test_req[{r.id}]", r.id) for r in requirements]


def run_info(target: str = "simulator", run_id: str = "20260302T100000Z-abc123", **extra: Any) -> RunInfo:
    values: dict[str, Any] = {
        "run_id": run_id, "target": target, "apis": ("bettercharge",), "started": STARTED, "finished": FINISHED,
        "operator": "qa@example.com", "simulator": "embedded" if target == "simulator" else None,
        "base_urls": {} if target == "simulator" else {"bettercharge": "https://sandbox.example.test"},
        "catalog": [{"file": "catalog/bettercharge.yaml", "sha256": "a" * 64}],
        "openapi": [{"api": "bettercharge", "file": "bettercharge/openapi.yaml", "sha256": "b" * 64, "error": None}],
        "pytest_exit_code": 0, "workers": 2, "collected": 1,
    }
    values.update(extra)
    return RunInfo(**values)


def record_card_exchange(evidence_dir: Path, case: str, card_index: int = 0) -> None:
    """A realistic authorize exchange for `case`, written through the real recorder (so it is masked)."""
    card = bettercharge().cards[card_index]
    recorder = EvidenceRecorder(evidence_dir, secrets=SECRETS, known_pans=pans())
    with recorder.case(case):
        recorder.record(
            method="POST", url="http://127.0.0.1:8787/payments/authorize",
            request_headers={"x-api-key": BC_API_KEY, "x-partner-id": "sim-partner",
                             "content-type": "application/json"},
            request_body=json.dumps({"merchantId": "sim-merchant", "amount": 1000, "currency": "EUR",
                                     "card": {"number": card.pan, "cvv": "123", "expMonth": 12, "expYear": 2030}}),
            status=201, reason="Created",
            response_headers={"content-type": "application/json", "X-RateLimit-Remaining": "99"},
            response_body=json.dumps({"bcId": "bc_1", "state": card.state, "card": {"bin": card.bin,
                                                                                  "last4": card.last4}}),
        )
    pack(evidence_dir)  # as the plugin does when a run ends: one gzip'd HAR per test module


def make_report(requirements: list[Requirement], raw_records: list[dict[str, Any]], *, evidence_dir: Path | None = None,
                waivers: Iterable[Any] = (), **info: Any) -> dict[str, Any]:
    evidence = EvidenceReader(evidence_dir, secrets=SECRETS, known_pans=pans()) if evidence_dir else None
    return build_report(info=run_info(**info), requirements=requirements, records=records(*raw_records),
                        waivers=list(waivers), evidence=evidence, secrets=SECRETS, known_pans=pans())


FAKE_CONFTEST = '''
import pytest
from harness.plugin import Target

# paycert_settings is the plugin's: the settings file paycert certify handed over (made-up test secrets).


@pytest.fixture(scope="session")
def paycert_target(paycert_settings):
    # No simulator is started: the fake suite only needs to know whether the target has a control interface.
    url = "http://127.0.0.1:9" if paycert_settings.target == "simulator" else None
    return Target(paycert_settings, url, embedded=False)
'''

FAKE_TEST = '''
"""A fake certification suite: one test per BetterCharge requirement; behaviour from PAYCERT_FAKE_SUITE (JSON)."""
import json
import os

import pytest

from harness.catalog import all_requirements, bettercharge

B = json.loads(os.environ.get("PAYCERT_FAKE_SUITE", "{}"))
REQS = [r for r in all_requirements() if r.api == "bettercharge" and r.id not in B.get("omit", [])]
CARDS = {c.id: c for c in bettercharge().cards}


def _param(r):
    marks = [pytest.mark.requirement(r.id)]
    if r.simulator_only or r.id in B.get("simulator_only", []):
        marks.append(pytest.mark.simulator_only)
    return pytest.param(r.id, id=r.id, marks=marks)


@pytest.mark.parametrize("rid", [_param(r) for r in REQS])
def test_requirement(rid, paycert_target, paycert_evidence, request):
    card = CARDS.get(rid)
    if card is not None:
        paycert_evidence.record(
            method="POST", url=paycert_target.base_url("bettercharge") + "/payments/authorize",
            request_headers={"x-api-key": paycert_target.settings.bettercharge.api_key,
                             "content-type": "application/json"},
            request_body=json.dumps({"card": {"number": card.pan, "cvv": "123"}, "amount": 1000}),
            status=201, response_headers={"content-type": "application/json"},
            response_body=json.dumps({"state": card.state, "card": {"bin": card.bin, "last4": card.last4}}))
    if rid in B.get("fail", []):
        expected = card.pan if card else rid
        assert expected == "something else", "the API broke the contract"
    if rid in B.get("infra", []):
        from harness.clients import InfrastructureError
        raise InfrastructureError("sandbox answered 503 three times", operation="authorize", attempts=3)
    if rid in B.get("leak", []):
        planted = request.config.getoption("--paycert-evidence") / "planted-debug.txt"
        planted.write_text("debug dump\\ncard=" + CARDS["BC-CARD-01"].pan + " key="
                           + paycert_target.settings.bettercharge.api_key + "\\n")


def test_without_requirement():
    """Suite tests that name no requirement prove nothing; the report lists them."""
'''


def fake_suite(root: Path, *, with_unmapped: bool = False) -> Path:
    """Write the fake suite into `root`/suite and return its directory."""
    suite = root / "suite"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "conftest.py").write_text(FAKE_CONFTEST)
    text = FAKE_TEST if with_unmapped else FAKE_TEST.split("\n\ndef test_without_requirement")[0] + "\n"
    (suite / "test_fake_suite.py").write_text(text)
    return suite


def test_support_builds_a_schema_valid_report(tmp_path: Path) -> None:
    """The helpers themselves produce what the report tests rely on."""
    from harness.report.model import schema_problems

    requirements = bc_requirements("card")[:2]
    report = make_report(requirements, passing(requirements))
    assert schema_problems(report) == []
    assert report["verdict"]["ready"]


def unpacked_allure(run: Path) -> Path:
    """The run's Allure results as Allure reads them: allure-results.tar.xz unpacked beside the run (README)."""
    import tarfile

    from harness.report.allure_results import ARCHIVE

    target = run.parent / f"{run.name}-unpacked"
    if not (target / "allure-results").is_dir():
        with tarfile.open(run / ARCHIVE, "r:xz") as tar:
            tar.extractall(target, filter="data")
    return target / "allure-results"
