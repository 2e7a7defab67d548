"""The BetterCharge certification suites: complete (every requirement named) and green on the simulator (that
every deliberate simulator defect makes them fail is proven once, by tests/test_mutation.py).

The suites run in subprocesses, as a user runs them: `python -m pytest suites/bettercharge`. Collection needs no
network; the runs start their own embedded simulator per xdist worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from suite_runs import COLLECT as _COLLECT
from suite_runs import clean_env as _clean_env
from suite_runs import run_suite

from harness.catalog import bettercharge

#: Every test here runs the suites in a child pytest (minutes, not seconds).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SUITE = "suites/bettercharge"
#: Other suites that prove BetterCharge requirements (the schema-driven contract suite names its own).
OTHER_SUITES = ("suites/contract/test_bettercharge_contract.py",)

#: nodeid -> {"requirements": [ids], "simulator_only": bool}, as the collection subprocess reports them.
Items = dict[str, dict[str, Any]]



def _run_suite(*args: str, env: dict[str, str], timeout: float,
               paths: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return run_suite(SUITE, *args, env=env, timeout=timeout, paths=paths)



@pytest.fixture(scope="module")
def all_collected(tmp_path_factory: pytest.TempPathFactory) -> Items:
    """Every test of the BetterCharge suites (ours and the contract suite), with its marks."""
    out = tmp_path_factory.mktemp("collect") / "marks.json"
    paths = [SUITE, *(p for p in OTHER_SUITES if (ROOT / p).is_file())]
    proc = subprocess.run([sys.executable, "-c", _COLLECT, str(out), *paths], cwd=ROOT, env=_clean_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert out.is_file(), f"collection did not run:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    data = json.loads(out.read_text())
    assert data["exit"] == 0, f"collection failed (exit {data['exit']}):\n{proc.stdout[-3000:]}"
    items: Items = data["items"]
    return items


@pytest.fixture(scope="module")
def collected(all_collected: Items) -> Items:
    """The tests of suites/bettercharge."""
    return {nodeid: item for nodeid, item in all_collected.items() if nodeid.startswith(f"{SUITE}/")}


def test_every_bettercharge_requirement_is_named_by_a_suite_test(all_collected: Items, collected: Items) -> None:
    named: dict[str, list[str]] = defaultdict(list)
    for nodeid, item in all_collected.items():
        for rid in item["requirements"]:
            named[rid].append(nodeid)
    missing = [r.id for r in bettercharge().requirements if r.id not in named]
    assert not missing, f"requirements no suite test names: {missing}"
    # and the requirements left to the contract suite are only its own schema-driven ones
    ours = {rid for item in collected.values() for rid in item["requirements"]}
    elsewhere = sorted(r.id for r in bettercharge().requirements if r.id not in ours)
    assert all(rid.startswith("BC-CONTRACT-") for rid in elsewhere), f"left to other suites: {elsewhere}"


def test_every_suite_test_names_a_requirement(collected: Items) -> None:
    assert len(collected) > 300, f"only {len(collected)} suite tests collected"
    bare = [nodeid for nodeid, item in collected.items() if not item["requirements"]]
    assert not bare, f"suite tests without @pytest.mark.requirement: {bare}"


def test_simulator_only_requirements_are_proven_by_simulator_only_tests(collected: Items) -> None:
    """A requirement that needs the control interface cannot be proven by a test that would run on a sandbox."""
    needs_simulator = {r.id for r in bettercharge().requirements if r.simulator_only}
    wrong = [f"{nodeid}: {sorted(set(item['requirements']) & needs_simulator)}"
             for nodeid, item in collected.items()
             if set(item["requirements"]) & needs_simulator and not item["simulator_only"]]
    assert not wrong, "tests naming simulator-only requirements, not simulator-only:\n" + "\n".join(wrong)


def test_suites_pass_against_the_embedded_simulator() -> None:
    proc = _run_suite("-n", "2", env=_clean_env(), timeout=600)
    assert proc.returncode == 0, f"suite run failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}"
