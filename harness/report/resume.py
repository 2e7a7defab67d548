"""``paycert certify --resume RUN``: finish an interrupted run without spending requests on what already passed.

Against a sandbox every request counts against the key's rate limit (BetterCharge: 100 a minute), so a run
interrupted after an hour should not start from zero. The paycert plugin appends each finished test's record to
``results.partial.jsonl`` as it ends (harness.plugin), so even a run killed mid-way leaves what it proved. A
resumed run deselects the tests that passed there (run plugin ``--paycert-skip``), copies their evidence into the
new run, and judges the union: the report names the run it resumed from. Only a run of the same target and APIs
can be resumed; anything that did not pass is run again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.evidence import INDEX_FILENAME
from harness.plugin import PARTIAL_RESULTS as PARTIAL
from harness.report.errors import ReportError


@dataclass(frozen=True)
class Resumed:
    run_id: str
    run_dir: Path
    passed: list[dict[str, Any]]  # raw records, as results.json holds them


def _records(run_dir: Path) -> list[dict[str, Any]]:
    full = run_dir / "results.json"
    if full.is_file():
        try:
            data = json.loads(full.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportError(f"--resume: cannot read {full}: {exc}") from None
        return [r for r in data if isinstance(r, dict)]
    partial = run_dir / PARTIAL
    records: dict[str, dict[str, Any]] = {}
    try:
        lines = partial.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ReportError(f"--resume: {run_dir} has neither results.json nor {PARTIAL}: nothing to resume") from None
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the line being written when the run was killed
        if isinstance(record, dict) and isinstance(record.get("nodeid"), str):
            records[record["nodeid"]] = record
    return list(records.values())


def load_resumable(run_ref: str, out_dir: Path, target: str, apis: Sequence[str]) -> Resumed:
    from harness.report.runs import resolve_report

    run_dir = _run_dir(run_ref, out_dir, resolve_report)
    meta = _meta(run_dir)
    if meta.get("target") != target or sorted(meta.get("apis", [])) != sorted(apis):
        raise ReportError(f"--resume: run {run_dir.name} was for {meta.get('target')} / "
                          f"{', '.join(meta.get('apis', []))}, not {target} / {', '.join(apis)}")
    passed = [r for r in _records(run_dir) if r.get("outcome") == "passed"]
    return Resumed(run_dir.name, run_dir, passed)


def _run_dir(run_ref: str, out_dir: Path, resolve: Any) -> Path:
    candidate = Path(run_ref)
    for path in (candidate, out_dir / run_ref):
        if path.is_dir() and (path / "logs").is_dir():
            return path.resolve()
    return Path(resolve(run_ref, out_dir)).parent  # a finished run: its report.json


def _meta(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "logs" / "run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ReportError(f"--resume: {run_dir} is not a paycert run directory (no logs/run.json)") from None
    return data if isinstance(data, dict) else {}


def write_meta(run_dir: Path, target: str, apis: Sequence[str]) -> None:
    """What a later --resume checks: the target and APIs of this run (written before the tests start)."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs" / "run.json").write_text(json.dumps({"target": target, "apis": list(apis)}), encoding="utf-8")


def write_skip_file(resumed: Resumed, run_dir: Path) -> Path:
    path = run_dir / "logs" / "resumed-passed.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{r['nodeid']}\n" for r in resumed.passed), encoding="utf-8")
    return path


def copy_evidence(resumed: Resumed, run_dir: Path) -> None:
    """The passed tests' HAR files and index entries, into the new run's evidence directory."""
    source = resumed.run_dir / "evidence"
    index_path = source / INDEX_FILENAME
    if not index_path.is_file():
        return
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        rows = [row for row in index["cases"] if isinstance(row, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return
    target = run_dir / "evidence"
    target.mkdir(parents=True, exist_ok=True)
    passed = {r["nodeid"] for r in resumed.passed}
    kept = []
    for row in rows:
        name = Path(str(row.get("file", ""))).name  # a bare file name: never a path out of the directory
        if row.get("case") in passed and name and (source / name).is_file():
            shutil.copy2(source / name, target / name)
            kept.append(row)
    (target / INDEX_FILENAME).write_text(json.dumps({**index, "cases": kept}, separators=(",", ":")), encoding="utf-8")


def merge_results(resumed: Resumed, run_dir: Path) -> None:
    """results.json of the new run: its own records plus the resumed run's passed ones it did not run again."""
    path = run_dir / "results.json"
    try:
        fresh = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        fresh = []
    seen = {r.get("nodeid") for r in fresh if isinstance(r, dict)}
    merged = fresh + [r for r in resumed.passed if r["nodeid"] not in seen]
    ordered = sorted(merged, key=lambda r: str(r.get("nodeid")))
    path.write_text(json.dumps(ordered, separators=(",", ":")), encoding="utf-8")
