"""The simulator clock: real time plus an offset that only the control interface moves.

Idempotency retention, rate-limit windows, authorization validity and postback retries are all hours or
minutes long; tests jump the clock instead of waiting. The offset lives in the store so a simulator restarted
on the same --data-dir keeps its notion of time, and in memory so reading the clock costs no query.

Bounds (issue 11): the offset is a finite number from 0 to MAX_OFFSET_SECONDS (100 years: past every
retention and validity the catalogs name, far before datetime's year 9999). An advance that would pass it is
refused, and an offset read back from the store that is not within bounds (a poisoned store) is reset to 0
with a warning, so it cannot survive a restart.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime

from harness.simulator.store import Store

MAX_OFFSET_SECONDS = 100 * 365 * 86400.0
_KEY = "clock_offset"
_log = logging.getLogger("paycert.simulator")


def valid_offset(value: float) -> bool:
    return math.isfinite(value) and 0 <= value <= MAX_OFFSET_SECONDS


class Clock:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._offset = self._load()

    def _load(self) -> float:
        text = self._store.get_meta(_KEY, "0")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not valid_offset(value):
            _log.warning("the stored clock offset %r is out of bounds; the simulator clock starts at real time",
                         text[:40])
            self.reset()
            return 0.0
        return value

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        """Seconds since the epoch, simulator time."""
        return time.time() + self._offset

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def today(self) -> tuple[int, int]:
        """(year, month) in simulator time, for card-expiry checks."""
        d = datetime.fromtimestamp(self.now(), UTC)
        return d.year, d.month

    def advance(self, seconds: float) -> None:
        """Move forward; ValueError (saying why) for a negative, non-finite or out-of-bounds move."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("advance_seconds must be a finite, non-negative number of seconds")
        target = self._offset + seconds
        if not valid_offset(target):
            raise ValueError(f"the simulator clock cannot run more than {MAX_OFFSET_SECONDS:.0f} s "
                             f"(100 years) ahead; it is {self._offset:.0f} s ahead now")
        self._store.set_meta(_KEY, repr(target))
        self._offset = target

    def reset(self) -> None:
        self._store.set_meta(_KEY, "0")
        self._offset = 0.0
