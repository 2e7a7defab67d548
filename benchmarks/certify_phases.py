"""Time `paycert certify` by phase, beside schemathesis' own CLI on the same documents, in one run.

    python benchmarks/certify_phases.py [--workers 2] [--examples 100] [--cold] [--keep DIR]

What it does, in this order, on this machine:

1. ``st run <document> -n <examples> -w 2`` (schemathesis' CLI, all phases) for both OpenAPI documents against
   a simulator started here, with the simulator's credentials; the cases it reports and its wall time give the
   peer's cases per second.
2. ``paycert certify`` (both APIs, embedded simulator) in this process, with the phases timed: collection
   (start to the ``collected`` progress event), time to the first test result, tests (to the ``finished``
   event), report (report.json/report.html, built and written), leak audit. Cases = every contract case the
   suite generated and checked (its per-API counts, PAYCERT_CONTRACT_STATS) + every other test.
3. Prints the table, the ratio of cases per second (certify / st run), the artefacts' size (bytes and on disk)
   and file count, and whether the contract case cache was warm.

``--cold`` points the case cache at an empty directory (PAYCERT_CACHE_DIR), so generation is timed too;
without it the user's cache is used, and filled first if empty (the first run after a change of document,
seed or settings generates; the next ones replay).

Numbers are only comparable within one run: the machine is shared, so the ratio is the figure to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import openapi  # noqa: E402
from harness.catalog import bettercharge, betterpayment  # noqa: E402

APIS = ("bettercharge", "betterpayment")


def _st_headers(api: str) -> list[str]:
    if api == "bettercharge":
        auth, sim = bettercharge().auth, bettercharge().simulator
        return ["-H", f"{auth.api_key_header}: {sim.api_key}", "-H", f"{auth.partner_header}: {sim.partner_id}"]
    import base64

    sim = betterpayment().simulator
    token = base64.b64encode(f"{sim.api_key}:{sim.api_password}".encode()).decode()
    return ["-H", f"Authorization: Basic {token}"]


def run_st(examples: int) -> dict[str, Any]:
    """schemathesis' CLI on both documents against a fresh simulator; cases and seconds per API."""
    from harness.simulator.server import start
    from harness.simulator.state import SimulatorConfig

    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st") or "st"
    results: dict[str, Any] = {}
    running = start(SimulatorConfig())
    try:
        for api in APIS:
            cmd = [st, "run", str(openapi.document_path(api)), "-n", str(examples), "-w", "2", "--url",
                   running.url, "--no-color", *_st_headers(api)]
            # CPU of st run and of the simulator serving it (a thread here), as certify's includes its own.
            began, cpu = time.perf_counter(), _child_cpu() + _own_cpu()
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
            seconds = time.perf_counter() - began
            text = done.stdout + done.stderr
            match = re.search(r"Test cases:\s*\n?\s*(\d+) generated", text) or re.search(r"(\d+) generated", text)
            results[api] = {"cases": int(match.group(1)) if match else 0, "seconds": seconds,
                            "cpu": _child_cpu() + _own_cpu() - cpu, "exit": done.returncode}
            if not match:
                print(f"  could not read the case count of st run ({api}); its output ends:\n{text[-1500:]}")
    finally:
        running.stop()
    return results


def _child_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: on a shared machine, the load-free figure."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Timer:
    """Accumulates the time spent in wrapped functions (report writing, leak audit)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began

        return timed


def _events(progress: Path) -> list[dict[str, Any]]:
    rows = []
    for line in progress.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def _size(directory: Path) -> tuple[int, int, int]:
    files = [p for p in directory.rglob("*") if p.is_file()]
    return (sum(p.stat().st_size for p in files), sum(p.stat().st_blocks * 512 for p in files), len(files))


def run_certify(workers: int, out: Path) -> dict[str, Any]:
    from harness.report import certify as certify_module

    timer = _Timer()
    certify_module._write_reports = timer.wrap("report", certify_module._write_reports)  # type: ignore[assignment]
    certify_module.leak_audit.audit_paths = timer.wrap("audit", certify_module.leak_audit.audit_paths)  # type: ignore[assignment]
    began, cpu = time.time(), _child_cpu() + _own_cpu()
    result = certify_module.certify(certify_module.CertifyOptions(workers=workers, out_dir=out),
                                    Console(file=open(os.devnull, "w")))  # noqa: SIM115
    ended = time.time()
    cpu = _child_cpu() + _own_cpu() - cpu
    events = _events(result.run_dir / "logs" / "progress.jsonl")
    stamp = {e["event"]: e["t"] for e in reversed(events) if "t" in e}
    first_test = next((e["t"] for e in events if e.get("event") == "test" and "t" in e), None)
    tests = sum(1 for e in events if e.get("event") == "test")
    stats = result.run_dir / "logs" / "contract-cases.json"
    counts = json.loads(stats.read_text(encoding="utf-8")) if stats.is_file() else {"apis": {}}
    contract = {api: sum(row["by_kind"].values()) for api, row in counts.get("apis", {}).items()}
    contract_tests = sum(1 for e in events if e.get("event") == "test" and "suites/contract/" in str(e.get("nodeid")))
    size, on_disk, files = _size(result.run_dir)
    return {
        "exit": result.exit_code, "ready": result.report["verdict"]["ready"], "wall": ended - began, "cpu": cpu,
        "collection": (stamp.get("collected", began) - began), "first_result": (first_test or ended) - began,
        "tests": stamp.get("finished", ended) - stamp.get("collected", began),
        "report": timer.seconds.get("report", 0.0), "audit": timer.seconds.get("audit", 0.0),
        "contract_cases": contract, "mandatory": {a: r["mandatory_cases"] for a, r in counts.get("apis", {}).items()},
        "other_tests": tests - contract_tests, "tests_total": tests,
        "bytes": size, "on_disk": on_disk, "files": files, "run_dir": str(result.run_dir),
        "cache": "cold" if os.environ.get("PAYCERT_BENCH_COLD") else "warm",
    }


def _print(st: dict[str, Any], cert: dict[str, Any]) -> None:
    st_cases = sum(r["cases"] for r in st.values())
    st_seconds = sum(r["seconds"] for r in st.values())
    cert_cases = sum(cert["contract_cases"].values()) + cert["other_tests"]
    st_rate = st_cases / st_seconds if st_seconds else 0.0
    cert_rate = cert_cases / cert["wall"] if cert["wall"] else 0.0
    print()
    print(f"### certify, {cert['cache']} case cache\n\n| phase | seconds |\n|---|---|")
    for name in ("collection", "first_result", "tests", "report", "audit", "wall"):
        print(f"| {name.replace('_', ' ')} | {cert[name]:.1f} |")
    print()
    for api in APIS:
        print(f"{api}: certify generated and checked {cert['contract_cases'].get(api, 0)} contract cases "
              f"({cert['mandatory'].get(api, 0)} mandatory); st run {st[api]['cases']} cases in "
              f"{st[api]['seconds']:.1f} s")
    print(f"certify: {cert_cases} cases ({sum(cert['contract_cases'].values())} contract + {cert['other_tests']} "
          f"other tests) in {cert['wall']:.1f} s = {cert_rate:.1f} cases/s; verdict "
          f"{'READY' if cert['ready'] else 'NOT READY'} (exit {cert['exit']})")
    print(f"st run:  {st_cases} cases in {st_seconds:.1f} s = {st_rate:.1f} cases/s")
    print(f"ratio (certify / st run cases per second): {cert_rate / st_rate if st_rate else float('nan'):.2f}x")
    st_cpu = sum(r["cpu"] for r in st.values())
    if st_cpu and cert["cpu"]:
        print(f"per CPU second (load-free): certify {cert_cases / cert['cpu']:.1f} cases ({cert['cpu']:.0f} s CPU), "
              f"st run {st_cases / st_cpu:.1f} cases ({st_cpu:.0f} s CPU): "
              f"{(cert_cases / cert['cpu']) / (st_cases / st_cpu):.2f}x")
    print(f"artefacts: {cert['bytes'] / 1e6:.1f} MB ({cert['on_disk'] / 1e6:.1f} MB on disk) in {cert['files']} "
          f"files; run {cert['run_dir']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="certify --workers (default 4, certify's own)")
    parser.add_argument("--examples", type=int, default=100, help="st run -n (default 100)")
    parser.add_argument("--cold", action="store_true", help="time case generation too (an empty case cache)")
    parser.add_argument("--keep", type=Path, default=None, help="write certify's run here instead of a temp dir")
    parser.add_argument("--again", action="store_true",
                        help="run certify a second time on the same case cache (with --cold: cold, then warm)")
    args = parser.parse_args(argv)
    out = args.keep or Path(tempfile.mkdtemp(prefix="paycert-bench-"))
    if args.cold:
        os.environ["PAYCERT_CACHE_DIR"] = tempfile.mkdtemp(prefix="paycert-bench-cache-")
        os.environ["PAYCERT_BENCH_COLD"] = "1"

    print(f"st run on both documents (-n {args.examples} -w 2) ...", flush=True)
    st = run_st(args.examples)
    runs = [("cold" if args.cold else "warm")] + (["warm"] if args.again else [])
    for label in runs:
        print(f"paycert certify --workers {args.workers} ({label} case cache) ...", flush=True)
        cert = run_certify(args.workers, out)
        cert["cache"] = label
        _print(st, cert)
    if args.keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
