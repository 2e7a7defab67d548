"""allure-results, made compact after the run: one fixture container per test instead of one per fixture.

allure-pytest writes a container file for every function-scoped fixture a test uses (the plugin's autouse
isolation and evidence fixtures, each parametrize argument...): five files per test, 6,667 of a full run's
8,000 files and 2.8 MB. A container names the tests it wraps (`children`) and the fixtures' set-up and
tear-down steps (`befores`, `afters`); Allure shows a test's set-up and tear-down as the union over every
container naming it, so the containers of one test merge into one without losing a step: each step keeps
its name, status, times and attachments, in the order the fixtures ran. Containers shared by several tests
(session and module fixtures) are left as they are; a container that names no test (1,832 in a full run, for
parametrize arguments) is shown nowhere by Allure and is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["merge_containers"]

_SUFFIX = "-container.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a file allure itself would skip; left alone
    return data if isinstance(data, dict) else None


def _start(step: Any) -> int:
    value = step.get("start") if isinstance(step, dict) else None
    return value if isinstance(value, int) else 0


def merge_containers(directory: Path) -> int:
    """Merge the single-test containers of each test in `directory` into one and remove the containers of no
    test; returns the files removed."""
    groups: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    removed = 0
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        data = _read(path)
        if data is None:
            continue
        children = data.get("children")
        if not children:
            path.unlink(missing_ok=True)  # wraps no test: Allure shows it nowhere
            removed += 1
            continue
        if not isinstance(children, list) or len(children) != 1 or not isinstance(children[0], str):
            continue
        groups.setdefault(children[0], []).append((path, data))
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda item: (_start(item[1]), item[0].name))
        target, merged = group[0][0], dict(group[0][1])
        for key in ("befores", "afters"):
            steps = [step for _, data in group for step in (data.get(key) or [])]
            merged[key] = sorted(steps, key=_start)
        starts = [d["start"] for _, d in group if isinstance(d.get("start"), int)]
        stops = [d["stop"] for _, d in group if isinstance(d.get("stop"), int)]
        if starts:
            merged["start"] = min(starts)
        if stops:
            merged["stop"] = max(stops)
        links = [link for _, data in group for link in (data.get("links") or [])]
        if links:
            merged["links"] = links
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged, ensure_ascii=False), encoding="utf-8")
        tmp.replace(target)
        for path, _ in group[1:]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed
