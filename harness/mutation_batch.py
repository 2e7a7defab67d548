"""A pytest plugin of the mutation runner (harness/mutation.py): many defects in one suite process.

Why: the score runs an API's suite once per deliberate defect (187 of them), and a fresh pytest process per
defect spent most of each run starting up (imports, catalog, collection of ~770 tests: about 2.2 s of a 3 s run).
Here one process collects the suite once and, for each defect of its batch in turn, switches the embedded
simulator's defects to exactly that one (``POST /_simulator/defects``, in a simulator started with
``PAYCERT_SIMULATOR_DEFECTS=1``), empties its state (as a fresh simulator would start), and runs the suite's tests
in the order a fresh run would take (harness/mutation.py `suite_arguments`, then harness/mutation_first.py's
aimed tests) until the first one fails: the defect is *caught* by it. If every test passes, it *escaped*.

Each test still runs through pytest's own protocol (fixtures, the plugin's per-test reset, evidence, xfail), and
between tests everything but the session is torn down; session-scoped fixtures (the simulator, the clients, the
postback receiver) live across defects, as they live across tests in any run. The outcome of each defect is
written, as soon as it is known, as one JSON line to the file named by ``--paycert-mutation-batch`` (input: a
JSON list of ``{"defect", "hint", "first"}``); the runner re-runs in a process of its own any defect the batch
did not report (a batch that crashed), so a broken batch can cost time, never a wrong score.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness.mutation_first import aimed_first

OPTION = "--paycert-mutation-batch"
_CURRENT: dict[str, Any] = {"defect": None, "applied": None, "failed": None, "broken": None}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("paycert").addoption(
        OPTION, type=Path, default=None,
        help="run the suite once per defect listed in this JSON file, writing outcomes next to it (.out)")


def _ordered(items: list[pytest.Item], hint_modules: list[str], first: str) -> list[pytest.Item]:
    """The order a process of its own would run them in: its module order, then mutation_first's aimed tests."""
    rank = {Path(m).name: i for i, m in enumerate(hint_modules)}
    ordered = sorted(items, key=lambda item: rank.get(Path(str(item.path)).name, len(rank)))
    aimed_first(ordered, first)
    return ordered


@pytest.fixture(autouse=True)
def _paycert_mutation_defect(request: pytest.FixtureRequest) -> None:
    """Switch the simulator to the batch's current defect before the first test of that defect runs."""
    wanted = _CURRENT["defect"]
    if wanted is None or _CURRENT["applied"] == wanted or "paycert_target" not in request.fixturenames:
        return
    try:
        control = request.getfixturevalue("_paycert_control_http")  # the plugin's one connection for the resets
        control.set_defects([wanted] if wanted else [])
        control.reset()  # the defect on from an empty state, as a simulator started with it
    except Exception as exc:  # the batch's own failure, never a catch: the runner re-runs the defect alone
        _CURRENT["broken"] = f"{type(exc).__name__}: {exc}"
        raise
    _CURRENT["applied"] = wanted


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _CURRENT["defect"] is not None and report.failed and _CURRENT["failed"] is None:
        _CURRENT["failed"] = report.nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    path: Path | None = session.config.getoption(OPTION)
    if path is None:
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} errors during collection")
    jobs = json.loads(path.read_text(encoding="utf-8"))
    out = path.with_suffix(".out")
    with out.open("a", encoding="utf-8") as sink:
        for job in jobs:
            _CURRENT.update(defect=job["defect"], failed=None)
            started = time.monotonic()
            for item in _ordered(list(session.items), job["hint_modules"], job["first"]):
                # Through the hook, so pytest-timeout and the other plugins wrap it as usual; everything but the
                # session is torn down after each test, since the next one may be anywhere.
                item.ihook.pytest_runtest_protocol(item=item, nextitem=session)
                if _CURRENT["failed"] is not None or _CURRENT["broken"] or session.shouldstop:
                    break
            if _CURRENT["broken"] or session.shouldstop:
                break  # this defect and the rest are unreported: the runner runs each in a process of its own
            sink.write(json.dumps({"defect": job["defect"], "caught_by": _CURRENT["failed"],
                                   "seconds": round(time.monotonic() - started, 3)}) + "\n")
            sink.flush()
    _CURRENT.update(defect=None)
    return True
