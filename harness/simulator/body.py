"""Request bodies at the edge: read once, bounded in size and time, parsed into strict JSON.

Why one module for both APIs and the control interface: the checks a body needs before any API looks at it
are the same everywhere (issue 11, "every input validated at the edge"), and each API only maps a refusal to
its own documented error row. `EdgeMiddleware` (app.py) reads every request's body before routing, so an
idempotency key is never claimed while its body is still arriving, and a body that stalls is given up after
`SimulatorConfig.body_timeout` seconds. What the edge refuses in a JSON body:

- more than the route's byte limit (and never more than `READ_CAP` bytes read at all);
- anything that is not strict UTF-8 JSON (RFC 8259): `NaN`, `Infinity`, numbers that overflow a float, a BOM;
- nesting deeper than `MAX_DEPTH` arrays/objects (never a RecursionError);
- strings (keys or values) holding a lone surrogate (`"\\ud800"`: valid escape syntax, not Unicode text) or a
  control character other than tab, line feed and carriage return (NUL included).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import Message, Receive, Scope

READ_CAP = 1024 * 1024  # the edge stops reading here whatever the route's limit
MAX_DEPTH = 32
DEFAULT_TIMEOUT = 10.0  # seconds for a whole body to arrive
_BODY = "paycert.body"
_FRAMING = (b"content-length", b"transfer-encoding")  # the headers that give a request a body (RFC 9112 6.3)
_ERROR = "paycert.body_error"
# C0 controls except \t \n \r, DEL, C1 controls, and the surrogate range (only reachable through \uXXXX escapes).
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

TOO_LARGE, TIMEOUT, MALFORMED, BAD_VALUE = "too_large", "timeout", "malformed", "bad_value"


@dataclass
class BodyError(Exception):
    """Why a body is refused; `path` is the dotted path of the offending value for BAD_VALUE ("card.holder")."""

    kind: str
    path: str | None = None

    @property
    def field(self) -> str | None:
        """The top-level field holding the bad value (what a flat API names in its error)."""
        return self.path.split(".", 1)[0] if self.path else None


async def buffer(scope: Scope, receive: Receive, timeout: float) -> Receive:
    """Read the whole body now (at most READ_CAP bytes, within `timeout` s) and return a `receive` that replays
    it. A body that is too large or too slow is noted in the scope for `read` and replayed as empty."""
    chunks: list[bytes] = []
    error: str | None = None
    if any(name in _FRAMING for name, _ in scope["headers"]):
        try:
            async with asyncio.timeout(timeout):
                error = await _read(receive, chunks)
        except TimeoutError:
            error = TIMEOUT
    else:
        # Neither Content-Length nor Transfer-Encoding: the body is empty (RFC 9112 section 6.3), the request is
        # complete and cannot stall, so no timer is armed (asyncio.timeout was a twentieth of a GET's time).
        error = await _read(receive, chunks)
    raw = b"" if error else b"".join(chunks)
    scope[_BODY] = raw
    if error:
        scope[_ERROR] = error
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


async def _read(receive: Receive, chunks: list[bytes]) -> str | None:
    """Append the body's chunks to `chunks` until the last one or a disconnect; TOO_LARGE past READ_CAP."""
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: the client went away
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > READ_CAP:
            return TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return None


async def read(request: Request, limit: int) -> bytes:
    """The request's body, or BodyError(TOO_LARGE / TIMEOUT). Works behind EdgeMiddleware or without it."""
    error = request.scope.get(_ERROR)
    if error:
        raise BodyError(error)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(TOO_LARGE)
    raw = request.scope.get(_BODY)
    if raw is None:  # not behind the middleware (an app built without it): read with the same bounds
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyError(TOO_LARGE)
            chunks.append(chunk)
        raw = b"".join(chunks)
    if len(raw) > limit:
        raise BodyError(TOO_LARGE)
    return bytes(raw)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


# json.loads with these hooks builds a JSONDecoder (and its scanner) per call; this is the same decoder, built once.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_json(raw: bytes) -> Any:
    """Strict JSON (see the module docstring), or BodyError(MALFORMED / BAD_VALUE with the value's path)."""
    try:
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding; the decoder itself does not
            raise ValueError("Unexpected UTF-8 BOM")
        value = _DECODER.decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BodyError(MALFORMED) from None
    if _may_fail_check(text):
        check_value(value)
    return value


def _may_fail_check(text: str) -> bool:
    """False when the JSON text itself shows that `check_value` finds nothing: without a backslash every string
    in it is spelt literally, so a bad character would be in the text; and a value nested MAX_DEPTH deep needs
    more than MAX_DEPTH brackets. The walk builds a path per value, most of the edge's time on a typical body."""
    return "\\" in text or _BAD_CHAR.search(text) is not None or text.count("{") + text.count("[") > MAX_DEPTH


def check_value(value: Any) -> None:
    """Walk a parsed JSON value without recursion: depth, and every key and string clean."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= MAX_DEPTH:
                raise BodyError(MALFORMED)
            for key, child in item.items():
                if _BAD_CHAR.search(key):
                    raise BodyError(MALFORMED)
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            if depth >= MAX_DEPTH:
                raise BodyError(MALFORMED)
            stack.extend((child, f"{path}.{i}" if path else str(i), depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str) and _BAD_CHAR.search(item):
            raise BodyError(BAD_VALUE, path or None)


def json_object(raw: bytes, *, empty_ok: bool) -> dict[str, Any]:
    """The body as a JSON object (an empty body is {} where `empty_ok`)."""
    if not raw.strip():
        if empty_ok:
            return {}
        raise BodyError(MALFORMED)
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise BodyError(MALFORMED)
    return value
