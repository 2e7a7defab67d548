"""Runs across time: `paycert history`, `paycert certify --baseline`, and what CI dashboards read from a run
(JUnit properties and failure titles, Allure labels, evidence and history ids, Allure's own CLI).

Two real `paycert certify` runs of the fake suite (tests/test_report_support.py) are made once for the module:
run A, where one contract check fails (BC-CARD-02), and run B, certified with `--baseline latest` and
`--fixtures` (a copy of the shipped fixtures labelled as another API version), where BC-CARD-02 passes again and an
advisory requirement that passed in A fails. B's verdict is ready, so its non-zero exit is the baseline's doing.
A synthesized run before both makes three consecutive runs for `paycert history`.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from report_support import (
    BC_API_KEY,
    bc_requirements,
    fake_suite,
    make_report,
    passing,
    sim_settings,
    unpacked_allure,
)

from harness.catalog import all_requirements, bettercharge
from harness.cli import main
from harness.errors import ConfigError
from harness.paths import FIXTURES_ENV, check_fixtures, shipped_fixtures_dir
from harness.report import certify as certify_module
from harness.report.diff import diff_reports
from harness.report.history import build_history, load_runs
from harness.report.model import dump_report, load_report
from harness.report.versions import api_versions, forget_loaded, use_fixtures

ADVISORY = "BC-IDEM-ERROR-REPLAY"
CONTRACT = "BC-CARD-02"
NEW_VERSION = "2099-01-01"


def _write(out: Path, report: dict) -> Path:
    run = out / report["run"]["run_id"]
    run.mkdir(parents=True)
    (run / "report.json").write_text(dump_report(report))
    return run


def _versioned_fixtures(root: Path, version: str) -> Path:
    """A copy of the shipped fixtures whose BetterCharge catalog and document say `version`."""
    copy = root / f"fixtures-{version}"
    shutil.copytree(shipped_fixtures_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    for name, old in (("catalog/bettercharge.yaml", 'version: "2025-09-01"'),
                      ("bettercharge/openapi.yaml", 'version: "2025-09-01"')):
        path = copy / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, f'version: "{version}"', 1), encoding="utf-8")
    return copy


# ------------------------------------------------------------------ history from synthesized runs


def _series(tmp_path: Path, outcomes: list[dict[str, str]], *, same_conditions: bool = True) -> Path:
    """One synthesized run per entry (requirement id -> outcome; unnamed requirements pass), oldest first."""
    out = tmp_path / "reports"
    reqs = bc_requirements("card")[:4]
    for index, changes in enumerate(outcomes):
        raw = passing(reqs)
        for rec in raw:
            outcome = changes.get(rec["requirements"][0])
            if outcome:
                rec.update(outcome=outcome, classification="contract" if outcome == "failed" else None)
        catalog = [{"file": "catalog/bettercharge.yaml", "sha256": ("a" if same_conditions else str(index)) * 64}]
        _write(out, make_report(reqs, raw, run_id=f"20260302T10000{index}Z-00000{index}", catalog=catalog))
    return out


def test_history_shows_a_regression_in_the_newest_of_three_runs(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    card2 = bc_requirements("card")[1].id
    out = _series(tmp_path, [{}, {}, {card2: "failed"}])
    assert main(["history", str(out), "--last", "3"]) == 1
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if card2 in line)
    assert "✓✓✗" in row and "REGRESSION" in row
    assert "1 regression(s), 0 flaky" in text and "3 passed in every run, not listed" in text
    assert main(["history", str(out), "--last", "3", "--all"]) == 1
    listed = capsys.readouterr().out
    assert all(r.id in listed for r in bc_requirements("card")[:4])


def test_flaky_needs_two_flips_under_the_same_catalog_and_target(tmp_path: Path) -> None:
    card2 = bc_requirements("card")[1].id
    flapping = [{}, {card2: "failed"}, {}, {card2: "failed"}]
    history = build_history(*load_runs(_series(tmp_path / "same", flapping), last=10))
    row = next(r for r in history.requirements if r.requirement == card2)
    assert (row.flips, row.flaky, row.regression) == (3, True, True)
    # the same outcomes while the catalog changed every run: each flip has a cause, nothing is flaky
    history = build_history(*load_runs(_series(tmp_path / "moving", flapping, same_conditions=False), last=10))
    row = next(r for r in history.requirements if r.requirement == card2)
    assert (row.flips, row.flaky, row.regression) == (0, False, True)
    # one flip is a change, not flakiness; a failure that goes on failing is no regression
    history = build_history(*load_runs(_series(tmp_path / "once", [{}, {card2: "failed"}, {card2: "failed"}]),
                                       last=10))
    row = next(r for r in history.requirements if r.requirement == card2)
    assert (row.flips, row.flaky, row.regression) == (1, False, False)


def test_history_window_unreadable_runs_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card2 = bc_requirements("card")[1].id
    out = _series(tmp_path, [{card2: "failed"}, {}, {}])
    (out / "20260302T100009Z-broken").mkdir()
    (out / "20260302T100009Z-broken" / "report.json").write_text("{not json")
    assert main(["history", str(out), "--last", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("skipped: ") and "20260302T100009Z-broken" in text
    assert "2 run(s)" in text and "20260302T100000Z-000000" not in text  # the failing run is outside the window
    for args, message in (([str(tmp_path / "nowhere")], "no reports directory"),
                          ([str(out), "--last", "0"], "--last: must be 1 or more"),
                          ([str(tmp_path)], "no readable run")):
        assert main(["history", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_regression_means_passed_before_and_failing_now() -> None:
    reqs = bc_requirements("card")[:4]
    before_raw = passing(reqs)
    before_raw[3].update(outcome="failed", classification="contract")
    before = make_report(reqs, before_raw)
    after_raw = passing(reqs)
    after_raw[0].update(outcome="failed", classification="infrastructure")  # passed -> infrastructure: regressed
    after_raw[1].update(outcome="skipped")  # passed -> skipped: a change, not a failure
    diff = diff_reports(before, make_report(reqs, after_raw, run_id="20260302T110000Z-bbbbbb"))
    assert [c.requirement for c in diff.regressions] == [reqs[0].id]
    assert {c.requirement for c in diff.changes} == {reqs[0].id, reqs[1].id, reqs[3].id}
    assert diff.changes[0].regression  # regressions sort first


# ------------------------------------------------------------------ two real certify runs


@dataclass(frozen=True)
class Runs:
    out: Path
    a: Path
    b: Path
    a_exit: int
    b_exit: int
    a_stdout: str
    b_stdout: str
    fixtures: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("runs")
    fixtures = _versioned_fixtures(root, NEW_VERSION)
    suite = fake_suite(root)
    out = root / "out"
    outputs: list[tuple[int, str]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in ("PAYCERT_SIGNING_KEY", "PAYCERT_SUITES_DIR", "PAYCERT_TARGET", "PAYCERT_SIMULATOR_URL"):
            mp.delenv(name, raising=False)
        mp.setenv(FIXTURES_ENV, "")  # restored (to unset) when the block ends; --fixtures sets it below
        mp.setenv("PAYCERT_OPERATOR", "nightly-ci")
        mp.setenv("PYTEST_ADDOPTS", "-p no:schemathesis")
        mp.setattr(certify_module, "load_settings", lambda *_, target=None, **__: sim_settings(target or "simulator"))
        for behaviour, extra in (({"fail": [CONTRACT]}, []),
                                 ({"fail": [ADVISORY]}, ["--baseline", "latest", "--fixtures", str(fixtures)])):
            mp.setenv("PAYCERT_FAKE_SUITE", json.dumps(behaviour))
            buffer = io.StringIO()  # the CLI's console writes to whatever sys.stdout is at print time
            with contextlib.redirect_stdout(buffer):
                code = main(["certify", "--api", "bettercharge", "--suites", str(suite), "--out", str(out),
                             "--workers", "0", *extra])
            outputs.append((code, buffer.getvalue()))
            if not extra:
                run_a = (out / "latest").resolve()
    forget_loaded()  # the catalog of the versioned copy must not outlive the module
    run_b = (out / "latest").resolve()
    yield Runs(out, run_a, run_b, outputs[0][0], outputs[1][0], outputs[0][1], outputs[1][1], fixtures)


def test_baseline_regression_fails_a_ready_run_and_is_named_first(runs: Runs) -> None:
    assert runs.a_exit == 1 and "contract failures (1): BC-CARD-02" in runs.a_stdout
    report = load_report(runs.b / "report.json")
    assert report["verdict"]["ready"] and report["verdict"]["warnings"] == [ADVISORY]
    assert list(runs.b.glob("paycert-certification-*.zip")), "a ready run is signed, and still fails on regression"
    assert runs.b_exit == 1
    baseline = report["baseline"]
    assert baseline["run_id"] == runs.a.name and baseline["regressions"] == [ADVISORY]
    changes = {c["requirement"]: (c["before"], c["after"], c["regression"]) for c in baseline["changes"]}
    assert changes == {ADVISORY: ("passed", "failed", True), CONTRACT: ("failed", "passed", False)}
    lines = runs.b_stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "REGRESSIONS since" in line)
    assert runs.a.name in lines[first] and ADVISORY in lines[first + 1]
    assert first < next(i for i, line in enumerate(lines) if "coverage per API and area" in line)
    assert f"FAILED: 1 regression(s) against baseline {runs.a.name}" in runs.b_stdout
    assert "REGRESSION" in runs.b_stdout.split("coverage per API and area", 1)[1]  # the diff table after the summary
    html = (runs.b / "report.html").read_text()
    assert '<section id="baseline">' in html and html.index('id="baseline"') < html.index('id="coverage"')
    section = html.split('<section id="baseline">', 1)[1].split("</section>", 1)[0]
    assert ADVISORY in section and CONTRACT in section and "REGRESSION" in section
    assert "The run fails: 1 regression(s)" in html.split('id="coverage"', 1)[0]
    assert "baseline" not in load_report(runs.a / "report.json")


def test_baseline_that_cannot_be_read_is_one_line_before_any_run(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--api", "bettercharge", "--out", str(tmp_path), "--baseline", "latest"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("paycert: --baseline: no report found for latest") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_runs_record_their_api_versions_and_fixtures(runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    a = load_report(runs.a / "report.json")["run"]
    b = load_report(runs.b / "report.json")["run"]
    assert a["api_versions"] == {"bettercharge": {"catalog": "2025-09-01", "openapi": "2025-09-01"}}
    assert "fixtures" not in a
    assert b["api_versions"] == {"bettercharge": {"catalog": NEW_VERSION, "openapi": NEW_VERSION}}
    assert b["fixtures"] == str(runs.fixtures.resolve())
    assert {c["sha256"] for c in a["catalog"]} != {c["sha256"] for c in b["catalog"]}
    html = (runs.b / "report.html").read_text()
    assert f"<dt>bettercharge API</dt><dd>{NEW_VERSION}</dd>" in html and str(runs.fixtures.resolve()) in html
    assert main(["diff", str(runs.a), str(runs.b)]) == 1
    assert f"bettercharge 2025-09-01 → {NEW_VERSION}" in capsys.readouterr().out


def test_history_over_three_real_and_synthesized_runs(runs: Runs, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    for run in (runs.a, runs.b):  # their report.json is all history reads
        (out / run.name).mkdir(parents=True)
        shutil.copy(run / "report.json", out / run.name / "report.json")
    reqs = bc_requirements()
    _write(out, make_report(reqs, passing(reqs), run_id="20200101T000000Z-000000"))  # the oldest run
    assert main(["history", str(out), "--last", "3"]) == 1
    text = capsys.readouterr().out
    assert text.index("20200101T000000Z-000000") < text.index(runs.a.name) < text.index(runs.b.name)
    advisory = next(line for line in text.splitlines() if ADVISORY in line)
    contract = next(line for line in text.splitlines() if f"{CONTRACT} " in line)
    assert "✓✓✗" in advisory and "REGRESSION" in advisory
    assert f"{runs.b.name}: changed since the run before: catalog, openapi" in text  # --fixtures: another version
    assert "✓✗✓" in contract and "REGRESSION" not in contract and "FLAKY" not in contract


def test_junit_cases_carry_requirement_properties_and_titled_failures(runs: Runs) -> None:
    by_id = {r.id: r for r in all_requirements()}
    cases = list(ET.parse(runs.a / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == len(bc_requirements())
    for case in cases:
        props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        ids = [v for n, v in props if n == "requirement"]
        assert len(ids) == 1 and ids[0] in case.get("name", ""), case.get("name")
        r = by_id[ids[0]]
        assert ("provenance", r.provenance.value) in props and ("weight", r.weight.value) in props
    (failed,) = [c for c in cases if c.find("failure") is not None]
    message = failed.find("failure").get("message", "")  # type: ignore[union-attr]
    assert message.startswith(f"{by_id[CONTRACT].title} ({CONTRACT}): AssertionError")
    assert bettercharge().cards[1].pan not in ET.tostring(failed, encoding="unicode")


def _allure(run: Path) -> dict[str, dict]:
    results = [json.loads(p.read_text()) for p in unpacked_allure(run).glob("*-result.json")]
    return {r["name"]: r for r in results}


def test_allure_labels_evidence_and_stable_history_ids(runs: Runs) -> None:
    a, b = _allure(runs.a), _allure(runs.b)
    assert len(a) == len(bc_requirements()) and a.keys() == b.keys()
    assert len({r["historyId"] for r in a.values()}) == len(a)
    assert all(a[name]["historyId"] == b[name]["historyId"] for name in a), "history ids must not change"
    card = a[f"test_requirement[{CONTRACT}]"]
    labels = {(label["name"], label["value"]) for label in card["labels"]}
    title = next(r.title for r in all_requirements() if r.id == CONTRACT)
    assert {("parentSuite", "BetterCharge"), ("suite", "test cards"), ("epic", "BetterCharge"),
            ("feature", "test cards"), ("requirement", CONTRACT), ("tag", CONTRACT), ("api", "bettercharge"),
            ("story", f"{CONTRACT} {title}"), ("severity", "critical")} <= labels
    advisory = {(label["name"], label["value"]) for label in a[f"test_requirement[{ADVISORY}]"]["labels"]}
    assert ("severity", "minor") in advisory
    (attachment,) = [x for x in card["attachments"] if x["name"].startswith("evidence")]
    har = json.loads((unpacked_allure(runs.a) / attachment["source"]).read_text())
    text = json.dumps(har)
    card2 = bettercharge().cards[1]
    assert "/payments/authorize" in text and card2.bin in text and card2.last4 in text
    assert card2.pan not in text and BC_API_KEY not in text
    assert not a["test_requirement[BC-STATE-RECEIVED]"].get("attachments"), "no exchange, no attachment"


def _allure_cli() -> list[str] | None:
    """Allure 3's CLI (npm package `allure`): on PATH, or installed with npm into a cache directory."""
    found = shutil.which("allure")
    if found and "3." in subprocess.run([found, "--version"], capture_output=True, text=True, timeout=60).stdout:
        return [found]
    from tool_cache import npm_tool

    return npm_tool("allure", "allure@3")


def test_allure_cli_renders_both_runs_with_history(runs: Runs, tmp_path: Path) -> None:
    allure = _allure_cli()
    if allure is None:
        pytest.skip("Allure 3 is not installed and could not be installed with npm (npm package `allure`)")
    history = tmp_path / "history.jsonl"
    (tmp_path / "allurerc.json").write_text(json.dumps({"historyPath": str(history)}))
    for run in (runs.a, runs.b):
        out = tmp_path / f"report-{run.name}"
        proc = subprocess.run([*allure, "generate", str(unpacked_allure(run)), "--output", str(out)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert (out / "index.html").is_file()
    entries = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    assert len(entries) == 2
    # Allure's own history keys: one per case, and the same cases in both runs, so trends and retries link up
    first, second = (set(e["testResults"]) for e in entries)
    assert len(first) == len(bc_requirements()) and first == second


def test_fixtures_override_reaches_child_processes_and_is_checked(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _versioned_fixtures(tmp_path, NEW_VERSION)
    monkeypatch.setenv(FIXTURES_ENV, "")
    try:
        use_fixtures(copy)
        assert api_versions(["bettercharge"])["bettercharge"] == {"catalog": NEW_VERSION, "openapi": NEW_VERSION}
        child = subprocess.run([sys.executable, "-c", "from harness.catalog import bettercharge; "
                                "print(bettercharge().version)"], capture_output=True, text=True, timeout=60)
        assert child.stdout.strip() == NEW_VERSION
    finally:
        monkeypatch.delenv(FIXTURES_ENV)
        forget_loaded()
    assert api_versions(["bettercharge"])["bettercharge"]["catalog"] == "2025-09-01"
    (copy / "bettercharge" / "openapi.yaml").unlink()
    with pytest.raises(ConfigError, match=r"no bettercharge/openapi\.yaml"):
        check_fixtures(copy)
    with pytest.raises(ConfigError, match="is not a directory"):
        check_fixtures(tmp_path / "missing")


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_bad_fixtures_directory_is_one_line_before_any_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str], how: str) -> None:
    bad = tmp_path / "not-fixtures"
    bad.mkdir()
    out = tmp_path / "out"
    if how == "option":
        monkeypatch.setenv(FIXTURES_ENV, "")
        args = ["--fixtures", str(bad)]
        source = "--fixtures"
    else:
        monkeypatch.setenv(FIXTURES_ENV, str(bad))
        args, source = [], FIXTURES_ENV
    assert main(["certify", "--api", "bettercharge", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"paycert: {source}: {bad} is not a fixtures directory (no catalog/bettercharge.yaml")
    assert len(err.splitlines()) == 1 and not out.exists()


GENERATED_CASES = '''
import pytest


def pytest_pycollect_makeitem(collector, name, obj):
    """Like schemathesis: one item per API operation, with the case id in the name and no callspec."""
    if name == "test_operation":
        return [pytest.Function.from_parent(collector, name=f"test_operation[{op}]", callobj=obj,
                                           originalname=name)
                for op in ("GET /payments/{bcId}", "POST /payments/authorize")]
    return None
'''


def test_allure_history_ids_differ_for_cases_generated_without_a_callspec(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(GENERATED_CASES)
    (tmp_path / "test_generated.py").write_text("def test_operation():\n    pass\n")
    results = tmp_path / "allure-results"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:schemathesis",
                           "-p", "harness.report.run_plugin", "--alluredir", str(results), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    found = {json.loads(p.read_text())["name"]: json.loads(p.read_text())["historyId"]
             for p in results.glob("*-result.json")}
    assert len(found) == 2 and len(set(found.values())) == 2, found
