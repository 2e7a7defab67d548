"""Running a certification suite from the project's tests: collection of its marks, and suite runs in a
clean subprocess against the embedded simulator. Shared by test_suites_bettercharge.py and
test_suites_betterpayment.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A run that found a failing test: exit 1, or 2 when -x with xdist interrupts the session after it. Usage,
#: collection and internal errors (3, 4) are not a catch, and the output must name the failing test.
CAUGHT = {int(pytest.ExitCode.TESTS_FAILED), int(pytest.ExitCode.INTERRUPTED)}

# Collect the suite in a subprocess and dump, per test, its requirement ids and whether it is simulator-only.
COLLECT = """
import json, sys
import pytest

class Marks:
    def __init__(self):
        self.items = {}
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            ids = [str(a) for m in item.iter_markers("requirement") for a in m.args]
            self.items[item.nodeid] = {"requirements": ids,
                                       "simulator_only": item.get_closest_marker("simulator_only") is not None}

marks = Marks()
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[2:]], plugins=[marks])
with open(sys.argv[1], "w") as out:
    json.dump({"exit": int(code), "items": marks.items}, out)
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a suite run against the embedded simulator: no target settings leak in from ours."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PAYCERT_", "BETTERCHARGE_", "BETTERPAYMENT_", "PYTEST_"))}
    env.update(extra)
    return env


def run_suite(suite: str, *args: str, env: dict[str, str], timeout: float,
              paths: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """One hand-written suite in a child pytest, without the plugins it never uses (as the mutation runs)."""
    import tempfile

    from harness.mutation import UNUSED_PLUGINS

    # Run from an empty directory: a developer's .env in the checkout must not reach a run against the simulator.
    with tempfile.TemporaryDirectory(prefix="paycert-suite-run-") as empty:
        return subprocess.run([sys.executable, "-m", "pytest", *(str(ROOT / p) for p in (paths or (suite,))), "-q",
                               "-p", "no:cacheprovider", "--rootdir", str(ROOT), *UNUSED_PLUGINS, *args],
                              cwd=empty, env=env, capture_output=True, text=True, timeout=timeout, check=False)
