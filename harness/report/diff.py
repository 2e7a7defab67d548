"""The behavioural difference between two runs: requirements whose outcome changed, appeared or disappeared.

Typical uses: simulator vs sandbox (does our simulator behave like the real thing?), yesterday vs today (did
the sandbox change?), old vs new API version. Only behaviour is compared: the requirement outcomes (passed,
failed, infrastructure, skipped, not_verifiable, untested). Gate statuses, waivers and metadata are policy and
bookkeeping, and differ between runs that behaved the same.

A *regression* is a requirement that passed in the earlier run and fails now (a contract or an infrastructure
failure). `paycert certify --baseline RUN` records the diff against RUN in the new report (`baseline`) and fails
on any regression; `paycert history` (harness.report.history) looks at more than two runs. Differences between
two versions' OpenAPI documents are harness.report.openapi_diff's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

Change = Literal["changed", "appeared", "disappeared"]
#: Outcomes that count as failing now; a requirement passed before and in one of these has regressed.
FAILING: Final = frozenset({"failed", "infrastructure"})


@dataclass(frozen=True)
class RequirementChange:
    requirement: str
    change: Change
    before: str | None
    after: str | None
    title: str

    @property
    def regression(self) -> bool:
        return self.before == "passed" and self.after in FAILING

    def to_json(self) -> dict[str, Any]:
        return {"requirement": self.requirement, "change": self.change, "before": self.before, "after": self.after,
                "title": self.title, "regression": self.regression}


@dataclass(frozen=True)
class ReportDiff:
    a_run: str
    b_run: str
    a_verdict: str
    b_verdict: str
    changes: tuple[RequirementChange, ...]

    @property
    def identical(self) -> bool:
        return not self.changes

    def count(self, change: Change) -> int:
        return sum(c.change == change for c in self.changes)

    @property
    def regressions(self) -> tuple[RequirementChange, ...]:
        return tuple(c for c in self.changes if c.regression)


def diff_reports(a: dict[str, Any], b: dict[str, Any]) -> ReportDiff:
    """Compare two report documents (already loaded and schema-checked) requirement by requirement."""
    before = {r["id"]: r for r in a["requirements"]}
    after = {r["id"]: r for r in b["requirements"]}
    changes: list[RequirementChange] = []
    for rid, old in before.items():
        new = after.get(rid)
        if new is None:
            changes.append(RequirementChange(rid, "disappeared", old["outcome"], None, old["title"]))
        elif new["outcome"] != old["outcome"]:
            changes.append(RequirementChange(rid, "changed", old["outcome"], new["outcome"], new["title"]))
    for rid, new in after.items():
        if rid not in before:
            changes.append(RequirementChange(rid, "appeared", None, new["outcome"], new["title"]))
    order = {"changed": 0, "appeared": 1, "disappeared": 2}
    changes.sort(key=lambda c: (not c.regression, order[c.change], c.requirement))
    return ReportDiff(a["run"]["run_id"], b["run"]["run_id"], a["verdict"]["status"], b["verdict"]["status"],
                      tuple(changes))


def baseline_section(baseline: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """report.json's `baseline`: the run compared against, its regressions (ids, first) and every change.

    Only the APIs this run certified are compared: a baseline of both APIs is a fair yardstick for one.
    """
    apis = set(report["run"]["apis"])
    scoped = {**baseline, "requirements": [r for r in baseline["requirements"] if r["api"] in apis]}
    result = diff_reports(scoped, report)
    return {"run_id": result.a_run, "verdict": result.a_verdict,
            "api_versions": baseline["run"].get("api_versions"),
            "regressions": [c.requirement for c in result.regressions],
            "changes": [c.to_json() for c in result.changes]}


def from_baseline(report: dict[str, Any]) -> ReportDiff | None:
    """The diff a report recorded against its baseline (None when the run had no --baseline)."""
    section = report.get("baseline")
    if not section:
        return None
    changes = tuple(RequirementChange(c["requirement"], c["change"], c["before"], c["after"], c["title"])
                    for c in section["changes"])
    return ReportDiff(section["run_id"], report["run"]["run_id"], section["verdict"], report["verdict"]["status"],
                      changes)
