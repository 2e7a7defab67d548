"""The per-test results the pytest plugin writes (``--paycert-results``), read back as typed records.

Why a loader of its own: the results file is the seam between the suites' run and the report. A truncated or
hand-edited file must stop the report with one line naming the record and field, never a KeyError deep in
the verdict code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.report.errors import ReportError

#: Outcomes the plugin writes (harness.plugin._Collector); anything else is a malformed file.
OUTCOMES: Final = frozenset(
    {"passed", "failed", "error", "skipped", "not_verifiable", "xfailed", "advisory"}
)
CLASSIFICATIONS: Final = frozenset({"contract", "infrastructure", "advisory"})


@dataclass(frozen=True)
class TestRecord:
    """One suite test as the plugin saw it; `requirements` are the catalog ids its marker names."""

    __test__ = False  # not a pytest test class, whatever its name says

    nodeid: str
    outcome: str
    classification: str | None
    message: str
    duration: float
    requirements: tuple[str, ...]
    #: for a not-verifiable test: the optional setting that would make it verifiable (None: only a simulator)
    needs_setting: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "error")


def _record(number: int, raw: Any) -> TestRecord:
    where = f"record {number}"
    if not isinstance(raw, dict):
        raise ReportError(f"results: {where} is not an object")
    nodeid = raw.get("nodeid")
    if not isinstance(nodeid, str) or not nodeid:
        raise ReportError(f"results: {where}: 'nodeid' must be a non-empty string")
    where = f"record {number} ({nodeid})"
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise ReportError(f"results: {where}: unknown outcome {outcome!r} (known: {', '.join(sorted(OUTCOMES))})")
    classification = raw.get("classification")
    if classification is not None and classification not in CLASSIFICATIONS:
        raise ReportError(f"results: {where}: unknown classification {classification!r}")
    requirements = raw.get("requirements", [])
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        raise ReportError(f"results: {where}: 'requirements' must be a list of requirement ids")
    duration = raw.get("duration", 0.0)
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        raise ReportError(f"results: {where}: 'duration' must be a number")
    message = raw.get("message", "")
    needs_setting = raw.get("needs_setting")
    if needs_setting is not None and not (isinstance(needs_setting, str) and needs_setting.isidentifier()):
        raise ReportError(f"results: {where}: 'needs_setting' must name a setting")
    return TestRecord(
        nodeid=nodeid,
        outcome=outcome,
        classification=classification,
        message=message if isinstance(message, str) else str(message),
        duration=float(duration),
        requirements=tuple(dict.fromkeys(requirements)),
        needs_setting=needs_setting,
    )


def parse_results(data: Any) -> list[TestRecord]:
    """Records from the decoded JSON document (a list of objects); ReportError names the first bad one."""
    if not isinstance(data, list):
        raise ReportError("results: expected a JSON list of test records")
    records = [_record(number, raw) for number, raw in enumerate(data, start=1)]
    seen: set[str] = set()
    for record in records:
        if record.nodeid in seen:
            raise ReportError(f"results: test {record.nodeid} appears twice")
        seen.add(record.nodeid)
    return records


def load_results(path: Path) -> list[TestRecord]:
    """The plugin's results file; a missing or unreadable file is a ReportError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"results: no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"results: cannot read {path}: {exc}") from None
    return parse_results(data)


def write_results(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write records in the plugin's format (tests and tools that fabricate a run use this)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(records), separators=(",", ":")), encoding="utf-8")
