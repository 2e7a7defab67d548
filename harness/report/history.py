"""`paycert history`: each requirement's outcome over the last N runs, with flaky requirements and regressions.

A nightly job leaves one run directory per night under the reports directory; this reads their report.json
files (oldest first, by start time) and answers the two questions a team asks in the morning:

- **regression**: the requirement passed in the run before the newest one and fails in the newest (a contract
  or infrastructure failure; harness.report.diff.FAILING);
- **flaky**: its outcome flipped at least twice between consecutive runs made with the same yardstick and the
  same target — same catalog, OpenAPI documents and suites (the hashes in report.json `run`), same target and
  base URLs, and for the simulator the same harness version. One flip is a change (a regression or a fix); a
  second flip under unchanged conditions is noise worth fixing. A flip across a change of catalog, documents,
  suites or target is never counted: it has a cause.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.report.diff import FAILING
from harness.report.errors import ReportError
from harness.report.model import load_report
from harness.report.runs import LATEST, REPORT_JSON, resolve_report

#: One character per outcome in the terminal view (a space-free strip reads left to right, oldest first).
SYMBOLS: Final = {"passed": "✓", "failed": "✗", "infrastructure": "!", "skipped": "s", "not_verifiable": "n",
                  "untested": "?", None: "·"}
FLAKY_FLIPS: Final = 2


@dataclass(frozen=True)
class Run:
    run_id: str
    started_at: str
    conditions: str  # what must be equal for a flip to count as flakiness (JSON of the yardstick and target)
    outcomes: dict[str, str]
    titles: dict[str, str]


@dataclass(frozen=True)
class RequirementHistory:
    requirement: str
    title: str
    outcomes: tuple[str | None, ...]  # one per run, oldest first; None when the run did not cover it
    flips: int  # outcome changes between consecutive runs under the same conditions
    regression: bool

    @property
    def flaky(self) -> bool:
        return self.flips >= FLAKY_FLIPS

    @property
    def changed(self) -> bool:
        present = {o for o in self.outcomes if o is not None}
        return len(present) > 1

    @property
    def always_passed(self) -> bool:
        return all(o in ("passed", None) for o in self.outcomes)


@dataclass(frozen=True)
class History:
    runs: tuple[Run, ...]
    requirements: tuple[RequirementHistory, ...]
    skipped: tuple[str, ...]  # run directories that could not be read, with the reason

    @property
    def regressions(self) -> list[RequirementHistory]:
        return [r for r in self.requirements if r.regression]

    @property
    def flaky(self) -> list[RequirementHistory]:
        return [r for r in self.requirements if r.flaky]


def conditions(report: dict[str, Any]) -> str:
    """The yardstick and target of a run, as one comparable string (see the module docstring)."""
    return json.dumps(_conditions(report), sort_keys=True)


def _conditions(report: dict[str, Any]) -> dict[str, Any]:
    run = report["run"]
    return {
        "target": run["target"],
        "base_urls": dict(sorted(run["base_urls"].items())),
        "catalog": sorted((c["file"], c["sha256"]) for c in run["catalog"]),
        "openapi": sorted((o["api"], o["sha256"] or "") for o in run["openapi"]),
        "suites": (run["suites"] or {}).get("sha256"),
        "simulator": run["harness_version"] if run["target"] == "simulator" else None,
    }


def changed_conditions(before: Run, after: Run) -> list[str]:
    """What differs between two runs' conditions (catalog, openapi, suites, target, ...), by name."""
    a, b = json.loads(before.conditions), json.loads(after.conditions)
    return [key for key in sorted(a.keys() | b.keys()) if a.get(key) != b.get(key)]


def _run(report: dict[str, Any]) -> Run:
    return Run(run_id=report["run"]["run_id"], started_at=report["run"]["started_at"], conditions=conditions(report),
               outcomes={r["id"]: r["outcome"] for r in report["requirements"]},
               titles={r["id"]: r["title"] for r in report["requirements"]})


def load_runs(reports_dir: Path, last: int) -> tuple[list[Run], list[str]]:
    """The newest `last` readable runs under `reports_dir`, oldest first; and the directories skipped, why."""
    if last < 1:
        raise ReportError(f"--last: must be 1 or more, got {last}")
    if not reports_dir.is_dir():
        raise ReportError(f"no reports directory at {reports_dir}")
    runs: list[Run] = []
    skipped: list[str] = []
    for directory in sorted(p for p in reports_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        path = directory / REPORT_JSON
        if directory.name == LATEST or directory.name.startswith(".") or not path.is_file():
            continue
        try:
            runs.append(_run(load_report(path)))
        except ReportError as exc:
            skipped.append(str(exc))
    if not runs:
        raise ReportError(f"no readable run under {reports_dir} (expected <run-id>/report.json)")
    runs.sort(key=lambda r: (r.started_at, r.run_id))
    return runs[-last:], skipped


def _flips(outcomes: Sequence[str | None], runs: Sequence[Run]) -> int:
    flips = 0
    for i in range(1, len(runs)):
        before, after = outcomes[i - 1], outcomes[i]
        if before is not None and after is not None and before != after \
                and runs[i - 1].conditions == runs[i].conditions:
            flips += 1
    return flips


def build_history(runs: Sequence[Run], skipped: Sequence[str] = ()) -> History:
    """Per requirement (in the newest run's order, then older ones), its outcomes and flags."""
    order: dict[str, str] = {}
    for run in reversed(runs):
        for rid, title in run.titles.items():
            order.setdefault(rid, title)
    rows: list[RequirementHistory] = []
    for rid, title in order.items():
        outcomes = tuple(run.outcomes.get(rid) for run in runs)
        regression = len(runs) >= 2 and outcomes[-2] == "passed" and outcomes[-1] in FAILING
        rows.append(RequirementHistory(rid, title, outcomes, _flips(outcomes, runs), regression))
    return History(tuple(runs), tuple(rows), tuple(skipped))


def load_baseline(ref: str | None, out_dir: Path) -> dict[str, Any] | None:
    """The report `certify --baseline RUN|latest` compares against; ReportError (one line) when there is none."""
    if ref is None:
        return None
    try:
        return load_report(resolve_report(ref, out_dir))
    except ReportError as exc:
        raise ReportError(f"--baseline: {exc}") from None


def history(reports_dir: Path, last: int = 10) -> History:
    runs, skipped = load_runs(reports_dir, last)
    return build_history(runs, skipped)


def strip(outcomes: Sequence[str | None]) -> str:
    return "".join(SYMBOLS.get(o, "?") for o in outcomes)
