"""The simulator's outermost layer, in front of both APIs and the control interface.

In order, for every HTTP request:

1. the control token: with `SimulatorConfig.control_token` set (`paycert simulate --control-token`), a
   request under /_simulator must carry it in the `X-Paycert-Control-Token` header, else 401
   {"error": ...}, so on a shared simulator no client can reset or reconfigure it for the others;
2. the body is read in full, bounded in size and time (body.py), before any route sees the request;
3. the last resort: an exception no handler caught (a simulator bug) still gets an answer,
   500 {"error": "simulator internal error", "detail": "<exception type>"}, and the connection stays usable
   for the next request. Starlette's own error middleware re-raises after answering, which makes uvicorn
   close the keep-alive connection without a word; this layer does not.

With an `access_log` (access.py; `paycert simulate`), every answer, these included, is logged as it starts.
"""

from __future__ import annotations

import hmac
import json
import logging
import posixpath
import traceback
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.redaction import redact_text
from harness.simulator import body

CONTROL_PREFIX = "/_simulator"
TOKEN_HEADER = "x-paycert-control-token"
INTERNAL_ERROR = {"error": "simulator internal error"}
_log = logging.getLogger("paycert.simulator")


def is_control_path(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def targets_control(url: str) -> bool:
    """Whether `url` names a control route, however spelled (%-escapes, dot segments, doubled slashes, case):
    the simulator never sends a request there (no self-directed postbacks)."""
    path = unquote(urlsplit(url.strip()).path)
    normal = posixpath.normpath("/" + path.lstrip("/")).lower() if path else "/"
    return is_control_path(normal)


def _json(status: int, content: dict[str, str]) -> tuple[Message, Message]:
    data = json.dumps(content).encode()
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]},
            {"type": "http.response.body", "body": data})


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, control_token: str | None, body_timeout: float,
                 access_log: Callable[[Scope, int], None] | None = None) -> None:
        self.app = app
        self.token = control_token.encode() if control_token else None
        self.body_timeout = body_timeout
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        log = self.access_log

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if log is not None:
                    log(scope, message["status"])
            await send(message)

        if self.token is not None and is_control_path(scope["path"]) and not self._token_ok(scope):
            for message in _json(401, {"error": f"the control interface of this simulator needs its control token "
                                                f"in the {TOKEN_HEADER} header"}):
                await tracking_send(message)
            return
        try:
            replay = await body.buffer(scope, receive, self.body_timeout)
            await self.app(scope, replay, tracking_send)
        except Exception as exc:
            _log.error("unhandled error on %s %s\n%s", scope.get("method"), scope.get("path"),
                       redact_text(traceback.format_exc()))
            if not started:  # once an answer has started, closing the connection is all that is left
                for message in _json(500, {**INTERNAL_ERROR, "detail": type(exc).__name__}):
                    await tracking_send(message)

    def _token_ok(self, scope: Scope) -> bool:
        assert self.token is not None
        for name, value in scope["headers"]:
            if name == TOKEN_HEADER.encode():
                return hmac.compare_digest(value, self.token)
        return False
