"""The contract suite (suites/contract) against the embedded simulator: it passes, and it generated at least
1,000 cases per API that the mandatory checks judged (conformance, negative data, stateful chains), and every
one of them reached the target through the client layer: it is in the packed HAR evidence, masked.

It runs the suite as a user would, in its own pytest process with two xdist workers; the suite's conftest
writes its case counts to the file named by PAYCERT_CONTRACT_STATS.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.evidence import module_filename, read_evidence
from harness.paths import APIS, suites_dir

#: Every test here runs the suites in a child pytest (minutes, not seconds), itself on two xdist workers: under
#: `pytest -n 2` it shares one worker with the other tests that run several processes (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("own-processes")]

MIN_CASES = 1000


@pytest.mark.timeout(1200)
def test_contract_suite_passes_with_enough_cases_per_api(tmp_path: Path) -> None:
    stats = tmp_path / "contract-stats.json"
    results = tmp_path / "results.json"
    evidence = tmp_path / "evidence"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST", "PAYCERT_CONTRACT_"))}
    for name in ("PAYCERT_SIMULATOR_URL", "PAYCERT_SIMULATOR_DEFECTS"):
        env.pop(name, None)
    env.update(PAYCERT_TARGET="simulator", PAYCERT_CONTRACT_STATS=str(stats), PYTHONHASHSEED="0")
    suite = suites_dir() / "contract"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-q", "-n", "2", "-p", "no:cacheprovider",
         "--paycert-results", str(results), "--paycert-evidence", str(evidence)],
        cwd=suites_dir().parent, env=env, capture_output=True, text=True, timeout=1100, check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"pytest suites/contract failed (exit {done.returncode}):\n{output[-6000:]}"
    assert "paycert contract:" in done.stdout

    counts = json.loads(stats.read_text(encoding="utf-8"))
    for api in APIS:
        cases = counts["apis"][api]["mandatory_cases"]
        assert cases >= MIN_CASES, f"{api}: only {cases} generated cases were checked ({counts['apis'][api]})"

    records = json.loads(results.read_text(encoding="utf-8"))
    outcomes = {r["nodeid"]: r["outcome"] for r in records}
    assert any(n.endswith("test_conformance[POST /payments/authorize]") for n in outcomes), \
        "every operation's test needs its own node id (see suites/contract/conftest.py pytest_itemcollected)"
    assert not [n for n, o in outcomes.items() if o in ("failed", "error")]
    stateful = [n for n in outcomes if "stateful" in n]
    assert stateful and all(outcomes[n] == "passed" for n in stateful)

    # Through the client layer: every case is in the HAR evidence (one gzip'd HAR per module), masked.
    found = read_evidence(evidence)
    assert sorted(p.name for p in evidence.glob("*.har.gz")) == sorted(
        {module_filename(n) for n in outcomes}), "one packed HAR per contract module"
    for api in APIS:
        sent = sum(len(entries) for case, (_, entries) in found.items() if f"test_{api}_contract" in case)
        cases = sum(counts["apis"][api]["by_kind"].values())
        assert sent >= cases, f"{api}: {cases} cases but only {sent} exchanges in the evidence"
    text = "".join(gzip.decompress(p.read_bytes()).decode() for p in evidence.glob("*.har.gz"))
    settings_secrets = ("sim-api-key", "p@55w0rd")
    assert not any(secret in text for secret in settings_secrets) and "[REDACTED]" in text
    assert '"_operation":"bettercharge.contract.authorizePayment"' in text
