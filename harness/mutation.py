"""Mutation score of the certification suites: does each deliberate simulator defect make them fail?

Why: a suite that passes against a correct simulator proves little on its own; it must also fail against a
wrong one. The simulator registers named defects (harness/simulator/defects.py, each with the API and area it
breaks). For every defect this module runs that API's certification suite (`suites/<api>`) in a fresh pytest
process whose embedded simulator starts with only that defect switched on (``PAYCERT_SIMULATOR_DEFECTS=<name>``,
which survives the plugin's per-test reset). The defect is *caught* when the suite run fails; it *escapes* when the
suite passes. The score is caught / total; the project's tests require 100%. The defects of an API run in batches,
one pytest process per batch (harness/mutation_batch.py switches the simulator from defect to defect and runs the
suite again for each): the same tests in the same order as a process per defect, without its start-up each time.

    from harness.mutation import run_mutations
    result = run_mutations(api="bettercharge", workers=2)
    result.score, result.escaped_names

Before the defects, a baseline run of each suite without any defect must pass: a suite that fails on a correct
simulator would "catch" every defect and the score would mean nothing, so such a run is reported as an error.

Several suite runs go at once (``workers`` of them, each pytest process single-threaded with ``-n 0`` by
default), so a 2-core machine is kept busy without oversubscribing it; ``-x`` stops a run at the first failure,
which is all a caught defect needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

from harness.errors import MutationError
from harness.mutation_first import FIRST_ENV
from harness.paths import suites_dir as default_suites_dir

__all__ = [
    "API_CHOICES",
    "BASELINE",
    "DefectOutcome",
    "MutationError",
    "MutationResult",
    "registered_defects",
    "run_mutations",
    "run_suite",
    "suite_arguments",
]

API_CHOICES: tuple[str, ...] = ("all", "bettercharge", "betterpayment")
BASELINE = "(none)"
DEFECTS_ENV = "PAYCERT_SIMULATOR_DEFECTS"
# Per suite run; a run that hangs this long is reported as an error, never as caught.
DEFAULT_RUN_TIMEOUT = 900.0

# A defect run is caught (the suite failed), escaped (it passed) or an error (it never ran properly); a baseline
# run (no defect) is passed or failed.
Status = Literal["caught", "escaped", "error", "passed", "failed"]

# pytest's short summary lines under -q: "FAILED path::test[id] - message" / "ERROR path::test - message".
_SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+)")


@dataclass(frozen=True)
class DefectOutcome:
    """One suite run: against one defect, or (defect == BASELINE) against the correct simulator."""

    defect: str
    api: str
    area: str
    description: str
    status: Status
    caught_by: str | None  # the first failing test id, when caught
    seconds: float
    returncode: int | None
    detail: str = ""  # for errors: why; for escapes: the tail of the run's output

    @property
    def caught(self) -> bool:
        return self.status == "caught"


@dataclass
class MutationResult:
    """Every defect's outcome, the baseline runs, and the wall-clock time of the whole run."""

    outcomes: list[DefectOutcome]
    baselines: list[DefectOutcome] = field(default_factory=list)
    total_seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def caught(self) -> int:
        return sum(o.caught for o in self.outcomes)

    @property
    def score(self) -> float:
        """Caught / total, 0.0 to 1.0 (0.0 when there is nothing to score)."""
        return self.caught / self.total if self.total else 0.0

    @property
    def escaped_names(self) -> list[str]:
        """Defects the suites did not catch (escaped, or the run broke: an error is never a catch)."""
        return [o.defect for o in self.outcomes if not o.caught]

    @property
    def baseline_failures(self) -> list[DefectOutcome]:
        return [b for b in self.baselines if b.status != "passed"]

    @property
    def ok(self) -> bool:
        """100% caught, with every baseline passing."""
        return self.total > 0 and not self.escaped_names and not self.baseline_failures

    def summary(self) -> str:
        line = f"mutation score {self.caught}/{self.total} ({self.score:.0%}) in {self.total_seconds:.1f} s"
        if self.escaped_names:
            line += "; not caught: " + ", ".join(self.escaped_names)
        if self.baseline_failures:
            line += "; baseline failed for " + ", ".join(b.api for b in self.baseline_failures)
        return line

    def table(self) -> Table:
        table = Table(title="paycert mutation run: deliberate simulator defects against the certification suites")
        table.add_column("defect")
        table.add_column("api")
        table.add_column("area")
        table.add_column("result")
        table.add_column("caught by")
        table.add_column("time", justify="right")
        style = {"caught": "green", "escaped": "bold red", "error": "bold yellow", "passed": "green",
                 "failed": "bold red"}
        for o in sorted(self.outcomes, key=lambda o: (o.api, o.area, o.defect)):
            table.add_row(o.defect, o.api, o.area, f"[{style[o.status]}]{o.status}[/]",
                          o.caught_by or (o.detail.splitlines()[0][:80] if o.status == "error" and o.detail else "—"),
                          f"{o.seconds:.1f} s")
        return table

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form, for the report and for `paycert mutate --json`."""
        def row(o: DefectOutcome) -> dict[str, object]:
            return {"defect": o.defect, "api": o.api, "area": o.area, "description": o.description,
                    "status": o.status, "caught_by": o.caught_by, "seconds": round(o.seconds, 2),
                    "returncode": o.returncode}

        return {"caught": self.caught, "total": self.total, "score": self.score,
                "escaped": self.escaped_names, "total_seconds": round(self.total_seconds, 2),
                "baselines": [row(b) for b in self.baselines], "defects": [row(o) for o in self.outcomes]}


def registered_defects() -> list[tuple[str, str, str, str]]:
    """(name, api, area, description) of every registered defect.

    The simulator's API packages register their defects when they are imported, which building the app does;
    importing harness.simulator.app is what makes the registry complete.
    """
    import harness.simulator.app  # noqa: F401  (registers every API's defects)
    from harness.simulator import defects

    return [(d.name, d.api, d.area, d.description) for d in defects.all_defects()]


def _select(api: str, names: Sequence[str] | None) -> list[tuple[str, str, str, str]]:
    if api not in API_CHOICES:
        raise MutationError(f"api must be one of {', '.join(API_CHOICES)}, got {api!r}")
    known = registered_defects()
    by_name = {d[0]: d for d in known}
    if names:
        unknown = sorted(set(names) - set(by_name))
        if unknown:
            raise MutationError(f"unknown defects: {', '.join(unknown)} (registered: {len(by_name)})")
        chosen = [by_name[n] for n in dict.fromkeys(names)]
    else:
        chosen = known
    return [d for d in chosen if api == "all" or d[1] == api]


def _first_tests(defect: str) -> str:
    """Node-id text of the tests a defect is aimed at: an off-by-one defect's two boundary tests, else none."""
    import harness.simulator.app  # noqa: F401  (registers every API's defects, the off-by-one ones too)
    from harness.simulator import boundaries

    b = boundaries.boundary_of(defect)
    return f"[{b.id}-" if b is not None else ""


def _first_failure(results_file: Path, output: str) -> str | None:
    """The first failing test id: from the plugin's results file, else from pytest's short summary."""
    try:
        records = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        records = []
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict) and record.get("outcome") in ("failed", "error"):
            return str(record.get("nodeid"))
    for line in output.splitlines():
        match = _SUMMARY.match(line.strip())
        if match:
            return match.group(2)
    return None


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) > 2}


def suite_arguments(suite: Path, hint: str = "") -> list[str]:
    """The suite's test modules, those whose name shares a word with `hint` (the defect's area and name) first.

    Only the order changes, never the set: every module still runs unless an earlier one already failed, so
    "caught" means the same; with ``-x`` a defect is merely caught sooner by the module most likely to see it.
    """
    modules = sorted(suite.resolve().glob("test_*.py"))
    if not modules:
        return [str(suite.resolve())]
    wanted = _words(hint)

    def related(module: Path) -> bool:  # "postback" ~ "postbacks", "status" ~ "statuses"
        return any(a.startswith(b) or b.startswith(a) for a in _words(module.stem) - {"test"} for b in wanted
                   if min(len(a), len(b)) >= 3)

    first = [m for m in modules if related(m)]
    return [str(m) for m in first + [m for m in modules if m not in first]]


#: Plugins the hand-written suites never use: the schemathesis plugin alone took most of a defect run's start-up
#: (collecting suites/bettercharge: 17.6 s with it, 6.3 s without, on the loaded 2-core machine), hypothesis's
#: plugin imports hypothesis (1.2 s), and the mutation score starts one pytest per defect. Allure output is
#: certify's, not the score's.
UNUSED_PLUGINS: tuple[str, ...] = ("-p", "no:schemathesis", "-p", "no:allure_pytest", "-p", "no:hypothesispytest")


def _suite_env(defects: str | None) -> dict[str, str]:
    """The environment of a suite run: ours, less xdist's and the mutation's own variables, always against the
    embedded simulator (only it can carry a defect), with PAYCERT_SIMULATOR_DEFECTS set to `defects`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))
           and k not in ("PAYCERT_SIMULATOR_URL", FIRST_ENV, DEFECTS_ENV)}
    env["PAYCERT_TARGET"] = "simulator"
    if defects:
        env[DEFECTS_ENV] = defects
    return env


def run_suite(
    suite: Path,
    defect: str | None,
    *,
    pytest_workers: int = 0,
    timeout: float = DEFAULT_RUN_TIMEOUT,
    extra_args: Iterable[str] = (),
    hint: str = "",
    first: str = "",
) -> tuple[Status, str | None, float, int | None, str]:
    """Run one suite directory in a fresh pytest process against the embedded simulator with `defect` on.

    Returns (status, first failing test id, seconds, return code, detail). Exit code 1 (tests failed) means
    caught; 0 means the suite passed (escaped); anything else (no tests, usage error, crash, timeout) is an
    error, because a suite that never ran has caught nothing.
    """
    env = _suite_env(defect)
    if first:  # tests whose node id contains this run first (harness/mutation_first.py); the set is the same
        env[FIRST_ENV] = first
    with tempfile.TemporaryDirectory(prefix="paycert-mutation-") as tmp:
        results = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "pytest", *suite_arguments(suite, hint), "-x", "-q", "-n", str(pytest_workers),
                   "-p", "no:cacheprovider", "-p", "harness.mutation_first", *UNUSED_PLUGINS,
                   "--paycert-results", str(results),
                   *extra_args]
        started = time.monotonic()
        try:
            # In an empty directory: a .env where the suites live (a developer's sandbox credentials) must never
            # reach a run against the embedded simulator.
            done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return "error", None, time.monotonic() - started, None, f"timed out after {timeout:g} s\n{_tail(out)}"
        seconds = time.monotonic() - started
        output = done.stdout + done.stderr
        if done.returncode == 1:
            return "caught", _first_failure(results, output), seconds, 1, ""
        if done.returncode == 0:
            return "escaped", None, seconds, 0, _tail(output)
        reason = {2: "interrupted", 3: "pytest internal error", 4: "pytest usage error",
                  5: "no tests collected"}.get(done.returncode, "crashed")
        return "error", None, seconds, done.returncode, f"{reason} (exit {done.returncode})\n{_tail(output)}"


def _split(jobs: list[tuple[str, str, str, str]], parts: int) -> list[list[tuple[str, str, str, str]]]:
    """`jobs` in at most `parts` batches of nearly equal size (one per worker, so no worker idles at the end)."""
    size = -(-len(jobs) // max(parts, 1))
    return [jobs[i:i + size] for i in range(0, len(jobs), size)] if jobs else []


def run_batch(suite: Path, jobs: Sequence[tuple[str, str, str, str]], *,
              timeout: float = DEFAULT_RUN_TIMEOUT) -> dict[str, tuple[str | None, float]]:
    """Run one API's suite once per defect of `jobs` in a single pytest process (harness/mutation_batch.py).

    Returns {defect: (first failing test id or None, seconds)} for every defect the batch reported; a defect
    missing from it (the process crashed or timed out before reaching it) is the caller's to run alone.
    """
    env = _suite_env("1")  # defects allowed, none on until the batch switches one
    with tempfile.TemporaryDirectory(prefix="paycert-mutation-") as tmp:
        plan = Path(tmp) / "batch.json"
        plan.write_text(json.dumps([{"defect": name, "first": _first_tests(name),
                                     "hint_modules": suite_arguments(suite, f"{area} {name}")}
                                    for name, _api, area, _description in jobs]), encoding="utf-8")
        command = [sys.executable, "-m", "pytest", str(suite.resolve()), "-q", "-n", "0", "-p", "no:cacheprovider",
                   "-p", "harness.mutation_batch", *UNUSED_PLUGINS, "--paycert-mutation-batch", str(plan)]
        with contextlib.suppress(subprocess.TimeoutExpired):  # what it reported before stands; the rest re-runs
            subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True,
                           timeout=timeout + 60 * len(jobs), check=False)
        found: dict[str, tuple[str | None, float]] = {}
        out = plan.with_suffix(".out")
        for line in out.read_text(encoding="utf-8").splitlines() if out.is_file() else []:
            try:
                row = json.loads(line)
                found[str(row["defect"])] = (row["caught_by"], float(row["seconds"]))
            except (ValueError, KeyError, TypeError):
                continue
        return found


def run_mutations(
    api: str = "all",
    workers: int = 2,
    suites_dir: Path | None = None,
    defects: list[str] | None = None,
    console: Console | None = None,
    *,
    baseline: bool = True,
    pytest_workers: int = 0,
    timeout: float = DEFAULT_RUN_TIMEOUT,
) -> MutationResult:
    """Run the certification suite of each selected defect's API with that defect on; print and return the result.

    api: "all", "bettercharge" or "betterpayment". workers: how many suite runs go at once (each a pytest
    process; `pytest_workers` is passed as its ``-n``, 0 = no xdist inside a run). suites_dir: a directory with
    the `bettercharge/` and `betterpayment/` suites (default: the installed ones), e.g. a modified copy.
    defects: names to run (default: every registered defect of the API). console: where the table goes (None:
    print nothing). baseline: first run each suite without defects, and report it if it fails.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise MutationError(f"workers must be a positive integer, got {workers!r}")
    chosen = _select(api, defects)
    root = Path(suites_dir) if suites_dir is not None else default_suites_dir()
    apis = sorted({d[1] for d in chosen} | ({api} if api != "all" and baseline else set()))
    for name in apis:
        if not (root / name).is_dir():
            raise MutationError(f"no {name} suite in {root} (expected the directory {root / name})")

    started = time.monotonic()
    baselines = [(BASELINE, a, "baseline", "the correct simulator") for a in apis if baseline]

    def report(outcome: DefectOutcome) -> DefectOutcome:
        if console is not None:
            console.print(f"  {outcome.api:13} {outcome.defect:45} {outcome.status:8} {outcome.seconds:6.1f} s  "
                          f"{outcome.caught_by or ''}")
        return outcome

    def alone(job: tuple[str, str, str, str]) -> DefectOutcome:
        name, job_api, area, description = job
        status, caught_by, seconds, code, detail = run_suite(
            root / job_api, None if name == BASELINE else name, pytest_workers=pytest_workers, timeout=timeout,
            hint=f"{area} {name}", first=_first_tests(name))
        if name == BASELINE:
            status = "passed" if status == "escaped" else "failed" if status == "caught" else status
        return report(DefectOutcome(name, job_api, area, description, status, caught_by, seconds, code, detail))

    def batch(jobs: list[tuple[str, str, str, str]]) -> list[DefectOutcome]:
        found = run_batch(root / jobs[0][1], jobs, timeout=timeout)
        outcomes = []
        for job in jobs:
            if job[0] in found:
                caught_by, seconds = found[job[0]]
                status: Status = "caught" if caught_by else "escaped"
                outcomes.append(report(DefectOutcome(*job, status, caught_by, seconds, 1 if caught_by else 0)))
            else:  # the batch ended before this defect (a crash): a process of its own decides
                outcomes.append(alone(job))
        return outcomes

    if console is not None:
        console.print(f"[bold]paycert mutate[/]: {len(chosen)} defects, suites in {root}, {workers} at once")
    batches = [b for api_name in sorted({d[1] for d in chosen})
               for b in _split([d for d in chosen if d[1] == api_name], workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Baselines and batches share the pool: no defect's outcome depends on a baseline's, and a baseline run
        # is a whole suite run, so waiting for it before the first batch left a worker idle that long.
        baseline_jobs = [pool.submit(alone, b) for b in baselines]
        batch_jobs = [pool.submit(batch, b) for b in batches]
        baseline_runs = [job.result() for job in baseline_jobs]
        finished = [o for job in batch_jobs for o in job.result()]
    result = MutationResult(outcomes=finished, baselines=baseline_runs, total_seconds=time.monotonic() - started)
    if console is not None:
        console.print(result.table())
        for b in result.baseline_failures:
            console.print(f"[bold yellow]baseline {b.api}[/]: the suite does not pass on the correct simulator "
                          f"({b.status}, first failure {b.caught_by}); the score below means nothing until it does.")
        for o in result.outcomes:
            if o.status == "error":
                console.print(f"[bold yellow]{o.defect}[/]: {o.detail}")
        console.print(result.summary())
    return result
