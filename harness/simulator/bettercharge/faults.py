"""Fault injection: the next N BetterCharge API requests fail the way the control interface asked.

Kinds: one per catalog error row whose trigger is `fault_<kind>` (the 500 and 502 rows: the PSP down or
erroring), `delay` (answer only after `seconds`, then normally) and `drop` (close the connection mid-answer;
with `"process": true` the request is processed first, so the client loses an answer that took effect).
Faults queue up in the order they were armed; the head one is used until its count is spent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from harness.catalog.bettercharge import BetterChargeCatalog
from harness.simulator.bettercharge.validation import is_int

DELAY, DROP = "delay", "drop"
_TRIGGER_PREFIX = "fault_"
MAX_COUNT = 10_000
MAX_DELAY_SECONDS = 300.0
MAX_ERROR_TEXT = 500
DEFAULT_UPSTREAM_ERROR = "upstream error"  # fills {error} of the "responded with error" row when none is given


@dataclass
class Fault:
    kind: str
    count: int
    error_id: str | None = None  # the catalog row answered, for the error kinds
    seconds: float = 0.0
    error: str = DEFAULT_UPSTREAM_ERROR
    process: bool = False


class DroppedResponse(Response):
    """Announces a body and sends only part of it, then returns: the server closes the connection (uvicorn:
    "returned without completing response"), and the client sees a transport error, not an HTTP answer."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"', "more_body": True})


class Faults:
    def __init__(self, catalog: BetterChargeCatalog) -> None:
        self.error_kinds = {row.trigger.removeprefix(_TRIGGER_PREFIX): row.id
                            for row in catalog.errors if row.trigger.startswith(_TRIGGER_PREFIX)}
        self._queue: deque[Fault] = deque()

    @property
    def kinds(self) -> list[str]:
        return [*self.error_kinds, DELAY, DROP]

    def clear(self) -> None:
        self._queue.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self._queue]

    def take(self) -> Fault | None:
        """The fault for this request, if one is armed."""
        if not self._queue:
            return None
        head = self._queue[0]
        head.count -= 1
        if head.count <= 0:
            self._queue.popleft()
        return head

    def arm(self, body: dict[str, Any]) -> Fault:
        """Queue a fault from a control body; ValueError says what is wrong with it."""
        kind = body.get("kind")
        if kind not in self.kinds:
            raise ValueError(f"kind must be one of {', '.join(self.kinds)}")
        count = body.get("count", 1)
        if not is_int(count) or not 1 <= count <= MAX_COUNT:
            raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}")
        fault = Fault(kind=kind, count=count, error_id=self.error_kinds.get(kind))
        seconds = body.get("seconds")
        if kind == DELAY:
            if (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                    or not 0 < seconds <= MAX_DELAY_SECONDS):
                raise ValueError(f"a delay needs seconds, a number above 0 and at most {MAX_DELAY_SECONDS:g}")
            fault.seconds = float(seconds)
        elif seconds is not None:
            raise ValueError("seconds only applies to kind delay")
        error = body.get("error")
        if error is not None:
            if not isinstance(error, str) or not error or len(error) > MAX_ERROR_TEXT:
                raise ValueError(f"error must be a non-empty string of at most {MAX_ERROR_TEXT} characters")
            fault.error = error
        process = body.get("process", False)
        if not isinstance(process, bool):
            raise ValueError("process must be true or false")
        if process and kind != DROP:
            raise ValueError("process only applies to kind drop")
        fault.process = process
        self._queue.append(fault)
        return fault
