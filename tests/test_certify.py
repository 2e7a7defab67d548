"""`paycert certify` end to end: a real child pytest (with pytest-xdist, the paycert plugin, JUnit, Allure and
HAR evidence) runs a tiny fake suite written into tmp_path, then the report, the leak audit, the verdict and the
signed package follow.

The fake suite has one test per BetterCharge requirement; what fails, what is blocked by infrastructure, what is
left out and what leaks is set per test through PAYCERT_FAKE_SUITE (JSON). Settings are fixed test settings with
made-up secrets, so the leak audit can look for them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import stat
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from report_support import BC_API_KEY, bc_requirements, fake_suite, sim_settings, unpacked_allure

from harness.catalog import bettercharge
from harness.cli import main
from harness.config import Settings, read_environment
from harness.paths import fixtures_dir
from harness.plugin import PARTIAL_RESULTS, TRANSPORT_PROPERTIES
from harness.report import certify as certify_module
from harness.report.certify import CertifyOptions, pytest_command
from harness.report.metadata import file_sha256, parse_iso
from harness.report.model import load_report
from harness.report.preflight import Preflight
from harness.report.progress import ProgressReader as _ProgressReader
from harness.report.signing import KEY_FILENAME, PUBLIC_FILENAME

N_BC = len(bc_requirements())
N_SIM_ONLY = sum(r.simulator_only for r in bc_requirements())


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("PAYCERT_SIGNING_KEY", "PAYCERT_SUITES_DIR", "PAYCERT_TARGET", "PAYCERT_FAKE_SUITE",
                 "PAYCERT_SIMULATOR_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYCERT_OPERATOR", "qa-bot")
    # The fake suite needs no schemathesis; not importing it (and hypothesis) saves seconds per child pytest.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:schemathesis")

    def settings(env_file: Path | None = None, *, target: str | None = None, **__: object) -> Settings:
        return replace(sim_settings(target or "simulator"), variables=read_environment(env_file))

    monkeypatch.setattr(certify_module, "load_settings", settings)
    # the fake suite's sandbox (sandbox.example.test) does not exist: preflight is tested in test_preflight.py
    monkeypatch.setattr(certify_module, "run_preflight", lambda *_, **__: Preflight([]))
    fake_suite(tmp_path, with_unmapped=True)
    return tmp_path


def certify(workspace: Path, monkeypatch: pytest.MonkeyPatch, *args: str, behaviour: dict | None = None,
            workers: str = "0") -> int:
    monkeypatch.setenv("PAYCERT_FAKE_SUITE", json.dumps(behaviour or {}))
    return main(["certify", "--api", "bettercharge", "--suites", str(workspace / "suite"), "--out",
                 str(workspace / "out"), "--workers", workers, *args])


def latest(workspace: Path) -> Path:
    return (workspace / "out" / "latest").resolve()


@pytest.mark.slow
def test_ready_run_writes_every_artefact_and_a_verifiable_package(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert certify(workspace, monkeypatch, workers="2") == 0
    out = capsys.readouterr().out
    run = latest(workspace)
    assert run.parent == workspace / "out" and run.name.count("-") == 1

    report = load_report(run / "report.json")  # validates against the schema
    v = report["verdict"]
    assert v["ready"] and v["blocking"] == []
    assert [t.split("/")[-1] for t in v["unmapped_tests"]] == ["test_fake_suite.py::test_without_requirement"]
    assert report["coverage"]["total"]["passed"] == N_BC
    cards = next(a for a in report["coverage"]["areas"] if a["kind"] == "card")
    errors = next(a for a in report["coverage"]["areas"] if a["kind"] == "error")
    assert (cards["passed"], cards["total"], errors["passed"], errors["total"]) == (27, 27, 28, 28)
    assert "27/27" in out and "28/28" in out and f"progress: {N_BC + 1}/{N_BC + 1} tests" in out
    assert "READY for go-live" in out and "signed package:" in out

    meta = report["run"]
    assert (meta["target"], meta["simulator"], meta["operator"], meta["apis"]) == (
        "simulator", "embedded", "qa-bot", ["bettercharge"])
    assert meta["pytest"] == {"exit_code": 0, "workers": 2, "collected": N_BC + 1, "collection_errors": [],
                              "generated_cases": {}}  # no contract suite in this run
    catalog = {c["file"]: c["sha256"] for c in meta["catalog"]}
    assert catalog["catalog/bettercharge.yaml"] == file_sha256(fixtures_dir() / "catalog" / "bettercharge.yaml")
    assert meta["openapi"][0]["api"] == "bettercharge" and meta["openapi"][0]["sha256"]
    expiry = parse_iso(meta["certificate_expires_at"]) - parse_iso(meta["finished_at"])
    assert expiry == dt.timedelta(days=90)
    assert meta["suites"]["files"] == 2

    # JUnit, Allure (one history id per parametrized case), HAR evidence, logs, audit
    cases = list(ET.parse(run / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == N_BC + 1
    names = {p.get("name") for c in cases for p in c.iter("property")}
    assert {"requirement", "provenance", "weight"} <= names and not names & TRANSPORT_PROPERTIES
    assert not (run / "allure-results").exists(), "kept as one archive"
    results = [json.loads(p.read_text()) for p in unpacked_allure(run).glob("*-result.json")]
    assert len(results) == N_BC + 1
    history = [r["historyId"] for r in results]
    assert len(set(history)) == len(history)
    (har,) = (run / "evidence").glob("*.har.gz")  # one compressed HAR per test module, one page per test
    index = json.loads((run / "evidence" / "index.json").read_text())["cases"]
    assert len(index) == 27 and {row["file"] for row in index} == {har.name}
    assert not list((run / "evidence").glob("*.spool.jsonl"))
    assert (run / "logs" / "pytest.log").is_file() and (run / "logs" / "progress.jsonl").is_file()
    assert json.loads((run / "leak-audit.json").read_text())["clean"] is True
    assert report["leak_audit"]["status"] == "clean"
    plain = [p for p in run.rglob("*") if p.is_file() and p.suffix not in (".zip", ".gz")]
    blob = "".join(p.read_text(errors="replace") for p in plain)
    blob += gzip.decompress(har.read_bytes()).decode()
    assert bettercharge().cards[0].pan not in blob and BC_API_KEY not in blob

    # the signed package, and the key beside the reports (never in the run)
    (package,) = run.glob("paycert-certification-*.zip")
    key = workspace / "out" / KEY_FILENAME
    assert key.is_file() and not list(run.rglob(KEY_FILENAME))
    if os.name == "posix":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert main(["verify", str(package), "--public-key", str(workspace / "out" / PUBLIC_FILENAME)]) == 0
    assert capsys.readouterr().out.startswith("VALID")


@pytest.mark.slow
def test_contract_and_infrastructure_failures(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = certify(workspace, monkeypatch, behaviour={"fail": ["BC-CARD-03"], "infra": ["BC-CARD-04"]})
    out = capsys.readouterr().out
    assert code == 1
    run = latest(workspace)
    report = load_report(run / "report.json")
    v = report["verdict"]
    assert v["contract_failures"] == ["BC-CARD-03"] and v["infrastructure_failures"] == ["BC-CARD-04"]
    assert [r["id"] for r in report["requirements"][:2]] == ["BC-CARD-03", "BC-CARD-04"]
    assert "contract failures (1): BC-CARD-03" in out
    assert "infrastructure failures (rerun may help) (1): BC-CARD-04" in out
    assert "no certification package" in out and not list(run.glob("*.zip"))
    failing = next(t for t in report["tests"] if t["requirements"] == ["BC-CARD-03"])
    assert failing["classification"] == "contract" and "555555******4444" in failing["message"]
    # the assertion printed the card number; the run plugin masked it at the source, so the audit is clean
    assert report["leak_audit"]["status"] == "clean"
    assert "555555******4444" in (run / "junit.xml").read_text()

    # `paycert report RUN` prints the same summary from the written report
    assert main(["report", "latest", "--out", str(workspace / "out")]) == 0
    out = capsys.readouterr().out
    assert "NOT READY for go-live" in out and "contract failures (1): BC-CARD-03" in out and "test cards" in out
    assert main(["report", str(run), "--out", str(workspace / "out")]) == 0
    assert main(["report", "no-such-run", "--out", str(workspace / "out")]) == 2


@pytest.mark.slow
def test_sandbox_run_lists_not_verifiable_requirements_and_can_be_ready(workspace: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert certify(workspace, monkeypatch, "--target", "sandbox") == 0
    out = capsys.readouterr().out
    report = load_report(latest(workspace) / "report.json")
    assert report["run"]["target"] == "sandbox" and report["run"]["simulator"] is None
    assert report["run"]["base_urls"] == {"bettercharge": "https://sandbox.example.test"}
    assert len(report["verdict"]["not_verifiable"]) == N_SIM_ONLY
    assert report["coverage"]["total"]["passed"] == N_BC - N_SIM_ONLY
    assert f"not verifiable on this target ({N_SIM_ONLY})" in out

    # a requirement the catalog says a sandbox can verify, but the suite cannot: blocks
    verifiable = next(r.id for r in bc_requirements("error") if not r.simulator_only)
    assert certify(workspace, monkeypatch, "--target", "sandbox", behaviour={"simulator_only": [verifiable]}) == 1
    report = load_report(latest(workspace) / "report.json")
    assert report["verdict"]["blocking"] == [verifiable]


@pytest.mark.slow
def test_requirement_without_test_fails_the_gate(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rate = bc_requirements("rate-limit")[0].id
    assert certify(workspace, monkeypatch, behaviour={"omit": [rate]}) == 1
    out = capsys.readouterr().out
    report = load_report(latest(workspace) / "report.json")
    assert report["verdict"]["untested"] == [rate]
    assert f"untested (no test names them) (1): {rate}" in out


@pytest.mark.slow
def test_waivers_applied_stale_and_expired(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    today = dt.datetime.now(dt.UTC).date()
    waivers = workspace / "waivers.yaml"
    waivers.write_text(
        f"waivers:\n"
        f"  - {{requirement: BC-CARD-03, owner: pay-team, reason: PAY-1, expiry: {today + dt.timedelta(days=30)}}}\n"
        f"  - {{requirement: BC-CARD-05, owner: pay-team, reason: PAY-2, expiry: {today + dt.timedelta(days=30)}}}\n"
        f"  - {{requirement: BC-CARD-06, owner: pay-team, reason: PAY-3, expiry: {today - dt.timedelta(days=1)}}}\n")
    assert certify(workspace, monkeypatch, "--waivers", str(waivers), behaviour={"fail": ["BC-CARD-03"]}) == 0
    out = capsys.readouterr().out
    report = load_report(latest(workspace) / "report.json")
    status = {w["requirement"]: w["status"] for w in report["waivers"]}
    assert status == {"BC-CARD-03": "applied", "BC-CARD-05": "not_needed", "BC-CARD-06": "expired"}
    assert report["verdict"]["waived"] == ["BC-CARD-03"] and report["verdict"]["stale_waivers"] == ["BC-CARD-05"]
    assert "waivers no longer needed (1): BC-CARD-05" in out and "expired waivers (ignored) (1): BC-CARD-06" in out
    assert report["run"]["waiver_file"]["sha256"] == file_sha256(waivers)


@pytest.mark.slow
def test_leak_in_an_artefact_fails_the_run_naming_file_and_position(workspace: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert certify(workspace, monkeypatch, behaviour={"leak": ["BC-CARD-01"]}) == 1
    out = capsys.readouterr().out
    run = latest(workspace)
    assert "LEAK AUDIT FAILED" in out
    assert "evidence/planted-debug.txt:2:6 (byte 16): pan 424242******4242" in out
    assert "evidence/planted-debug.txt:2:" in out and ": secret [REDACTED]" in out
    report = load_report(run / "report.json")
    assert report["leak_audit"]["status"] == "leaks_found" and not report["verdict"]["ready"]
    assert not list(run.glob("*.zip"))
    assert bettercharge().cards[0].pan not in out


@pytest.mark.slow
def test_other_api_selected_deselects_every_test(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAYCERT_FAKE_SUITE", "{}")
    code = main(["certify", "--api", "betterpayment", "--suites", str(workspace / "suite"), "--out",
                 str(workspace / "out"), "--workers", "0"])
    assert code == 1
    report = load_report(latest(workspace) / "report.json")
    assert report["run"]["apis"] == ["betterpayment"]
    assert [t["nodeid"].split("/")[-1] for t in report["tests"]] == ["test_fake_suite.py::test_without_requirement"]
    assert all(r["api"] == "betterpayment" and r["outcome"] == "untested" for r in report["requirements"])


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--env-file", "missing.env"], {}, "--env-file: no such file"),
    (["--workers", "-1"], {}, "--workers: must be 0 or more"),
    (["--waivers", "w.yaml"], {}, "w.yaml: entry 1: owner: Field required"),
    (["--suites", "nowhere"], {}, "suites directory not found"),
    ([], {"PAYCERT_SIGNING_KEY": "c2hvcnQ="}, "PAYCERT_SIGNING_KEY: base64 decodes to 5 bytes"),
])
def test_config_errors_are_one_line_exit_2_and_run_nothing(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], args: list[str],
                                                           env: dict[str, str], message: str) -> None:
    (workspace / "w.yaml").write_text("- {requirement: BC-CARD-01, reason: r, expiry: 2030-01-01}\n")
    for k, val in env.items():
        monkeypatch.setenv(k, val)
    argv = ["certify", "--out", str(workspace / "out"), *args]
    if "--suites" not in args:
        argv += ["--suites", str(workspace / "suite")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("paycert: ") and message in err
    assert not (workspace / "out" / "latest").exists()


def test_real_settings_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Without the test settings: a sandbox run with no credentials names the missing variable."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("PAYCERT_", "BETTERCHARGE_", "BETTERPAYMENT_")):
            monkeypatch.delenv(name)
    assert main(["certify", "--target", "sandbox", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "required when PAYCERT_TARGET=sandbox" in err


def test_pytest_command_passes_every_required_option(tmp_path: Path) -> None:
    options = CertifyOptions(apis=("bettercharge",), workers=3, env_file=Path("x.env"), allow_production=True)
    cmd = pytest_command(options, sim_settings("sandbox"), tmp_path / "suites", tmp_path / "run")
    joined = " ".join(cmd)
    for part in ("-m pytest", "--paycert-results", "--paycert-evidence", "--junitxml", "--alluredir",
                 "-p no:cacheprovider", "-n 3", "-p harness.report.run_plugin", "--paycert-apis bettercharge"):
        assert part in joined, part
    # the settings travel in a file, never on the command line
    for absent in ("--paycert-env-file", "--paycert-target", "--paycert-allow-production"):
        assert absent not in joined, absent


def test_progress_reader_reads_complete_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    reader = _ProgressReader(path)
    assert not reader.poll()
    path.write_text('{"event": "collected", "total": 3}\n{"event": "test", "nodeid": "a", "outcome": "passed"}\n'
                    '{"event": "test", "nodeid": "b", "outc')
    assert reader.poll() and (reader.total, reader.done) == (3, 1)
    with path.open("a") as handle:
        handle.write('ome": "failed"}\n{"event": "collect_error", "nodeid": "c.py", "message": "boom"}\n'
                     '{"event": "finished", "exitstatus": 1}\n')
    reader.poll()
    assert (reader.done, reader.counts, reader.exitstatus) == (2, {"passed": 1, "failed": 1}, 1)
    assert reader.collection_errors == {"c.py": "boom"}
    assert reader.describe() == "1 failed, 1 passed, 1 collection errors"


def test_resume_runs_only_what_did_not_pass(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An interrupted run (no results.json, no report: only what the plugin appended as tests ended) is resumed
    without running its passed tests again; the report judges the union and names the run it resumed."""
    assert certify(workspace, monkeypatch, behaviour={"fail": ["BC-CARD-03"]}) == 1
    first = latest(workspace)
    assert not (first / PARTIAL_RESULTS).exists(), "a finished run keeps one copy of its records: results.json"
    # as if killed before the end: the partial log holds what results.json would, and no report was written
    records = json.loads((first / "results.json").read_text())
    assert len(records) == N_BC + 1
    (first / PARTIAL_RESULTS).write_text("".join(json.dumps(r) + "\n" for r in records))
    for name in ("results.json", "report.json", "report.html"):
        (first / name).unlink()
    capsys.readouterr()

    assert certify(workspace, monkeypatch, "--resume", first.name) == 0  # the card is fixed now
    out = capsys.readouterr().out
    second = latest(workspace)
    assert second != first and f"resuming run {first.name}: its {N_BC} passed test(s) are not run again" in out
    ran = [json.loads(line) for line in (second / "logs" / "progress.jsonl").read_text().splitlines()]
    assert sorted(e["nodeid"].split("::")[-1] for e in ran if e["event"] == "test") == [
        "test_requirement[BC-CARD-03]"]
    report = load_report(second / "report.json")
    assert report["run"]["resumed_from"] == first.name and report["verdict"]["ready"]
    assert report["coverage"]["total"]["passed"] == N_BC
    carried = next(t for t in report["tests"] if t["nodeid"].endswith("[BC-CARD-01]"))
    assert carried["evidence"]["file"] is not None  # the passed test's evidence came along

    # a run of another target or scope cannot be resumed
    assert main(["certify", "--api", "bettercharge", "--target", "sandbox", "--suites", str(workspace / "suite"),
                 "--out", str(workspace / "out"), "--workers", "0", "--resume", first.name]) == 2
    assert "was for simulator / bettercharge, not sandbox / bettercharge" in capsys.readouterr().err


def test_most_tests_failing_the_same_way_stop_the_run_early(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    every = [r.id for r in bc_requirements()]
    assert certify(workspace, monkeypatch, behaviour={"fail": every}) == 1
    out = capsys.readouterr().out
    assert "stopped early: " in out and "failed with the same cause" in out and "the API broke the contract" in out
    report = load_report(latest(workspace) / "report.json")
    assert not report["verdict"]["ready"] and len(report["tests"]) < N_BC
    assert any(reason.startswith("stopped early") for reason in report["verdict"]["reasons"])


def test_a_run_whose_settings_cannot_be_read_stops_instead_of_running_unredacted(tmp_path: Path) -> None:
    """run_plugin needs the run's secrets to redact failure text: without them the run does not start."""
    import subprocess
    import sys

    broken = tmp_path / "settings.json"
    broken.write_text("{not json")
    (tmp_path / "test_x.py").write_text("def test_x():\n    assert False\n")
    env = {**os.environ, "PAYCERT_SETTINGS_FILE": str(broken), "PYTEST_ADDOPTS": "-p no:schemathesis"}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_x.py"), "-p",
                           "harness.report.run_plugin", "-p", "no:cacheprovider", "-q"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "paycert configuration: PAYCERT_SETTINGS_FILE: cannot read" in proc.stderr + proc.stdout
    assert "1 failed" not in proc.stdout


def test_provoked_429s_are_counted_apart_from_unplanned_ones(tmp_path: Path) -> None:
    """A budgeted sandbox run must have no unplanned 429; the rate-limit tests' own 429s are a separate count."""
    from harness.config import load_settings
    from harness.report.certify import spent_per_key

    path = tmp_path / "progress.jsonl"
    events = [{"event": "test", "nodeid": "a", "outcome": "passed", "requests": {"bettercharge": [101, 0, 1]}},
              {"event": "test", "nodeid": "b", "outcome": "passed", "requests": {"bettercharge": [3, 1, 0]}},
              {"event": "test", "nodeid": "c", "outcome": "passed", "requests": {"bettercharge": [2, 0]}}]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    reader = _ProgressReader(path)
    reader.poll()
    assert (reader.requests["bettercharge"], reader.rate_limited["bettercharge"],
            reader.provoked["bettercharge"]) == (106, 1, 1)
    (row,) = spent_per_key(load_settings(environ={}), ("bettercharge",), reader.requests, reader.rate_limited,
                           provoked=reader.provoked)
    assert (row["requests"], row["rate_limited"], row["provoked_429"]) == (106, 1, 1)


def test_progress_line_gives_requests_budget_and_an_eta_bounded_by_the_rate_limit(tmp_path: Path) -> None:
    from harness.report.progress import Budget, describe_run

    path = tmp_path / "progress.jsonl"
    events = [{"event": "collected", "total": 100}] + [
        {"event": "test", "nodeid": f"t{i}", "outcome": "passed", "requests": {"bettercharge": [4, 0]}}
        for i in range(10)]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    reader = _ProgressReader(path)
    reader.poll()
    line = describe_run(reader, [Budget("bettercharge", 100, 60.0, 40)])
    # 90 tests left x 4 requests at 100 per 60 s: at least 216 s, however fast the tests ran so far
    assert "10 passed" in line and "bettercharge 40 requests" in line and "budget 60/100 left" in line
    eta = line.split("ETA ")[1]
    assert eta.startswith(("3m", "4m")) and reader.common_cause() is None
    with path.open("a") as handle:
        for i in range(40):
            handle.write(json.dumps({"event": "test", "nodeid": f"f{i}", "outcome": "failed",
                                     "cause": "InfrastructureError: authorize: HTTP N after N attempt(s)"}) + "\n")
    reader.poll()
    assert reader.common_cause() == ("InfrastructureError: authorize: HTTP N after N attempt(s)", 40)


def test_allure_containers_merge_per_test_and_lose_no_step(tmp_path: Path) -> None:
    """One container per test that did not pass (the union of its fixtures' steps, in the order they ran);
    shared containers stay; a container of no test goes (Allure shows it nowhere), and so do those of a test
    that passed; the results lose the machine's labels only."""
    from harness.report.allure_results import compact

    def container(name: str, children: list[str], before: str, start: int) -> None:
        (tmp_path / f"{name}-container.json").write_text(json.dumps({
            "uuid": name, "children": children, "start": start, "stop": start + 5,
            "befores": [{"name": before, "status": "passed", "start": start, "stop": start + 1}],
            "afters": [{"name": f"{before}::<lambda>", "start": start + 4}]}))

    container("b", ["t1"], "second", 20)
    container("a", ["t1"], "first", 10)
    container("c", ["t2"], "alone", 30)
    container("s", ["t1", "t2"], "session", 1)
    (tmp_path / "o-container.json").write_text(json.dumps({"uuid": "o", "befores": [{"name": "side"}]}))
    labels = [{"name": "host", "value": "vm"}, {"name": "requirement", "value": "BC-CARD-01"},
              {"name": "thread", "value": "1-MainThread"}]
    (tmp_path / "t1-result.json").write_text(json.dumps({"uuid": "t1", "status": "failed", "labels": labels}))
    (tmp_path / "t2-result.json").write_text(json.dumps({"uuid": "t2", "status": "passed", "labels": labels}))
    container("p", ["t2"], "passed", 40)
    assert compact(tmp_path) == 4
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a-container.json", "s-container.json", "t1-result.json", "t2-result.json"]
    for result in ("t1", "t2"):
        kept = json.loads((tmp_path / f"{result}-result.json").read_text())["labels"]
        assert kept == [{"name": "requirement", "value": "BC-CARD-01"}]
    merged = json.loads((tmp_path / "a-container.json").read_text())
    assert merged["children"] == ["t1"] and (merged["start"], merged["stop"]) == (10, 25)
    assert [b["name"] for b in merged["befores"]] == ["first", "second"]
    assert [a["name"] for a in merged["afters"]] == ["first::<lambda>", "second::<lambda>"]
    assert json.loads((tmp_path / "s-container.json").read_text())["children"] == ["t1", "t2"]


def test_junit_keeps_the_promised_properties_and_drops_the_plugins_bookkeeping(tmp_path: Path) -> None:
    """CI dashboards read requirement, provenance and weight (README) and what a test records itself; the
    plugin's transport properties (requirement lists, requests spent, case counts) were a third of junit.xml."""
    from harness.report.junit import drop_transport_properties

    kept = [("requirement", "BC-CARD-01"), ("provenance", "documented"), ("weight", "mandatory"),
            ("observed", "HTTP 201")]
    props = "".join(f'<property name="{n}" value="{v}" />' for n, v in kept)
    props += "".join(f'<property name="{n}" value="x" />' for n in sorted(TRANSPORT_PROPERTIES))
    path = tmp_path / "junit.xml"
    path.write_text(f'<testsuites><testsuite name="pytest" tests="2"><testcase classname="a" name="t1">'
                    f'<properties>{props}</properties></testcase><testcase classname="a" name="t2"><properties>'
                    f'<property name="requests" value="{{}}" /></properties></testcase></testsuite></testsuites>')
    assert drop_transport_properties(path) == len(TRANSPORT_PROPERTIES) + 1
    cases = {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}
    assert [(p.get("name"), p.get("value")) for p in cases["t1"].iter("property")] == kept
    assert cases["t2"].find("properties") is None, "no empty <properties/> left behind"
    (tmp_path / "broken.xml").write_text("<testsuites")
    assert drop_transport_properties(tmp_path / "broken.xml") == 0
    assert drop_transport_properties(tmp_path / "missing.xml") == 0
