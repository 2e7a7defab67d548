"""`paycert certify`: run the suites, judge, report, audit, sign.

    1. check everything that can be wrong before the long part: settings, waivers, signing key, suites
    2. run pytest (pytest-xdist, the paycert plugin, JUnit, Allure, HAR evidence) in a child process, with a
       progress bar fed by harness.report.run_plugin's event file; the child's output goes to logs/pytest.log
    3. build report.json and report.html from the catalog, the results and the evidence
    4. leak-audit every file of the run; a finding makes the run fail and is written into the report
    5. when the verdict is ready: build the signed package (and audit it)
    6. point <out>/latest at the run and print the summary

Why a child process: the suites import the clients, start simulators and install an evidence recorder; none
of that should live in the process that judges them, and an interrupted run still leaves a readable report.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.catalog import Requirement, all_requirements, known_pans
from harness.config import (
    APIS,
    SETTINGS_FILE_ENV,
    Settings,
    load_settings,
    remove_settings_file,
    write_settings_file,
)
from harness.paths import fixtures_override
from harness.report import leak_audit, metadata, resume
from harness.report.allure_results import archive, compact
from harness.report.calibration import apply_to_report
from harness.report.console import print_summary, say
from harness.report.errors import ReportError
from harness.report.evidence_view import EvidenceReader
from harness.report.history import load_baseline
from harness.report.html import render_html
from harness.report.junit import drop_transport_properties
from harness.report.model import LeakSection, RunInfo, build_report, dump_report
from harness.report.package import build_package
from harness.report.preflight import print_preflight, run_preflight
from harness.report.progress import Budget, ProgressReader, describe_run
from harness.report.results import TestRecord, load_results
from harness.report.runs import update_latest
from harness.report.signing import Signer, load_signer
from harness.report.versions import api_versions, apply_fixtures
from harness.report.waivers import WaiverFile, load_waivers

SUITES_ENV: Final = "PAYCERT_SUITES_DIR"
_REPORT_FILES: Final = ("report.json", "report.html")


@dataclass(frozen=True)
class CertifyOptions:
    apis: tuple[str, ...] = APIS
    target: str | None = None
    env_file: Path | None = None
    workers: int = 4
    out_dir: Path = Path("reports")
    waivers: Path | None = None
    allow_production: bool = False
    suites_dir: Path | None = None
    pytest_args: tuple[str, ...] = ()
    baseline: str | None = None  # a run to compare against (RUN or 'latest'); a regression fails the run
    fixtures: Path | None = None  # another API version's fixtures directory (harness.report.versions)
    resume: str | None = None  # a run (directory, id or latest) whose passed tests are not run again


@dataclass
class CertifyResult:
    exit_code: int
    run_dir: Path
    report: dict[str, Any]
    audit: leak_audit.AuditResult
    package: Path | None = None
    problems: list[str] = field(default_factory=list)


def parse_apis(value: str) -> tuple[str, ...]:
    """--api betterpayment|bettercharge|all."""
    if value == "all":
        return APIS
    if value not in APIS:
        raise ReportError(f"--api: must be one of {', '.join(APIS)} or all, got {value!r}")
    return (value,)


@dataclass
class _PytestRun:
    exit_code: int | None
    collected: int | None
    collection_errors: list[dict[str, str]]
    stopped_early: str | None = None
    requests: dict[str, int] = field(default_factory=dict)
    rate_limited: dict[str, int] = field(default_factory=dict)
    provoked: dict[str, int] = field(default_factory=dict)


def _plugin_args() -> list[str]:
    """Load harness.plugin explicitly only when its pytest11 entry point is not installed."""
    installed = any(ep.value.split(":")[0] == "harness.plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "harness.plugin"]


def pytest_command(options: CertifyOptions, settings: Settings, suites: Path, run_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", str(suites), *_plugin_args(), "-p", "harness.report.run_plugin",
           "-p", "no:cacheprovider", "-q", "--color=no", "--tb=short",
           "--paycert-results", str(run_dir / "results.json"),
           "--paycert-evidence", str(run_dir / "evidence"),
           "--junitxml", str(run_dir / "junit.xml"),
           "--alluredir", str(run_dir / "allure-results"),
           "--paycert-apis", ",".join(options.apis),
           "--paycert-progress", str(run_dir / "logs" / "progress.jsonl")]
    if importlib.util.find_spec("xdist") is not None:
        # worksteal: an idle worker takes tests queued on a busy one, so a long contract test started first is
        # not followed by a queue of short tests waiting behind it.
        cmd += ["-n", str(options.workers), "--dist", "worksteal"]
    return cmd + list(options.pytest_args)


def child_environment(settings: Settings, settings_file: Path) -> dict[str, str]:
    """The child pytest's environment: ours, plus the settings file (no secret ever goes on its command line)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    env[SETTINGS_FILE_ENV] = str(settings_file)
    if settings.ca_bundle:  # httpx and requests trust these CAs in every process of the run
        env["SSL_CERT_FILE"] = env["REQUESTS_CA_BUNDLE"] = settings.ca_bundle
    return env


def _run_pytest(cmd: Sequence[str], run_dir: Path, console: Console, settings: Settings) -> _PytestRun:
    # The contract suite's case counts (per API and kind), for the report: a variable of the handed settings, as
    # the child reads every variable.
    from harness.contract.counts import STATS_ENV

    stats = {STATS_ENV: str(run_dir / "logs" / "contract-cases.json")}
    settings_file = write_settings_file(replace(settings, variables={**settings.variables, **stats}))
    try:
        return _run_pytest_with(cmd, run_dir, console, child_environment(settings, settings_file), settings)
    finally:
        remove_settings_file(settings_file)


def _run_pytest_with(cmd: Sequence[str], run_dir: Path, console: Console, env: dict[str, str],
                     settings: Settings) -> _PytestRun:
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    reader = ProgressReader(logs / "progress.jsonl")
    # Reproducible runs: schemathesis' generation (seeded by the contract suite) also depends on set ordering,
    # i.e. on the hash seed; with a random one, negative-data generation for a few operations occasionally
    # fails inside hypothesis-jsonschema. A user may still choose another value.
    env.setdefault("PYTHONHASHSEED", "0")
    # Byte-code caches: without them every process of the run (the controller and each worker) compiles, and
    # pytest assertion-rewrites, schemathesis and hypothesis again, seconds of CPU each. A user who turned them
    # off (PYTHONDONTWRITEBYTECODE) gets them under paycert's cache directory, never in their tree.
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        from harness.contract.cases import default_cache_dir

        env.setdefault("PYTHONPYCACHEPREFIX", str(default_cache_dir(settings.variables) / "pycache"))
    log_path = logs / "pytest.log"
    stopped: str | None = None
    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            stopped = _follow(proc, reader, console, _budgets(settings))
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=30)
            raise
    reader.poll()
    if stopped:
        say(console, stopped)
    elif proc.returncode not in (0, 1, 5):
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-12:]
        say(console, f"pytest ended with exit code {proc.returncode}; last lines of {log_path}:")
        for line in tail:
            say(console, f"  {line}")
    errors = [{"nodeid": n, "message": m} for n, m in reader.collection_errors.items()]
    return _PytestRun(proc.returncode, reader.total, errors, stopped, dict(reader.requests),
                      dict(reader.rate_limited), dict(reader.provoked))


def _budgets(settings: Settings) -> Callable[[], list[Budget]]:
    """The rate-limited keys of this run (BetterCharge on a sandbox), read live from the shared budget file."""
    if settings.target != "sandbox" or "bettercharge" not in settings.apis:
        return lambda: []
    from harness.clients.bettercharge import rate_limit_budget

    budget = rate_limit_budget(settings.bettercharge.api_key, directory=settings.budget_dir)
    return lambda: [Budget("bettercharge", budget.limit, budget.window, budget.in_window())]


def _stop_early(proc: subprocess.Popen[bytes], reader: ProgressReader) -> str | None:
    common = reader.common_cause()
    if common is None:
        return None
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    cause, count = common
    return (f"stopped early: {count} of {reader.done} finished tests failed with the same cause, so the other "
            f"{(reader.total or reader.done) - reader.done} were not run: {cause}")


def _follow(proc: subprocess.Popen[bytes], reader: ProgressReader, console: Console,
            budgets: Callable[[], list[Budget]]) -> str | None:
    """Show progress until the child ends; returns a message if the run was stopped early."""
    stopped: str | None = None
    if console.is_terminal:
        columns = (TextColumn("[bold]certifying[/]"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("tests", total=None, detail="collecting")
            while proc.poll() is None:
                if reader.poll():
                    progress.update(task, total=reader.total, completed=reader.done,
                                    detail=describe_run(reader, budgets()))
                    stopped = _stop_early(proc, reader)
                time.sleep(0.2)
            reader.poll()
            progress.update(task, total=reader.total or reader.done, completed=reader.done,
                            detail=describe_run(reader, budgets()))
        return stopped
    last = 0.0  # not a terminal (CI): a plain line once the count is known, then every 30 s
    announced = False
    while proc.poll() is None:
        if reader.poll():
            stopped = _stop_early(proc, reader)
        if (reader.total is not None and not announced) or time.monotonic() - last >= 30:
            announced = announced or reader.total is not None
            last = time.monotonic()
            say(console, f"progress: {reader.done}/{reader.total if reader.total is not None else '?'} tests "
                         f"({describe_run(reader, budgets())})")
        time.sleep(0.2)
    reader.poll()
    say(console, f"progress: {reader.done}/{reader.total if reader.total is not None else reader.done} tests "
                 f"({describe_run(reader, budgets())})")
    return stopped


def _generated_cases(path: Path) -> dict[str, dict[str, int]]:
    """The contract suite's counts (suites/contract/conftest.py writes them); {} when it did not run."""
    try:
        apis = json.loads(path.read_text(encoding="utf-8"))["apis"]
        return {str(api): {str(k): int(n) for k, n in row["by_kind"].items()} for api, row in apis.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _base_urls(settings: Settings, apis: Sequence[str]) -> tuple[dict[str, str], str | None]:
    if settings.target == "sandbox":
        return {api: metadata.public_url(getattr(settings, api).base_url) for api in apis}, None
    if settings.simulator_url:
        return {api: metadata.public_url(settings.simulator_url) for api in apis}, "external"
    return {}, "embedded"


def spent_per_key(settings: Settings, apis: Sequence[str], requests: Mapping[str, int],
                  rate_limited: Mapping[str, int], preflight: Sequence[Any] = (),
                  provoked: Mapping[str, int] | None = None) -> tuple[dict[str, Any], ...]:
    """Requests the run sent per API key (named by a hash, never the key), preflight included, and their 429s:
    `rate_limited` the unplanned ones (the budget failed to avoid them), `provoked_429` the ones tests marked
    provokes_rate_limit asked for."""
    import hashlib

    before = {c.api: c.requests for c in preflight}
    rows = []
    for api in apis:
        key = settings.bettercharge.api_key if api == "bettercharge" else settings.betterpayment.api_key
        rows.append({"api": api, "key": "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16],
                     "requests": int(requests.get(api, 0)) + before.get(api, 0),
                     "rate_limited": int(rate_limited.get(api, 0)),
                     "provoked_429": int((provoked or {}).get(api, 0))})
    return tuple(rows)


def _write_reports(run_dir: Path, report: dict[str, Any], evidence: EvidenceReader | None = None) -> None:
    (run_dir / "report.json").write_text(dump_report(report), encoding="utf-8")
    (run_dir / "report.html").write_text(render_html(report, evidence), encoding="utf-8")


@dataclass
class _Inputs:
    settings: Settings
    environ: dict[str, str]
    requirements: list[Requirement]
    waivers: WaiverFile | None
    signer: Signer
    suites: Path
    baseline: dict[str, Any] | None = None


def prepare(options: CertifyOptions, settings: Settings | None = None) -> _Inputs:
    """Every check that can fail fast, before a long run: ConfigError/ReportError with one line."""
    if options.workers < 0:
        raise ReportError(f"--workers: must be 0 or more, got {options.workers}")
    for api in options.apis:
        if api not in APIS:
            raise ReportError(f"--api: unknown API {api!r}")
    apply_fixtures(options.fixtures)
    if settings is None:
        settings = load_settings(options.env_file, target=options.target, allow_production=options.allow_production,
                                 apis=options.apis)
    environ = dict(settings.variables)
    catalog = all_requirements()
    waivers = load_waivers(options.waivers, [r.id for r in catalog]) if options.waivers else None
    suites = options.suites_dir or _default_suites(environ)
    if not suites.is_dir():
        raise ReportError(f"suites directory not found: {suites}")
    try:
        options.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"--out: cannot create {options.out_dir}: {exc}") from None
    baseline = load_baseline(options.baseline, options.out_dir)  # before this run moves `latest`
    signer = load_signer(environ, options.out_dir)
    return _Inputs(settings, environ, [r for r in catalog if r.api in options.apis], waivers, signer, suites,
                   baseline)


def _default_suites(environ: Mapping[str, str]) -> Path:
    from harness.paths import suites_dir

    override = environ.get(SUITES_ENV, "").strip()
    return Path(override) if override else suites_dir()


def certify(options: CertifyOptions, console: Console, *, settings: Settings | None = None) -> CertifyResult:
    """The whole certification run; returns the exit code (0 only when ready, audited clean and signed)."""
    inputs = prepare(options, settings)
    preflight = run_preflight(inputs.settings, options.apis)
    print_preflight(preflight, lambda line: say(console, line))
    if not preflight.ok:
        raise ReportError(f"preflight failed ({sum(f.fatal for f in preflight.findings)} problem(s) above); nothing "
                          "was run: fix the named settings (paycert check repeats the checks)")
    started = metadata.utc_now()
    run_id = metadata.new_run_id(started)
    run_dir = options.out_dir / run_id
    resumed = (resume.load_resumable(options.resume, options.out_dir, inputs.settings.target, options.apis)
               if options.resume else None)
    run_dir.mkdir(parents=True)
    resume.write_meta(run_dir, inputs.settings.target, options.apis)
    say(console, f"paycert certify: run {run_id} · target {inputs.settings.target} · {', '.join(options.apis)} "
                 f"· {len(inputs.requirements)} requirements · output {run_dir}")
    cmd = pytest_command(options, inputs.settings, inputs.suites, run_dir)
    if resumed is not None:
        say(console, f"resuming run {resumed.run_id}: its {len(resumed.passed)} passed test(s) are not run again")
        resume.copy_evidence(resumed, run_dir)
        cmd += ["--paycert-skip", str(resume.write_skip_file(resumed, run_dir))]
    pytest_run = _run_pytest(cmd, run_dir, console, inputs.settings)
    if resumed is not None:
        resume.merge_results(resumed, run_dir)
    compact(run_dir / "allure-results")
    archive(run_dir / "allure-results")
    drop_transport_properties(run_dir / "junit.xml")
    finished = metadata.utc_now()

    problems: list[str] = [pytest_run.stopped_early] if pytest_run.stopped_early else []
    records: list[TestRecord] = []
    try:
        records = load_results(run_dir / "results.json")
        raw_results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except ReportError as exc:
        problems.append(f"no usable test results ({exc})")
        raw_results = []
    base_urls, simulator = _base_urls(inputs.settings, options.apis)
    info = RunInfo(
        run_id=run_id, target=inputs.settings.target, apis=tuple(options.apis), started=started, finished=finished,
        operator=metadata.operator(inputs.environ), base_urls=base_urls, simulator=simulator,
        catalog=metadata.catalog_hashes(), openapi=metadata.openapi_hashes(options.apis),
        suites=metadata.tree_digest(inputs.suites),
        waiver_file=({"path": str(inputs.waivers.path), "sha256": metadata.file_sha256(inputs.waivers.path)}
                     if inputs.waivers else None),
        pytest_exit_code=pytest_run.exit_code, workers=options.workers, collected=pytest_run.collected,
        collection_errors=pytest_run.collection_errors, problems=tuple(problems),
        api_versions=api_versions(options.apis),
        fixtures=str(fixtures_override()) if fixtures_override() is not None else None,
        resumed_from=resumed.run_id if resumed else None,
        requests=spent_per_key(inputs.settings, options.apis, pytest_run.requests, pytest_run.rate_limited,
                               preflight.checks, pytest_run.provoked),
        generated_cases=_generated_cases(run_dir / "logs" / "contract-cases.json"),
    )
    secrets = [*inputs.settings.secrets, *inputs.signer.secret_forms()]
    pans = list(known_pans())
    result = judge_and_write(run_dir, info, inputs.requirements, records,
                             inputs.waivers.waivers if inputs.waivers else (), secrets, pans, raw_results,
                             baseline=inputs.baseline)
    if result.report["verdict"]["ready"]:
        package = build_package(run_dir, result.report, inputs.signer)
        window = leak_audit.TimeWindow.around(started, finished)
        package_audit = leak_audit.audit_paths(run_dir, [package], secrets=secrets, known_pans=pans, window=window)
        if package_audit.clean:
            result.package = package
        else:
            package.unlink()
            result.audit = leak_audit.AuditResult(result.audit.files_scanned + package_audit.files_scanned,
                                                  result.audit.findings + package_audit.findings)
            leak_audit.write_audit(run_dir / "leak-audit.json", result.audit)
            result.problems.append("the package failed the leak audit and was deleted")
    update_latest(options.out_dir, run_id)

    print_summary(console, result.report, location=str(run_dir))
    for problem in result.problems:
        say(console, f"problem: {problem}")
    if not result.audit.clean:
        say(console, f"LEAK AUDIT FAILED: {len(result.audit.findings)} finding(s), see {run_dir / 'leak-audit.json'}")
        for finding in result.audit.findings[:20]:
            say(console, f"  {finding.describe()}")
    if result.package:
        say(console, f"signed package: {result.package} (key {inputs.signer.fingerprint}, {inputs.signer.source})")
    else:
        say(console, "no certification package: the verdict is not ready")
    regressions = result.report.get("baseline", {}).get("regressions", [])
    result.exit_code = 0 if result.package is not None and result.audit.clean and not regressions else 1
    return result


def judge_and_write(
    run_dir: Path,
    info: RunInfo,
    requirements: Sequence[Requirement],
    records: Sequence[TestRecord],
    waivers: Sequence[Any],
    secrets: Sequence[str],
    known_pans: Sequence[str],
    raw_results: Sequence[Mapping[str, Any]] = (),
    *,
    baseline: dict[str, Any] | None = None,
) -> CertifyResult:
    """Build and write the report, leak-audit the run directory, and write the audit's result into the report.

    The report is first written claiming a clean audit over the files present; when the audit agrees, that is
    the final report. Otherwise it is rewritten with the findings (verdict not ready) and report.json and
    report.html are audited once more, so leak-audit.json holds final positions for every file.
    """
    evidence = EvidenceReader(run_dir / "evidence", secrets=secrets, known_pans=known_pans)
    window = leak_audit.TimeWindow.around(info.started, info.finished)

    def build(leak: LeakSection) -> dict[str, Any]:
        return apply_to_report(build_report(info=info, requirements=requirements, records=records, waivers=waivers,
                                            evidence=evidence, leak=leak, secrets=secrets, known_pans=known_pans,
                                            baseline=baseline),
                               raw_results)

    _write_reports(run_dir, build(LeakSection("clean", 0, (), leak_audit.RULES)), evidence)
    scanned = sum(1 for p in run_dir.rglob("*") if p.is_file()) + 1  # + leak-audit.json, written below
    report = build(LeakSection("clean", scanned, (), leak_audit.RULES))
    _write_reports(run_dir, report, evidence)
    audit = leak_audit.audit_paths(run_dir, secrets=secrets, known_pans=known_pans, window=window)
    if not audit.clean:
        report = build(LeakSection("leaks_found", audit.files_scanned, tuple(f.to_json() for f in audit.findings),
                                   leak_audit.RULES))
        _write_reports(run_dir, report, evidence)
        again = leak_audit.audit_paths(run_dir, [run_dir / n for n in _REPORT_FILES], secrets=secrets,
                                       known_pans=known_pans, window=window)
        others = tuple(f for f in audit.findings if f.file not in _REPORT_FILES)
        audit = leak_audit.AuditResult(audit.files_scanned, others + again.findings)
    leak_audit.write_audit(run_dir / "leak-audit.json", audit)
    tail = leak_audit.audit_paths(run_dir, [run_dir / "leak-audit.json"], secrets=secrets, known_pans=known_pans,
                                  window=window)
    # leak-audit.json holds masked values only, but the audit covers every artefact, itself included
    audit = leak_audit.AuditResult(audit.files_scanned + tail.files_scanned, audit.findings + tail.findings)
    return CertifyResult(exit_code=1, run_dir=run_dir, report=report, audit=audit)
