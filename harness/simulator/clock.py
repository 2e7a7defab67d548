"""The simulator clock: real time plus an offset that only the control interface moves.

Idempotency retention, rate-limit windows, authorization validity and postback retries are all hours or
minutes long; tests jump the clock instead of waiting. The offset lives in the store so a simulator restarted
on the same --data-dir keeps its notion of time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from harness.simulator.store import Store


class Clock:
    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def offset(self) -> float:
        return float(self._store.get_meta("clock_offset", "0"))

    def now(self) -> float:
        """Seconds since the epoch, simulator time."""
        return time.time() + self.offset

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def today(self) -> tuple[int, int]:
        """(year, month) in simulator time, for card-expiry checks."""
        d = datetime.fromtimestamp(self.now(), UTC)
        return d.year, d.month

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulator clock only moves forward")
        self._store.set_meta("clock_offset", str(self.offset + seconds))

    def reset(self) -> None:
        self._store.set_meta("clock_offset", "0")
