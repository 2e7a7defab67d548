"""`paycert diff`: two runs (behaviour), two OpenAPI documents (contract), or both side by side.

    paycert diff RUN_A RUN_B                         requirements whose outcome changed (harness.report.diff)
    paycert diff A.yaml B.yaml                       breaking and other changes between two documents
    paycert diff --openapi A.yaml B.yaml             the same, explicitly
    paycert diff RUN_A RUN_B --openapi A.yaml B.yaml both: what changed in the contract, and what that did

Exit 0 when nothing differs, 1 otherwise, 2 on a usage error. Two runs of different API versions (report.json
`run.api_versions`) say so, and name the documents to compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.report.console import print_diff, say
from harness.report.diff import diff_reports
from harness.report.errors import ReportError
from harness.report.model import load_report
from harness.report.openapi_diff import OpenApiDiff, diff_files, looks_like_openapi
from harness.report.runs import resolve_report

_SEVERITY_STYLE = {"breaking": "bold red", "warning": "yellow", "info": "cyan"}


def print_openapi_diff(console: Console, diff: OpenApiDiff) -> None:
    versions = f"{diff.a_version or '?'} → {diff.b_version or '?'}"
    if diff.identical:
        say(console, f"no contract difference between {diff.a_name} and {diff.b_name} (API version {versions})")
        return
    table = Table(title=f"OpenAPI {diff.a_name} → {diff.b_name} (API version {versions})", title_justify="left")
    for name in ("severity", "change", "where", "detail"):
        table.add_column(name, overflow="fold")
    for c in diff.changes:
        where = c.location + (f" (used by {len(c.used_by)} operations)" if c.location.startswith("components.")
                              and len(c.used_by) > 1 else "")
        table.add_row(Text(c.severity.upper() if c.breaking else c.severity, style=_SEVERITY_STYLE[c.severity]),
                      c.kind, where, c.detail)
    console.print(table)
    counts = {s: sum(c.severity == s for c in diff.changes) for s in ("breaking", "warning", "info")}
    say(console, f"{counts['breaking']} breaking, {counts['warning']} warning, {counts['info']} info change(s)")


def _version_note(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    va, vb = a["run"].get("api_versions") or {}, b["run"].get("api_versions") or {}
    moved = [f"{api} {va[api].get('openapi')} → {vb[api].get('openapi')}" for api in sorted(va.keys() & vb.keys())
             if va[api] != vb[api]]
    if not moved:
        return None
    return ("the runs certified different API versions (" + "; ".join(moved) + "): compare the documents with "
            "paycert diff --openapi A.yaml B.yaml")


def diff_command(console: Console, a: str | None, b: str | None, *, openapi: Sequence[Path] | None,
                 out: Path) -> int:
    if (a is None) != (b is None):
        raise ReportError("diff: a second run (or OpenAPI document) is required, B is missing")
    if a is None and not openapi:
        raise ReportError("diff: the arguments A and B are required: two runs, two OpenAPI documents, or "
                          "--openapi A.yaml B.yaml")
    documents = list(openapi or [])
    runs: tuple[str, str] | None = None
    if a is not None and b is not None:
        if looks_like_openapi(Path(a)) and looks_like_openapi(Path(b)):
            if documents:
                raise ReportError("diff: two OpenAPI documents given twice (positional and --openapi)")
            documents = [Path(a), Path(b)]
        else:
            runs = (a, b)
    different = False
    if runs is not None:
        ra = load_report(resolve_report(runs[0], out))
        rb = load_report(resolve_report(runs[1], out))
        result = diff_reports(ra, rb)
        print_diff(console, result)
        note = _version_note(ra, rb)
        if note:
            say(console, note)
        different |= not result.identical
    if documents:
        contract = diff_files(documents[0], documents[1])
        print_openapi_diff(console, contract)
        different |= not contract.identical
    return 1 if different else 0
