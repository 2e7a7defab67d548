"""The Better Payment certification suites: complete (every requirement named) and green on the simulator under
both error transports (that every deliberate simulator defect makes them fail is proven once, by
tests/test_mutation.py).

The suites run in subprocesses, as a user runs them: `python -m pytest suites/betterpayment`. Collection needs
no network; the runs start their own embedded simulator per xdist worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from suite_runs import COLLECT as _COLLECT
from suite_runs import clean_env as _clean_env
from suite_runs import run_suite

from harness.catalog import betterpayment

#: Every test here runs the suites in a child pytest (minutes, not seconds).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SUITE = "suites/betterpayment"
#: Plugins the suites do not use, left out of the transport re-run (each worker saves ~1 s of imports).
UNUSED_PLUGINS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")
#: The generated contract checks of this API (BP-CONTRACT-* requirements) live in the contract suite.
CONTRACT_SUITE = "suites/contract/test_betterpayment_contract.py"
#: A run that found a failing test: exit 1, or 2 when -x with xdist interrupts the session after it. Usage,
#: collection and internal errors (3, 4) are not a catch, and the output must name the failing test.




def _run_suite(*args: str, env: dict[str, str], timeout: float,
               paths: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return run_suite(SUITE, *args, env=env, timeout=timeout, paths=paths)



def _collect(out: Path, *paths: str) -> dict[str, dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", _COLLECT, str(out), *paths], cwd=ROOT, env=_clean_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert out.is_file(), f"collection did not run:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    data = json.loads(out.read_text())
    assert data["exit"] == 0, f"collection of {paths} failed (exit {data['exit']}):\n{proc.stdout[-3000:]}"
    items: dict[str, dict[str, object]] = data["items"]
    return items


def _requirements(item: dict[str, object]) -> set[str]:
    ids = item["requirements"]
    assert isinstance(ids, list)
    return {str(i) for i in ids}


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """The Better Payment suites' tests: requirement ids and simulator-only flag per node id."""
    return _collect(tmp_path_factory.mktemp("collect") / "marks.json", SUITE)


def test_every_betterpayment_requirement_is_named_by_a_suite_test(
        collected: dict[str, dict[str, object]], tmp_path: Path) -> None:
    """Our suites name every requirement but the generated contract checks (BP-CONTRACT-*), which the contract
    suite names; together they name them all."""
    named: dict[str, list[str]] = defaultdict(list)
    for nodeid, item in collected.items():
        for rid in _requirements(item):
            named[rid].append(nodeid)
    foreign = sorted({rid for rid in named if not rid.startswith("BP-")})
    assert not foreign, f"Better Payment suite tests naming other APIs' requirements: {foreign}"
    ours = [r.id for r in betterpayment().requirements if not r.id.startswith("BP-CONTRACT-")]
    missing = [rid for rid in ours if rid not in named]
    assert not missing, f"requirements no Better Payment suite test names: {missing}"
    contract = [r.id for r in betterpayment().requirements if r.id.startswith("BP-CONTRACT-")]
    if contract:
        for item in _collect(tmp_path / "contract.json", CONTRACT_SUITE).values():
            for rid in _requirements(item):
                named[rid].append("contract")
    missing = [r.id for r in betterpayment().requirements if r.id not in named]
    assert not missing, f"requirements no suite test names: {missing}"


def test_every_suite_test_names_a_requirement(collected: dict[str, dict[str, object]]) -> None:
    assert len(collected) > 300, f"only {len(collected)} suite tests collected"
    bare = [nodeid for nodeid, item in collected.items() if not item["requirements"]]
    assert not bare, f"suite tests without @pytest.mark.requirement: {bare}"


def test_simulator_only_requirements_are_proven_by_simulator_only_tests(
        collected: dict[str, dict[str, object]]) -> None:
    """A requirement that needs the control interface or the simulator's test data cannot be proven by a test
    that would run on a sandbox."""
    needs_simulator = {r.id for r in betterpayment().requirements if r.simulator_only}
    wrong = [f"{nodeid}: {sorted(_requirements(item) & needs_simulator)}" for nodeid, item in collected.items()
             if _requirements(item) & needs_simulator and not item["simulator_only"]]
    assert not wrong, "tests naming simulator-only requirements, not simulator-only:\n" + "\n".join(wrong)


def test_suites_pass_against_the_embedded_simulator() -> None:
    proc = _run_suite("-n", "2", env=_clean_env(), timeout=600)
    assert proc.returncode == 0, f"suite run failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}"
    summary = proc.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary, f"on the simulator nothing may be skipped: {summary}"


#: The modules that judge errors, leniencies and the plugins' requests: run again under the other error transport.
TRANSPORT_MODULES = ("test_error_transport", "test_request_validation", "test_leniency", "test_plugin_compat",
                     "test_refund", "test_capture")


def test_suites_pass_under_the_http_error_transport() -> None:
    """The suites judge error_code and error_message under either transport (catalog error_transport): the
    error-heavy modules pass against a simulator that answers each error row's own HTTP status too."""
    proc = _run_suite("-n", "2", *UNUSED_PLUGINS, env=_clean_env(PAYCERT_SIMULATOR_BP_ERROR_TRANSPORT="http"),
                      timeout=600, paths=tuple(f"{SUITE}/{m}.py" for m in TRANSPORT_MODULES))
    assert proc.returncode == 0, f"suite run under http failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}"
