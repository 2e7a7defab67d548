"""The simulator posing as a remote sandbox, for the sandbox rehearsals (tests/test_sandbox_rehearsal.py).

It serves over TLS with a certificate from a throw-away CA (trustme), so a run must be told to trust that CA
(PAYCERT_CA_BUNDLE) exactly as a user behind a company proxy would; its rate limit runs in real time; and the
suites reach it only as a sandbox: no control interface is used, since PAYCERT_TARGET=sandbox never asks for one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
import uvicorn

from harness.simulator.app import create_app
from harness.simulator.state import SimulatorConfig


@dataclass(frozen=True)
class PosingSandbox:
    url: str
    ca_bundle: Path
    app: object


@contextmanager
def posing_sandbox(directory: Path, config: SimulatorConfig | None = None) -> Iterator[PosingSandbox]:
    """Serve both APIs on https://localhost:<free port> with a certificate only `ca_bundle` trusts."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    key_file, cert_file, ca_file = directory / "server.key", directory / "server.pem", directory / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    ca.cert_pem.write_to_path(str(ca_file))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ssl_keyfile=str(key_file),
                                           ssl_certfile=str(cert_file), timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="posing-sandbox")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the posing sandbox did not start")
        time.sleep(0.01)
    try:
        yield PosingSandbox(f"https://localhost:{port}", ca_file, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def differing_sandbox(directory: Path, overlay: list[dict[str, object]]) -> Iterator[PosingSandbox]:
    """A posing sandbox in its own process whose catalog carries `overlay`: it answers differently from the
    adopted contract on exactly those details, as a real sandbox might."""
    import subprocess
    import sys

    import yaml

    from harness.catalog.overlay import FORMAT, OVERLAY_FILE

    directory.mkdir(parents=True, exist_ok=True)
    (directory / OVERLAY_FILE).write_text(yaml.safe_dump({"format": FORMAT, "entries": overlay}))
    proc = subprocess.Popen([sys.executable, __file__, str(directory)], cwd=directory, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2:
            raise RuntimeError("the differing sandbox did not start")
        yield PosingSandbox(line[0], Path(line[1]), None)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":  # the differing sandbox's process: serve until stdin closes
    import sys

    with posing_sandbox(Path(sys.argv[1])) as served:
        print(served.url, served.ca_bundle, flush=True)
        sys.stdin.read()
