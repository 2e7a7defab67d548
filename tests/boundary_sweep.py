"""A pytest plugin for the project's boundary tests: each generated boundary test is run once as it is, then once
per off-by-one defect of its boundary, in the same process and against the same embedded simulator.

Why: proving that every off-by-one defect is caught by starting one suite run per defect (harness/mutation.py)
costs seconds per defect; here the defect is switched on through the control interface (the simulator is started
with PAYCERT_SIMULATOR_DEFECTS=1, which allows it) and the simulator reset between runs, so the whole sweep costs
at most three runs of the boundary tests (a defect one side caught is not run on the other). The plain run is the
test's own outcome; the defect runs are written, per boundary, side and defect, to the JSON file named by
PAYCERT_BOUNDARY_SWEEP (tests/test_boundaries.py reads it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from harness.simulator import boundaries as sim_boundaries
from harness.simulator_control import SimulatorControl

OUT_ENV = "PAYCERT_BOUNDARY_SWEEP"
_results: list[dict[str, Any]] = []
_caught: set[str] = set()  # defects one side already caught: the other side need not run them


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    result = yield  # the plain run: a failure here fails the test as usual
    params = getattr(pyfuncitem, "callspec", None)
    boundary = params.params.get("boundary") if params else None
    if boundary is None:
        return result
    target = pyfuncitem._request.getfixturevalue("paycert_target")
    control = SimulatorControl(str(target.simulator_url), timeout=30)

    def enable(*names: str) -> None:  # the control interface's defect switch (a defects-allowed simulator only)
        control.set_defects(list(names))

    def reset() -> None:
        control.reset()
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    try:
        for direction in (sim_boundaries.MINUS, sim_boundaries.PLUS):
            name = sim_boundaries.defect_name(boundary, direction)
            if name in _caught:
                _results.append({"boundary": boundary.id, "side": params.params["side"], "defect": name,
                                 "failed": None, "message": "caught by the other side"})
                continue
            reset()
            enable(name)
            try:
                pyfuncitem.obj(**args)
                failed, message = False, ""
            except Exception as exc:
                failed, message = True, f"{type(exc).__name__}: {str(exc)[:300]}"
            finally:
                enable()
            if failed:
                _caught.add(name)
            _results.append({"boundary": boundary.id, "side": params.params["side"], "defect": name,
                             "failed": failed, "message": message})
    finally:
        reset()
        control.close()
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get(OUT_ENV)
    if out:
        Path(out).write_text(json.dumps(_results), encoding="utf-8")
