"""A full scoped BetterCharge sandbox run against the simulator posing as the sandbox: wall time against the floor.

    python benchmarks/sandbox_floor.py [--workers N] [--keep DIR]

The floor is what the documented rate limit allows at best: requests / 100 per minute. Issue 10 asks a
BetterCharge sandbox run to stay within 10% of it with no unplanned 429. What this does:

1. Serves the simulator as tests/rehearsal.py's posing sandbox: TLS from a throw-away CA, the rate limit in real
   time, reached only as a sandbox (no control interface).
2. Runs ``paycert certify --api bettercharge --target sandbox`` as a new user would, in an empty working
   directory, with only BetterCharge's three variables and ``PAYCERT_CA_BUNDLE`` set, and a budget directory of
   its own (so no earlier run's window is inherited).
3. Prints requests spent (report.json), unplanned and provoked 429s, the verdict, the floor and wall / floor,
   and where the time went, read from the run's HAR evidence: start-up (start to the first request), the
   rate-limit windows as the requests filled them, idle gaps, and the end (last request to exit).

The wall includes everything a user waits for: start-up, preflight, tests and the report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from rehearsal import posing_sandbox  # noqa: E402

from harness.catalog import bettercharge  # noqa: E402
from harness.evidence import read_evidence  # noqa: E402


def _started(run_dir: Path) -> list[float]:
    """Send times (Unix seconds) of every exchange in the run's evidence."""
    return sorted(datetime.fromisoformat(entry["startedDateTime"]).timestamp()
                  for _, entries in read_evidence(run_dir / "evidence").values() for entry in entries)


def _windows(times: list[float], window: float) -> list[tuple[float, int]]:
    """Fixed windows as the server opens them: one starts at the first request after the previous one ended."""
    windows: list[tuple[float, int]] = []
    for t in times:
        if not windows or t >= windows[-1][0] + window:
            windows.append((t, 0))
        windows[-1] = (windows[-1][0], windows[-1][1] + 1)
    return windows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="certify's --workers (default: certify's own)")
    parser.add_argument("--keep", type=Path, help="keep the run's working directory here")
    args = parser.parse_args(argv)
    rl = bettercharge().rate_limit
    sim = bettercharge().simulator
    base = Path(tempfile.mkdtemp(prefix="paycert-floor-"))
    work = base / "work"
    work.mkdir()
    try:
        with posing_sandbox(base) as served:
            ours = ("PAYCERT_", "BETTERCHARGE_", "BETTERPAYMENT_")
            env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
            env.update({"BETTERCHARGE_BASE_URL": served.url, "BETTERCHARGE_API_KEY": sim.api_key,
                        "BETTERCHARGE_PARTNER_ID": sim.partner_id, "PAYCERT_CA_BUNDLE": str(served.ca_bundle),
                        "PAYCERT_BUDGET_DIR": str(base / "budget")})
            command = [sys.executable, "-m", "harness.cli", "certify", "--api", "bettercharge", "--target",
                       "sandbox", "--out", str(work / "reports")]
            if args.workers is not None:
                command += ["--workers", str(args.workers)]
            start = time.time()
            proc = subprocess.run(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
            end = time.time()
        (base / "console.txt").write_text(proc.stdout)
        runs = sorted(p for p in (work / "reports").iterdir() if (p / "report.json").is_file())
        if not runs:
            print(proc.stdout[-3000:])
            print("no report was written", file=sys.stderr)
            return 1
        run_dir = runs[-1]
        if args.keep:
            shutil.copytree(base, args.keep, dirs_exist_ok=True)
        report: dict[str, Any] = json.loads((run_dir / "report.json").read_text())
        spent = [r for r in report["run"].get("requests", []) if r.get("api") == "bettercharge"]
        requests = sum(int(r["requests"]) for r in spent)
        unplanned = sum(int(r.get("rate_limited", 0)) for r in spent)
        provoked = sum(int(r.get("provoked_429", 0)) for r in spent)
        floor = requests / rl.limit * rl.window_seconds
        wall = end - start
        times = _started(run_dir)
        print(f"exit {proc.returncode}, verdict {report.get('verdict', {}).get('status', '?')}")
        print(f"requests {requests} (evidence: {len(times)}), unplanned 429s {unplanned}, provoked 429s {provoked}")
        print(f"floor {floor:.0f} s, wall {wall:.0f} s, wall / floor {wall / floor:.2f}")
        if times:
            print(f"start-up (start to first request) {times[0] - start:.1f} s, "
                  f"end (last request to exit) {end - times[-1]:.1f} s")
            for i, (opened, count) in enumerate(_windows(times, rl.window_seconds)):
                print(f"  window {i + 1:2d} at +{opened - start:6.1f} s: {count:3d} requests")
            gaps = [(b - a, a) for a, b in itertools.pairwise(times) if b - a > 3]
            for gap, at in gaps:
                print(f"  idle {gap:5.1f} s from +{at - start:.1f} s")
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
