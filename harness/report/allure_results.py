"""allure-results, made compact after the run: fixture containers only where they can explain something.

allure-pytest writes a container file for every function-scoped fixture a test uses (the plugin's autouse
isolation and evidence fixtures, each parametrize argument...): five files per test, 6,667 of a full run's
8,000 files and 2.8 MB. A container names the tests it wraps (`children`) and the fixtures' set-up and
tear-down steps (`befores`, `afters`); Allure shows a test's set-up and tear-down as the union over every
container naming it, so the containers of one test merge into one without losing a step: each step keeps
its name, status, times and attachments, in the order the fixtures ran. Containers shared by several tests
(session and module fixtures) are left as they are; a container that names no test (1,832 in a full run, for
parametrize arguments) is shown nowhere by Allure and is removed.

A test that passed keeps no container of its own: its set-up and tear-down are the names and times of the
fixtures its code names (for most, only the plugin's own isolation and evidence fixtures), 1.7 of a full
run's 6.2 MB of allure-results; a test that did not pass keeps them all, since a fixture's step may be where
it broke. Each result also loses allure-pytest's `host` and `thread` labels (the machine's name and a thread
id: nothing about the API, and the same on every result).

Then the directory is kept as one archive, ``allure-results.tar.xz``: 1,400 small JSON files of one shape
were 4.4 MB on disk, a third of a full run's artefacts, and are 0.2 MB in xz (a zip, compressing each file
alone, still took 1.5 MB). ``tar xf allure-results.tar.xz`` gives back the directory exactly as Allure reads
it (README, *Nightly CI*); the leak audit reads the archive member by member (harness/report/leak_audit.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any, Final

__all__ = ["ARCHIVE", "archive", "compact"]

#: The run directory's Allure results: one xz-compressed tar of the directory allure-pytest wrote.
ARCHIVE: Final = "allure-results.tar.xz"

_SUFFIX = "-container.json"
_RESULT = "-result.json"
#: allure-pytest's labels that describe the machine, not the test.
_MACHINE_LABELS = frozenset({"host", "thread"})


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a file allure itself would skip; left alone
    return data if isinstance(data, dict) else None


def _start(step: Any) -> int:
    value = step.get("start") if isinstance(step, dict) else None
    return value if isinstance(value, int) else 0


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _passed_results(directory: Path) -> set[str]:
    """uuids of the results that passed; each result loses its machine labels on the way."""
    passed: set[str] = set()
    for path in directory.glob(f"*{_RESULT}"):
        data = _read(path)
        if data is None:
            continue
        if data.get("status") == "passed" and isinstance(data.get("uuid"), str):
            passed.add(data["uuid"])
        labels = data.get("labels")
        if isinstance(labels, list) and any(isinstance(x, dict) and x.get("name") in _MACHINE_LABELS
                                            for x in labels):
            data["labels"] = [x for x in labels if not (isinstance(x, dict) and x.get("name") in _MACHINE_LABELS)]
            _write(path, data)
    return passed


def compact(directory: Path) -> int:
    """Merge the single-test containers of each test in `directory` into one, remove the containers of no test
    and those of a test that passed, and strip the machine labels from the results; returns the files removed."""
    if not directory.is_dir():
        return 0
    passed = _passed_results(directory)
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
        if children[0] in passed:
            path.unlink(missing_ok=True)
            removed += 1
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
        _write(target, merged)
        for path, _ in group[1:]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def archive(directory: Path) -> Path | None:
    """Put `directory` into ``<parent>/allure-results.tar.xz`` (members under its own name, so ``tar xf``
    restores it) and remove it once the archive is complete; None when there is no such directory."""
    if not directory.is_dir():
        return None
    target = directory.parent / ARCHIVE
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    with tarfile.open(tmp, "w:xz", preset=6) as tar:
        for path in sorted(directory.iterdir()):
            if path.is_file() and not path.name.endswith(".tmp"):
                tar.add(path, arcname=f"{directory.name}/{path.name}", recursive=False)
    tmp.replace(target)
    shutil.rmtree(directory)
    return target
