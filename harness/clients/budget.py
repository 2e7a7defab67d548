"""A request budget per API key, shared by every process of a run (pytest-xdist workers included).

Why: the real APIs limit requests per API key (BetterCharge: 100 a minute), and a certification run that trips
the limit fails for reasons that have nothing to do with the contract. Each worker of a parallel run only sees
its own requests, so the budget lives in a file that all of them share, guarded by ``filelock``.

The file holds the send times of the last window's requests and, once the API has answered with its rate-limit
headers, what the server said: requests remaining in its current window and when that window resets. With the
server's word the budget spends exactly the server's windows (X-RateLimit-Remaining less the requests still in
flight, then a fresh `limit` at X-RateLimit-Reset plus a clock margin): a sliding window of our own laid over
the server's fixed ones would idle up to a whole window after every burst, and measured a BetterCharge sandbox
run at 1.4x the floor (requests / 100 per minute). Before the first answer, and for an API that sends no such
headers, it is a sliding window (never more than `limit` requests in any `window` seconds, which a fixed-window
server also accepts). Requests a test sends past the budget on purpose (the rate-limit suite's drain) are
recorded through `ObservingBudget`, so the budgeted clients see the drained window and wait instead of meeting
a 429. The file is named by a hash of the API key, never the key, and holds nothing but times and counts.
Its directory is ``$PAYCERT_BUDGET_DIR``, by default a per-user directory under the
system temp dir: runs that share a key on one machine share its budget, which is what the server counts too.
Point the variable at a fresh directory to give a run a budget of its own.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from filelock import FileLock
from filelock import Timeout as LockTimeout

from harness.errors import BudgetTimeout

__all__ = ["BUDGET_DIR_ENV", "Budget", "BudgetTimeout", "ObservingBudget", "RequestBudget", "default_budget_dir"]

_log = logging.getLogger(__name__)

BUDGET_DIR_ENV: Final = "PAYCERT_BUDGET_DIR"
#: Seconds after the server's X-RateLimit-Reset before its fresh window is spent: Unix-second rounding and the
#: clock skew preflight tolerates (harness/report/preflight.py) must not make the first request of it a 429.
RESET_MARGIN: Final = 2.0
#: A claimed request whose answer never came (a crashed worker) stops counting as in flight after this long.
IN_FLIGHT_TIMEOUT: Final = 30.0


def default_budget_dir() -> Path:
    """``$PAYCERT_BUDGET_DIR`` if set, else ``<tmp>/paycert-budget-<user>`` (per user, so users never share)."""
    configured = os.environ.get(BUDGET_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    safe_user = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in user)
    return Path(tempfile.gettempdir()) / f"paycert-budget-{safe_user}"


class RequestBudget:
    """At most `limit` requests per `window` seconds for one API key, across processes; `acquire()` blocks.

    `clock` must be a wall clock shared by the processes (time.time), not a monotonic one. `max_wait` bounds
    one `acquire()`; None waits for ever.
    """

    def __init__(
        self,
        api_key: str,
        limit: int,
        window: float = 60.0,
        *,
        directory: str | Path | None = None,
        max_wait: float | None = 300.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        remaining_header: str | None = None,
        reset_header: str | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string (the budget is kept per API key)")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        if not window > 0:
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        if max_wait is not None and max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 or None, got {max_wait!r}")
        self.limit = limit
        self.window = float(window)
        self.max_wait = max_wait
        self.key_id = hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:32]
        self.directory = Path(directory) if directory is not None else default_budget_dir()
        self._clock = clock
        self._sleep = sleep
        self.remaining_header, self.reset_header = remaining_header, reset_header

    @property
    def path(self) -> Path:
        """The shared file: send times of the requests in the current window, as a JSON list."""
        return self.directory / f"{self.key_id}.json"

    def _lock(self) -> FileLock:
        return FileLock(str(self.path) + ".lock", timeout=30)

    def _read(self) -> _State:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _State()
        except (ValueError, OSError) as exc:
            _log.warning("request budget file %s unreadable (%s); starting afresh", self.path, type(exc).__name__)
            return _State()
        return _State.from_json(data)

    def _write(self, state: _State) -> None:
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state.to_json()), encoding="utf-8")
        tmp.replace(self.path)

    def _update(self, change: Callable[[_State, float], float]) -> float:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            with self._lock():
                now = self._clock()
                state = self._read()
                state.stamps = sorted(t for t in state.stamps if now - self.window < t <= now + self.window)
                state.in_flight = sorted(t for t in state.in_flight if now - IN_FLIGHT_TIMEOUT < t <= now + 1)
                result = change(state, now)
                self._write(state)
                return result
        except LockTimeout as exc:
            raise BudgetTimeout(f"request budget lock {self.path}.lock held by another process for 30 s") from exc

    def _wait(self, state: _State, now: float) -> float:
        """Seconds until a request may be sent (0: now)."""
        held = state.held_by_another(now)
        if held:
            return min(held, 1.0)  # another process holds the key; look again soon
        if state.reset is not None and now < state.reset + RESET_MARGIN:
            # The server's current window: what it said is left, less what is on its way to it.
            if state.remaining is not None and state.remaining - len(state.in_flight) > 0:
                return 0.0
            return state.reset + RESET_MARGIN - now
        if state.reset is not None:
            # That window is over; the server's next one holds `limit`, less what was sent since it began.
            since = sum(1 for t in state.stamps if t >= state.reset + RESET_MARGIN)
            return 0.0 if since < self.limit else 1.0  # until an answer tells the new window's reset
        if len(state.stamps) < self.limit:
            return 0.0
        # The (len - limit + 1)-th oldest must leave the window before a new request fits.
        return max(state.stamps[len(state.stamps) - self.limit] + self.window - now, 0.001)

    def try_acquire(self) -> float:
        """Take a slot if one is free and return 0; else take nothing and return the seconds until one frees."""
        def take(state: _State, now: float) -> float:
            wait = self._wait(state, now)
            if wait == 0.0:
                state.take(now)
            return wait

        return self._update(take)

    def reserve(self, seconds: float) -> None:
        """Hold the key for this process alone for at most `seconds` (until `release`): the other processes'
        acquire() waits meanwhile. For a test that must count a window's requests exactly or go past the limit
        on purpose while other workers of the run share the key; a holder that dies frees it after `seconds`."""
        def claim(state: _State, now: float) -> float:
            held = state.held_by_another(now)
            if held:
                return min(held, 1.0)
            state.reserved_by, state.reserved_until = os.getpid(), now + seconds
            return 0.0

        while True:
            wait = self._update(claim)
            if wait == 0.0:
                return
            self._sleep(wait)

    def release(self) -> None:
        """End this process's `reserve`."""
        def free(state: _State, _now: float) -> float:
            if state.reserved_by == os.getpid():
                state.reserved_by = state.reserved_until = None
            return 0.0

        self._update(free)

    def record(self) -> None:
        """Count a request sent without asking (ObservingBudget): it uses the server's window all the same."""
        self._update(lambda state, now: state.take(now))

    def observe(self, remaining: int | None, reset: float | None) -> None:
        """The answer to a claimed request came: it is no longer in flight; `remaining` and `reset` are the
        server's rate-limit headers on it (None when it sent none)."""
        def settle(state: _State, _now: float) -> float:
            if state.in_flight:
                state.in_flight.pop(0)
            if remaining is None or reset is None:
                return 0.0
            if state.reset is None or reset > state.reset:
                state.reset, state.remaining = reset, remaining
            elif reset == state.reset:
                state.remaining = remaining if state.remaining is None else min(state.remaining, remaining)
            return 0.0

        self._update(settle)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """`observe` from an answer's headers named as the catalog names them (rate_limit_budget sets them)."""
        remaining = _number(headers.get(self.remaining_header)) if self.remaining_header else None
        reset = _number(headers.get(self.reset_header)) if self.reset_header else None
        self.observe(int(remaining) if remaining is not None else None, reset)

    def acquire(self) -> float:
        """Block until a slot is free, take it, and return how long it waited (seconds)."""
        start = self._clock()
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return self._clock() - start
            waited = self._clock() - start
            if self.max_wait is not None and waited + wait > self.max_wait:
                raise BudgetTimeout(
                    f"request budget of {self.limit} per {self.window:g} s exhausted; the next slot frees in "
                    f"{wait:.2f} s, beyond max_wait={self.max_wait:g} s"
                )
            self._sleep(wait)

    def in_window(self) -> int:
        """Requests taken in the current window, by every process sharing this key (for progress displays)."""
        now = self._clock()
        state = self._read()
        if state.reset is not None and now < state.reset + RESET_MARGIN and state.remaining is not None:
            return max(self.limit - state.remaining + len(state.in_flight), 0)
        return sum(1 for t in state.stamps if now - self.window < t <= now + self.window)

    def reset(self) -> None:
        """Forget every recorded request for this key (for tests and for a fresh run's set-up)."""
        with contextlib.suppress(FileNotFoundError), self._lock():
            self.path.unlink()


class Budget(Protocol):
    """What a client asks of a budget: a slot before each attempt, and the answer's headers after it."""

    def acquire(self) -> float: ...

    def observe(self, remaining: int | None, reset: float | None) -> None: ...

    def observe_headers(self, headers: Mapping[str, str]) -> None: ...


class ObservingBudget:
    """A budget's view for a client that must send past the limit (the rate-limit suite drains a window to see
    its 429): it never waits, but every request it sends and every answer it gets count in the shared file, so
    the budgeted clients of the run know the window is spent. While it is open it holds the key for its process
    alone (`RequestBudget.reserve`, at most `hold` seconds): other workers' requests would make its exact counts
    wrong and meet the 429 it provokes. `close()` lets go."""

    def __init__(self, budget: RequestBudget, hold: float | None = None) -> None:
        self.budget = budget
        budget.reserve(hold if hold is not None else 3 * budget.window)

    def close(self) -> None:
        self.budget.release()

    def acquire(self) -> float:
        self.budget.record()
        return 0.0

    def observe(self, remaining: int | None, reset: float | None) -> None:
        self.budget.observe(remaining, reset)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        self.budget.observe_headers(headers)


@dataclass
class _State:
    """The shared file's content: send times in the last window, claims still in flight, the server's word."""

    stamps: list[float] = field(default_factory=list)
    in_flight: list[float] = field(default_factory=list)
    remaining: int | None = None
    reset: float | None = None
    reserved_by: int | None = None  # a process holding the key alone (RequestBudget.reserve), until then
    reserved_until: float | None = None

    def held_by_another(self, now: float) -> float:
        """Seconds another process still holds the key for (RequestBudget.reserve); 0 when nobody else does."""
        if self.reserved_by in (None, os.getpid()) or self.reserved_until is None:
            return 0.0
        return max(self.reserved_until - now, 0.0)

    def take(self, now: float) -> float:
        self.stamps.append(now)
        self.in_flight.append(now)
        return 0.0

    def to_json(self) -> dict[str, Any]:
        return {"stamps": self.stamps, "in_flight": self.in_flight, "remaining": self.remaining,
                "reset": self.reset, "reserved_by": self.reserved_by, "reserved_until": self.reserved_until}

    @classmethod
    def from_json(cls, data: Any) -> _State:
        if isinstance(data, list):  # the format before the server's word was kept
            data = {"stamps": data}
        if not isinstance(data, dict):
            return cls()

        def times(name: str) -> list[float]:
            raw = data.get(name)
            return [float(t) for t in raw if _is_number(t)] if isinstance(raw, list) else []

        def number(name: str) -> float | None:
            value = data.get(name)
            return float(value) if isinstance(value, int | float) and _is_number(value) else None

        remaining, by = number("remaining"), number("reserved_by")
        return cls(times("stamps"), times("in_flight"), int(remaining) if remaining is not None else None,
                   number("reset"), int(by) if by is not None else None, number("reserved_until"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None
