"""Run directories under the output directory, and the `latest` pointer.

Layout: ``<out>/<run-id>/`` per run and ``<out>/latest``, a relative symlink to the newest run directory, or,
where symlinks cannot be made (some Windows setups, some network file systems), a file holding the run id.
Commands that take a run (`paycert report`, `paycert diff`) accept a run directory, a report.json, a `latest`
pointer, or a bare run id looked up under the output directory.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

from harness.report.errors import ReportError

LATEST: Final = "latest"
REPORT_JSON: Final = "report.json"


def update_latest(out_dir: Path, run_id: str) -> Path:
    """Point ``<out>/latest`` at the run (atomically replacing the old pointer); returns the pointer's path."""
    pointer = out_dir / LATEST
    tmp = out_dir / f".{LATEST}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    if pointer.is_dir() and not pointer.is_symlink():
        raise ReportError(f"{pointer} is a directory; remove it so paycert can point it at the newest run")
    try:
        tmp.symlink_to(run_id, target_is_directory=True)
    except (OSError, NotImplementedError):
        tmp.write_text(run_id + "\n", encoding="utf-8")
    os.replace(tmp, pointer)
    return pointer


def _from_pointer_file(path: Path) -> Path:
    run_id = path.read_text(encoding="utf-8").strip()
    if not run_id or "/" in run_id or "\\" in run_id:
        raise ReportError(f"{path}: not a run pointer")
    return path.parent / run_id


def resolve_report(arg: str | Path, out_dir: Path = Path("reports")) -> Path:
    """The report.json a RUN argument names; ReportError when there is none."""
    path = Path(arg)
    candidates = [path] if path.exists() or path.is_symlink() else [out_dir / path]
    for candidate in candidates:
        if candidate.is_file() and candidate.name == LATEST:
            candidate = _from_pointer_file(candidate)
        if candidate.is_dir():
            candidate = candidate / REPORT_JSON
        if candidate.is_file():
            return candidate
    raise ReportError(f"no report found for {arg!s} (give a run directory, a report.json, or a run id under "
                      f"{out_dir})")
