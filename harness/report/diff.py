"""The behavioural difference between two runs: requirements whose outcome changed, appeared or disappeared.

Typical uses: simulator vs sandbox (does our simulator behave like the real thing?), yesterday vs today (did
the sandbox change?), old vs new API version. Only behaviour is compared: the requirement outcomes (passed,
failed, infrastructure, skipped, not_verifiable, untested). Gate statuses, waivers and metadata are policy and
bookkeeping, and differ between runs that behaved the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Change = Literal["changed", "appeared", "disappeared"]


@dataclass(frozen=True)
class RequirementChange:
    requirement: str
    change: Change
    before: str | None
    after: str | None
    title: str


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
    changes.sort(key=lambda c: (order[c.change], c.requirement))
    return ReportDiff(a["run"]["run_id"], b["run"]["run_id"], a["verdict"]["status"], b["verdict"]["status"],
                      tuple(changes))
