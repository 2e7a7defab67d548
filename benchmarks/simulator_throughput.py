"""Simulator throughput side by side with its peers (issue 15, goal 2), measured with wrk.

Three servers run at once, each in its own process, and wrk (`-t2 -c16` by default) drives one at a time, in
alternating rounds so machine noise hits all alike:

- the simulator as `paycert simulate` serves it (same server stack, same logging);
- Prism 5 (`@stoplight/prism-cli`) mocking the same OpenAPI document (fixtures/betterpayment/openapi.yaml), when
  a `prism` executable is found (--prism, PATH, or node_modules/.bin); skipped with a note otherwise;
- a bare Starlette app on the same uvicorn stack answering the same routes with a constant body after reading
  the request body: the in-Python ceiling.

It prints the median requests per second per scenario and the ratios the issue's goals are stated in
(simulator / Prism, simulator / bare). Every server must answer 2xx: a fast error is not throughput.

Run: `python benchmarks/simulator_throughput.py [--duration 5] [--rounds 3]` (wrk: `apt-get install -y wrk`;
Prism: `npm install @stoplight/prism-cli@5`).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.catalog import bettercharge, betterpayment
from harness.paths import fixtures_dir

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"transaction_id": "00000000-0000-0000-0000-000000000000", "status_code": 3, "status": "completed",
        "error_code": 0}

async def payment(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse(BODY)

async def transaction(request: Request) -> JSONResponse:
    return JSONResponse(BODY)

app = Starlette(routes=[Route("/rest/payment", payment, methods=["POST"]),
                        Route("/rest/transactions/{tid}", transaction, methods=["GET"]),
                        Route("/_simulator/clock", transaction, methods=["GET"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info", lifespan="off")
"""


@dataclass
class Server:
    name: str
    url: str
    transaction_id: str = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], path: str, headers: dict[str, str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode}")
        try:
            httpx.get(url + path, headers=headers, timeout=2, verify=False)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start in {timeout:.0f} s")


@contextmanager
def _process(args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _auth_header() -> str:
    sim = betterpayment().simulator
    return "Basic " + base64.b64encode(f"{sim.api_key}:{sim.api_password}".encode()).decode()


def _payment_body() -> dict[str, object]:
    """An own-MPI card payment (final at once) whose postback goes nowhere (the simulator sends none off-box)."""
    card = bettercharge().approving_card
    return {
        "payment_type": "cardecom", "order_id": f"bench-{uuid.uuid4().hex[:12]}", "amount": "15.90",
        "currency": "EUR", "postback_url": "https://example.invalid/postback",
        "success_url": "https://example.invalid/ok", "error_url": "https://example.invalid/err",
        "card_number": card.pan, "card_holder": "Bench Mark", "card_cvv": "123",
        "card_expiry_month": "12", "card_expiry_year": str(time.gmtime().tm_year + 2),
        "threeds_authentication_value": "AAABBEg0VhI0VniQEjRWAAAAAAA=",
        "threeds_directory_server_trans_id": str(uuid.uuid4()),
    }


def _lua(method: str, body: dict[str, object] | None) -> str:
    lines = [f'wrk.method = "{method}"', f'wrk.headers["Authorization"] = "{_auth_header()}"']
    if body is not None:
        lines += ['wrk.headers["Content-Type"] = "application/json"', f"wrk.body = {json.dumps(json.dumps(body))}"]
    return "\n".join(lines) + "\n"


def _wrk(url: str, script: Path, args: argparse.Namespace) -> tuple[float, int]:
    """(requests per second, non-2xx answers) of one wrk run."""
    out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if rate is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    if errors:
        print(f"  note: {url}: {errors.group(0)}", file=sys.stderr)
    return float(rate.group(1)), int(bad.group(1)) if bad else 0


def _prism(given: str | None) -> str | None:
    for candidate in (given, shutil.which("prism"), str(ROOT / "node_modules/.bin/prism")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is shown (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--prism", default=None, help="the prism executable (default: PATH, node_modules/.bin)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    headers = {"Authorization": _auth_header()}
    servers: list[Server] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        paycert = [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())"]
        proc = stack.enter_context(_process([*paycert, "simulate", "--port", str(port)]))
        _wait(f"http://127.0.0.1:{port}", proc, "/_simulator/clock", {})
        sim = Server("simulator", f"http://127.0.0.1:{port}")
        created = httpx.post(f"{sim.url}/rest/payment", json=_payment_body(), headers=headers, timeout=10).json()
        sim.transaction_id = created["transaction_id"]
        servers.append(sim)

        port = _free_port()
        proc = stack.enter_context(_process([sys.executable, "-c", BARE_APP, str(port)]))
        _wait(f"http://127.0.0.1:{port}", proc, "/_simulator/clock", {})
        servers.append(Server("bare Starlette", f"http://127.0.0.1:{port}", "00000000-0000-0000-0000-000000000000"))

        prism = _prism(args.prism)
        if prism is None:
            print("note: Prism not found (npm install @stoplight/prism-cli@5, or --prism PATH): its column is "
                  "skipped", file=sys.stderr)
        else:
            port = _free_port()
            document = fixtures_dir() / "betterpayment" / "openapi.yaml"
            proc = stack.enter_context(_process([prism, "mock", "-h", "127.0.0.1", "-p", str(port), str(document)]))
            _wait(f"http://127.0.0.1:{port}", proc, f"/rest/transactions/{uuid.uuid4()}", headers)
            servers.append(Server("Prism 5", f"http://127.0.0.1:{port}", str(uuid.uuid4())))

        scripts = {"get": Path(tmp) / "get.lua", "post": Path(tmp) / "post.lua"}
        scripts["get"].write_text(_lua("GET", None))
        scripts["post"].write_text(_lua("POST", _payment_body()))
        scenarios = {"GET /rest/transactions/{id}": ("get", "/rest/transactions/{tid}"),
                     "POST /rest/payment (own MPI)": ("post", "/rest/payment")}
        rates: dict[tuple[str, str], list[float]] = {}
        for round_no in range(args.rounds):
            for scenario, (script, path) in scenarios.items():
                for server in servers:
                    url = server.url + path.format(tid=server.transaction_id)
                    rate, bad = _wrk(url, scripts[script], args)
                    if bad:
                        print(f"  note: {server.name} answered {bad} non-2xx on {scenario}", file=sys.stderr)
                    rates.setdefault((scenario, server.name), []).append(rate)
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

    names = [s.name for s in servers]
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} rounds (req/s)\n")
    print("| scenario | " + " | ".join(names) + " | simulator / Prism | simulator / bare |")
    print("|---|" + "---|" * (len(names) + 2))
    for scenario in scenarios:
        med = {n: statistics.median(rates[(scenario, n)]) for n in names}
        vs_prism = f"{med['simulator'] / med['Prism 5']:.2f}×" if "Prism 5" in med else "n/a"
        print(f"| `{scenario}` | " + " | ".join(f"{med[n]:,.0f}" for n in names)
              + f" | {vs_prism} | {med['simulator'] / med['bare Starlette']:.2f}× |")


if __name__ == "__main__":
    main()
