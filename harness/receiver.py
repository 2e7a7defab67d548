"""A postback receiver the suites start on loopback: it records every delivery and checks both signatures.

Why our own: no off-the-shelf mock verifies Better Payment's checksum and signature, or can be told to fail
the first N deliveries to exercise the gateway's retry policy. It is client-side code: it never imports the
simulator, so it works the same against a sandbox (behind a tunnel) as against the embedded simulator.

    with PostbackReceiver(incoming_key=..., webhook_key=...) as rx:
        body["postback_url"] = rx.url
        ...
        [delivery] = rx.wait_for(1)
        assert delivery.checksum_ok and delivery.signature_ok

Checksums are verified both ways a real merchant does: over the raw body (CiviCRM) and rebuilt from the parsed
fields with PHP's http_build_query (the Shopware, WooCommerce and Magento plugins); a target must pass both.

The stdlib ThreadingHTTPServer in a daemon thread is enough: postbacks are few and small. Deliveries are kept
in memory only; they hold no card data (the gateway sends none) and the keys are never recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.postback_signing import (
    SIGNATURE_HEADER,
    checksum_is_last,
    parse_postback,
    verify_checksum,
    verify_checksum_rebuilt,
    verify_signature,
)

__all__ = ["Delivery", "PostbackReceiver"]

_MAX_BODY = 1 << 20


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the stdlib's 5 resets bursts of concurrent deliveries


@dataclass(frozen=True)
class Delivery:
    """One POST as received, and what the receiver made of it."""

    time: float  # wall clock (time.time()) when it arrived
    path: str
    headers: dict[str, str]
    raw_body: bytes
    fields: dict[str, str]
    checksum_ok: bool  # over the raw body, cut before the trailing checksum (the CiviCRM extension's way)
    checksum_rebuilt_ok: bool  # rebuilt from the parsed fields with PHP http_build_query (the PHP plugins' way)
    checksum_last: bool
    signature_ok: bool
    signature_present: bool
    answered: int  # the HTTP status the receiver answered

    @property
    def verified(self) -> bool:
        return self.checksum_ok and self.checksum_rebuilt_ok and self.signature_ok


@dataclass
class _Settings:
    incoming_key: str | None
    webhook_key: str | None
    fail_remaining: int = 0
    fail_status: int = 500
    reject_invalid: bool = False
    deliveries: list[Delivery] = field(default_factory=list)


class PostbackReceiver:
    """Records deliveries on http://127.0.0.1:<port><path>; thread-safe; start()/stop() or a with-block.

    `fail_first` deliveries are answered `fail_status` (500) so the sender retries; afterwards every POST gets
    200, unless `reject_invalid` is set, in which case a bad checksum or signature gets 401 (what the official
    plugins answer: better-payment/bp-plugin-shopware6-api2 src/Controller/WebhookController.php).
    """

    def __init__(
        self,
        *,
        incoming_key: str | None = None,
        webhook_key: str | None = None,
        fail_first: int = 0,
        fail_status: int = 500,
        reject_invalid: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/postback",
    ) -> None:
        if fail_first < 0:
            raise ValueError("fail_first must be >= 0")
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        self._host, self._port, self._path = host, port, path
        self._cond = threading.Condition()
        self._s = _Settings(incoming_key, webhook_key, fail_first, fail_status, reject_invalid)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> PostbackReceiver:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), self._handler_class())
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="paycert-postback-receiver")
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> PostbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The postback_url to hand to the API."""
        if self._server is None:
            raise RuntimeError("the receiver is not running; call start() first")
        port = int(self._server.server_address[1])
        return f"http://{self._host}:{port}{self._path}"

    # --- control and accessors (thread-safe) ----------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` deliveries with `status` instead of 200."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._cond:
            self._s.fail_remaining = count
            self._s.fail_status = status

    def set_keys(self, *, incoming_key: str | None = None, webhook_key: str | None = None) -> None:
        with self._cond:
            self._s.incoming_key = incoming_key
            self._s.webhook_key = webhook_key

    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._s.deliveries)

    def clear(self) -> None:
        with self._cond:
            self._s.deliveries.clear()

    def wait_for(
        self, count: int, timeout: float = 5.0, where: Callable[[Delivery], bool] | None = None
    ) -> list[Delivery]:
        """Block until at least `count` (matching) deliveries arrived; return them. TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [d for d in self._s.deliveries if where is None or where(d)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} postback(s), got {len(matching)} within {timeout} s")
                self._cond.wait(remaining)

    def for_transaction(self, transaction_id: str) -> list[Delivery]:
        return [d for d in self.deliveries() if d.fields.get("transaction_id") == transaction_id]

    # --- the HTTP side --------------------------------------------------------------------------------------

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        with self._cond:
            s = self._s
            incoming_key, webhook_key = s.incoming_key, s.webhook_key
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        checksum_ok = incoming_key is not None and verify_checksum(raw, incoming_key)
        rebuilt_ok = incoming_key is not None and verify_checksum_rebuilt(raw, incoming_key)
        signature_ok = webhook_key is not None and verify_signature(raw, header, webhook_key)
        with self._cond:
            if s.fail_remaining > 0:
                s.fail_remaining -= 1
                answered = s.fail_status
            elif s.reject_invalid and not (checksum_ok and rebuilt_ok and signature_ok):
                answered = 401
            else:
                answered = 200
            s.deliveries.append(Delivery(
                time=time.time(), path=path, headers=headers, raw_body=raw, fields=parse_postback(raw),
                checksum_ok=checksum_ok, checksum_rebuilt_ok=rebuilt_ok, checksum_last=checksum_is_last(raw),
                signature_ok=signature_ok,
                signature_present=header is not None, answered=answered,
            ))
            self._cond.notify_all()
        return answered

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # deliveries are recorded, not logged

            def _answer(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > _MAX_BODY:
                    self.close_connection = True
                    self._answer(400, "bad Content-Length")
                    return
                raw = self.rfile.read(length) if length else b""
                status = receiver._record(self.path, dict(self.headers.items()), raw)
                self._answer(status, "OK" if status == 200 else "not accepted")

            def do_GET(self) -> None:
                self._answer(405, "postbacks are POSTed")

        return Handler
