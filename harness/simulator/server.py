"""Runs the simulator on loopback with uvicorn: in the foreground for `paycert simulate`, or in a thread
for the suites and the project's tests (one server per session, reset between tests)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from harness.simulator.access import AccessLog
from harness.simulator.app import create_app
from harness.simulator.privacy import MaskingFilter
from harness.simulator.state import SimulatorConfig


@dataclass
class RunningSimulator:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _mask_logs() -> None:
    """Card numbers never reach the simulator's logs (a PAN in a path or a query string, a traceback)."""
    for name in ("uvicorn.access", "uvicorn.error", "paycert.simulator"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskingFilter) for f in logger.filters):
            logger.addFilter(MaskingFilter())


def _bind(host: str, port: int) -> socket.socket:
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without it uvicorn's
    # separate header and body writes meet Nagle + delayed ACK and every request takes ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    return sock


def _config(app: ASGIApp, log_level: str, **options: object) -> uvicorn.Config:
    """uvicorn's settings for the simulator (its server stack: benchmarks/README.md).

    - no uvicorn access log: the edge writes the same line more cheaply (access.py);
    - no proxy headers: the simulator listens on loopback with no proxy in front, and uvicorn's
      ProxyHeadersMiddleware would let any local client rewrite the scheme and client address (and so the
      ACS and bank page URLs an answer names) with X-Forwarded-* headers, at a layer's cost per request;
    - the Server and Date headers stay, as every answer has carried them.
    """
    return uvicorn.Config(app, log_level=log_level, lifespan="off",
                          access_log=False, proxy_headers=False, **options)  # type: ignore[arg-type]


def start(config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0, *,
          app: ASGIApp | None = None) -> RunningSimulator:
    """Start in a background thread on a free port (port 0) and return once it accepts connections.

    `app`: an app already built with create_app (the project's tests add a route to it)."""
    _mask_logs()
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_config(app or create_app(config), "warning", timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="paycert-simulator")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    return RunningSimulator(url=f"http://{host}:{bound}", server=server, thread=thread)


def serve(config: SimulatorConfig, host: str, port: int) -> None:
    """Serve in the foreground until interrupted."""
    _mask_logs()
    sock = _bind(host, port)
    server = uvicorn.Server(_config(create_app(config, access_log=AccessLog()), "info"))
    server.run(sockets=[sock])
