"""Exactly once across crashes (issue 11): `kill -9` of `paycert simulate --data-dir` under load, repeatedly.

Each round starts the simulator on the same data directory, drives concurrent creates with idempotency keys on
both APIs (BetterCharge with a simulated PSP latency, so payments sit RECEIVED when the kill lands), kills it
with SIGKILL at a random moment, restarts it and then checks:

- no payment is stuck: no BetterCharge payment RECEIVED after the restart (work in flight resolves on start);
- every create in flight at the kill, retried with its key and body, succeeds: Better Payment never creates a
  second transaction for the order, BetterCharge never answers 422 PAYMENT_ALREADY_APPROVED;
- a retry of an acknowledged create replays the acknowledged answer; every acknowledged payment survived.

Bounded: ROUNDS kills (PAYCERT_KILL_ROUNDS overrides), 8 client threads. The figures are printed (`pytest -s`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from test_simulator_robustness import BC, BC_HEADERS, BP_AUTH, bc_body, bp_body

ROUNDS = int(os.environ.get("PAYCERT_KILL_ROUNDS", "20"))
THREADS = 8
PSP_SECONDS = 0.15
ALREADY_APPROVED = BC.error("BC-ERR-422-ALREADY-APPROVED").code


@dataclass
class Create:
    api: str
    key: str
    body: dict[str, Any]
    status: int | None = None  # None: no answer (in flight at the kill)
    answer: bytes = b""

    @property
    def order(self) -> str:
        return str(self.body["orderReference" if self.api == "bettercharge" else "order_id"])

    def send(self, http: httpx.Client) -> httpx.Response:
        if self.api == "bettercharge":
            return http.post("/payments/authorize", json=self.body,
                             headers={**BC_HEADERS, BC.idempotency.header: self.key})
        return http.post("/rest/payment", json=self.body, auth=BP_AUTH, headers={"X-Idempotency-Key": self.key})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A fork server: one process imports paycert once and forks a fresh `paycert simulate --data-dir` for every
# round (the CLI's own main(), its own process, its own SQLite connection), so a round costs a fork instead of
# a full interpreter start-up on a busy machine. Children are reaped automatically (SIGCHLD ignored).
_FORK_SERVER = """
import os, signal, sys
from harness.cli import main
import harness.simulator.app, harness.simulator.server, harness.config
import uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on
harness.simulator.app.create_app()  # warm the catalogs and lazy imports once
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
print("ready", flush=True)
for line in sys.stdin:
    data_dir, port = line.split()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os._exit(main(["simulate", "--data-dir", data_dir, "--port", port]) or 0)
    print(pid, flush=True)
"""


class Simulator:
    """`paycert simulate --data-dir` in a process of its own, killed with SIGKILL and started again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.forks = subprocess.Popen([sys.executable, "-c", _FORK_SERVER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        assert self.forks.stdout is not None and self.forks.stdout.readline().strip() == "ready"
        self.pid: int | None = None
        self.url = ""

    def _alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def start(self) -> None:
        assert self.forks.stdin is not None and self.forks.stdout is not None
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.forks.stdin.write(f"{self.data_dir} {port}\n")
        self.forks.stdin.flush()
        self.pid = int(self.forks.stdout.readline())
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/_simulator/clock", timeout=1, verify=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self._alive(), "paycert simulate exited"
            assert time.monotonic() < deadline, "paycert simulate did not start"
            time.sleep(0.02)

    def kill(self) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        if self._alive():
            self.kill()
        self.forks.terminate()
        self.forks.wait(10)


def _load(url: str, api: str, stop: threading.Event, out: list[Create]) -> None:
    with httpx.Client(base_url=url, timeout=10, verify=False) as http:
        while not stop.is_set():
            create = Create(api, str(uuid.uuid4()), bc_body() if api == "bettercharge" else bp_body())
            out.append(create)
            try:
                r = create.send(http)
            except httpx.HTTPError:
                return  # the simulator died under this request: it stays in flight
            create.status, create.answer = r.status_code, r.content


def _store(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data_dir / 'simulator.sqlite3'}?mode=ro", uri=True)


def _stuck(data_dir: Path) -> int:
    with _store(data_dir) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM bc_payments WHERE json_extract(data, '$.state') = ?",
                                ("RECEIVED",)).fetchone()[0])


def _success(create: Create, status: int, answer: bytes) -> bool:
    if create.api == "bettercharge":
        return status == 201
    return status == 200 and json.loads(answer).get("error_code") == 0


def test_exactly_once_across_kill_9_under_load(tmp_path: Path) -> None:
    rng = random.Random(11)
    data_dir = tmp_path / "state"
    sim = Simulator(data_dir)
    figures: Counter[str] = Counter()
    problems: list[str] = []
    creates: list[Create] = []
    try:
        for _ in range(ROUNDS):
            sim.start()
            figures["stuck after restart"] += _stuck(data_dir)
            with httpx.Client(base_url=sim.url, timeout=10, verify=False) as http:
                # Work in flight at the last kill, retried with its key: it must succeed exactly once.
                for create in [c for c in creates if c.status is None]:
                    r = create.send(http)
                    if create.api == "bettercharge" and r.status_code == 422 and \
                            r.json().get("code") == ALREADY_APPROVED:
                        problems.append(f"{create.key}: retry got 422 {ALREADY_APPROVED}")
                    elif not _success(create, r.status_code, r.content):
                        problems.append(f"{create.key}: retry answered {r.status_code} {r.text[:200]}")
                    create.status, create.answer = r.status_code, r.content
                    figures["in flight at a kill, retried"] += 1
                # A sample of acknowledged creates replays its first answer.
                acked = [c for c in creates if c.status is not None]
                for create in rng.sample(acked, min(len(acked), 5)):
                    r = create.send(http)
                    if r.content != create.answer:
                        problems.append(f"{create.key}: replay differs from the acknowledged answer")
                    figures["acknowledged, replayed"] += 1
                http.post("/_simulator/bettercharge/latency", json={"psp_seconds": PSP_SECONDS}).raise_for_status()
            stop = threading.Event()
            threads = [threading.Thread(target=_load, args=(sim.url, api, stop, creates))
                       for api in ("bettercharge", "betterpayment") for _ in range(THREADS // 2)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.4, 1.0))
            sim.kill()
            stop.set()
            for t in threads:
                t.join(15)
            figures["kills"] += 1
        sim.start()  # the last restart: resolve and retry what the last kill left in flight
        figures["stuck after restart"] += _stuck(data_dir)
        with httpx.Client(base_url=sim.url, timeout=10, verify=False) as http:
            for create in [c for c in creates if c.status is None]:
                r = create.send(http)
                if not _success(create, r.status_code, r.content):
                    problems.append(f"{create.key}: retry answered {r.status_code} {r.text[:200]}")
                create.status, create.answer = r.status_code, r.content
                figures["in flight at a kill, retried"] += 1
    finally:
        sim.stop()

    with _store(data_dir) as conn:
        bp_orders = Counter(row[0] for row in conn.execute("SELECT order_id FROM bp_transactions"))
        bc_orders = Counter(row[0] for row in conn.execute("SELECT order_reference FROM bc_payments"))
        bp_ids = {row[0] for row in conn.execute("SELECT id FROM bp_transactions")}
        bc_ids = {row[0] for row in conn.execute("SELECT bc_id FROM bc_payments")}
    for create in creates:
        orders = bc_orders if create.api == "bettercharge" else bp_orders
        if orders[create.order] > 1:
            problems.append(f"{create.api} order {create.order}: {orders[create.order]} payments")
        if create.status is not None and _success(create, create.status, create.answer):
            data = json.loads(create.answer)
            ident = data.get("bcId") if create.api == "bettercharge" else data.get("transaction_id")
            if ident not in (bc_ids if create.api == "bettercharge" else bp_ids):
                problems.append(f"{create.key}: acknowledged payment {ident} did not survive")
            figures["acknowledged"] += 1
    figures["creates"] = len(creates)
    figures["exactly-once violations"] = len(problems)
    print(f"\nkill -9 figures: {dict(sorted(figures.items()))}")
    assert figures["kills"] == ROUNDS
    assert figures["stuck after restart"] == 0
    assert not problems, problems[:10]
    assert figures["in flight at a kill, retried"] > 0, "no kill landed on a request in flight: the test proves nothing"
