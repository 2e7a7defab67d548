"""Terminal views of a report and of a diff (rich tables), shared by certify, report and diff."""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.report.diff import ReportDiff, from_baseline
from harness.report.history import SYMBOLS, History, RequirementHistory, changed_conditions, strip

_SHOW: Final = 15  # list at most this many ids per group; the report has them all


def say(console: Console, text: str) -> None:
    """One plain line: no markup, no highlighting, never wrapped (CI logs are grepped by line)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOW])
    return shown + (f" … and {len(ids) - _SHOW} more" if len(ids) > _SHOW else "")


def coverage_table(report: dict[str, Any]) -> Table:
    """One row per API (bold, its totals) followed by its areas; narrow enough for an 80-column CI log."""
    table = Table(title="coverage per API and area", title_justify="left", pad_edge=False)
    table.add_column("API / area", overflow="fold")
    for name in ("tested", "passed", "fail", "infra", "skip", "n/v", "waived", "untested"):
        table.add_column(name, justify="right", no_wrap=True)
    cov = report["coverage"]

    def add(label: str, c: dict[str, int], style: str | None = None) -> None:
        bad = c["failed"] + c["infrastructure"] + c["untested"]
        colour = "green" if c["passed"] == c["total"] else ("red" if bad else "yellow")
        table.add_row(label, f"{c['tested']}/{c['total']}", Text(f"{c['passed']}/{c['total']}", style=colour),
                      str(c["failed"]), str(c["infrastructure"]), str(c["skipped"]), str(c["not_verifiable"]),
                      str(c["waived"]), str(c["untested"]), style=style)

    for api in cov["apis"]:
        add(api["api"], api, style="bold")
        for area in cov["areas"]:
            if area["api"] == api["api"]:
                add(f"  {area['label']}", area)
    return table


def print_summary(console: Console, report: dict[str, Any], *, location: str | None = None) -> None:
    """Regressions first, then coverage, what blocks and what warns, the verdict: what a person needs after a run."""
    run, verdict = report["run"], report["verdict"]
    baseline = from_baseline(report)
    if baseline is not None and baseline.regressions:
        regressions = baseline.regressions
        console.print(Text(f"REGRESSIONS since {baseline.a_run} ({len(regressions)}): passed there, fail now",
                           style="bold red"))
        for c in regressions[:_SHOW]:
            say(console, f"  {c.requirement} {c.title} ({c.before} → {c.after})")
        if len(regressions) > _SHOW:
            say(console, f"  … and {len(regressions) - _SHOW} more (report.json baseline.regressions)")
    console.print(coverage_table(report))
    lines: list[tuple[str, list[str], str]] = [
        ("contract failures", verdict["contract_failures"], "red"),
        ("unconfirmed assumptions (adopted; the sandbox differs: review, then paycert calibrate RUN)",
         verdict.get("unconfirmed_assumptions", []), "yellow"),
        ("blocked by an unconfirmed assumption (not reached)", verdict.get("blocked_by_assumptions", []), "yellow"),
        ("infrastructure failures (rerun may help)", verdict["infrastructure_failures"], "magenta"),
        ("untested (no test names them)", verdict["untested"], "red"),
        ("other blocking", [i for i in verdict["blocking"] if i not in {*verdict["contract_failures"],
                                                                       *verdict.get("unconfirmed_assumptions", []),
                                                                       *verdict.get("blocked_by_assumptions", []),
                                                                       *verdict["infrastructure_failures"],
                                                                       *verdict["untested"]}], "red"),
        ("failed suite tests naming no requirement", verdict["unmapped_failures"], "red"),
        ("advisory warnings", verdict["warnings"], "yellow"),
        ("not verifiable on this target", verdict["not_verifiable"], "cyan"),
        ("waived", verdict["waived"], "blue"),
        ("waivers no longer needed", verdict["stale_waivers"], "yellow"),
        ("expired waivers (ignored)", verdict["expired_waivers"], "yellow"),
    ]
    for api, kinds in run["pytest"].get("generated_cases", {}).items():
        say(console, f"contract cases {api}: {sum(kinds.values())} generated and checked ("
                     + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")
    for label, ids, style in lines:
        if ids:
            console.print(Text.assemble((f"{label} ({len(ids)}): ", style), _ids(ids)))
    for assumption in report.get("unconfirmed_assumptions", [])[:_SHOW]:
        for obs in assumption["observations"] or [{"entry": assumption["requirement"], "field": "?",
                                                   "expected": "(see evidence)", "observed": "(no observation)"}]:
            say(console, f"  {assumption['requirement']}: {obs['entry']} {obs['field']}: expected "
                         f"{obs['expected']!r}, observed {obs['observed']!r}")
    audit = report["leak_audit"]
    if audit["status"] == "leaks_found":
        console.print(Text(f"leak audit: {len(audit['findings'])} finding(s)", style="bold red"))
        for f in audit["findings"][:_SHOW]:
            say(console, f"  {f['file']}:{f['line']}:{f['column']} (byte {f['offset']}): {f['kind']} {f['masked']}")
    elif audit["status"] == "clean":
        say(console, f"leak audit: clean ({audit['files_scanned']} files scanned)")
    for spent in run.get("requests", []):
        limited = f", {spent['rate_limited']} answered 429" if spent["rate_limited"] else ", none answered 429"
        if spent.get("provoked_429"):
            limited += f" (and {spent['provoked_429']} provoked on purpose by the rate-limit tests)"
        say(console, f"requests: {spent['api']} key {spent['key']}: {spent['requests']}{limited}")
    if run.get("resumed_from"):
        say(console, f"resumed from run {run['resumed_from']}: its passed tests were not run again")
    say(console, f"run {run['run_id']} · target {run['target']} · {', '.join(run['apis'])} · operator "
                 f"{run['operator']} · {run['finished_at']}" + (f" · {location}" if location else ""))
    if baseline is not None:
        print_diff(console, baseline)
    style = "bold green" if verdict["ready"] else "bold red"
    console.print(Text(verdict["summary"], style=style), soft_wrap=True)
    if baseline is not None and baseline.regressions:
        console.print(Text(f"FAILED: {len(baseline.regressions)} regression(s) against baseline {baseline.a_run}",
                           style="bold red"), soft_wrap=True)


def print_diff(console: Console, diff: ReportDiff) -> None:
    if diff.identical:
        say(console, f"no behavioural difference between {diff.a_run} and {diff.b_run} "
                     f"(verdicts: {diff.a_verdict} / {diff.b_verdict})")
        return
    table = Table(title=f"{diff.a_run} → {diff.b_run}", title_justify="left")
    for name in ("requirement", "change", "before", "after", "title"):
        table.add_column(name, overflow="fold")
    colour = {"changed": "yellow", "appeared": "green", "disappeared": "red"}
    for c in diff.changes:
        change = Text("REGRESSION", style="bold red") if c.regression else Text(c.change, style=colour[c.change])
        table.add_row(c.requirement, change, c.before or "—", c.after or "—", c.title)
    console.print(table)
    say(console, f"{diff.count('changed')} changed, {diff.count('appeared')} appeared, "
                 f"{diff.count('disappeared')} disappeared, {len(diff.regressions)} regressed; "
                 f"verdict {diff.a_verdict} → {diff.b_verdict}")


def print_history(console: Console, history: History, *, show_all: bool = False) -> None:
    """Regressions, then flaky, then other changes and requirements that never passed; all with --all."""
    runs = history.runs
    for note in history.skipped:
        say(console, f"skipped: {note}")
    say(console, f"{len(runs)} run(s), oldest first: " + ", ".join(r.run_id for r in runs))
    for before, after in pairwise(runs):
        what = changed_conditions(before, after)
        if what:
            say(console, f"  {after.run_id}: changed since the run before: {', '.join(what)} (flips there are "
                         "not counted as flaky)")
    say(console, "outcomes: " + "  ".join(f"{s} {o or 'absent'}" for o, s in SYMBOLS.items()))

    def rank(r: RequirementHistory) -> int:
        return 0 if r.regression else 1 if r.flaky else 2 if r.changed else 3 if not r.always_passed else 4

    rows = sorted(history.requirements, key=rank)  # stable: catalog order within a group
    shown = [r for r in rows if show_all or rank(r) < 4]
    if shown:
        table = Table(title="requirement outcomes per run", title_justify="left")
        table.add_column("requirement", overflow="fold")
        table.add_column("runs", no_wrap=True)
        table.add_column("flags", no_wrap=True)
        table.add_column("title", overflow="fold")
        for r in shown:
            flags = [*(["REGRESSION"] if r.regression else []), *([f"FLAKY ({r.flips} flips)"] if r.flaky else [])]
            table.add_row(r.requirement, strip(r.outcomes), Text(", ".join(flags), style="bold red"), r.title)
        console.print(table)
    hidden = len(rows) - len(shown)
    say(console, f"{len(history.regressions)} regression(s), {len(history.flaky)} flaky, "
                 f"{sum(r.changed for r in rows)} changed; {len(rows)} requirements"
                 + (f" ({hidden} passed in every run, not listed: --all lists them)" if hidden else ""))
