"""A request budget per API key, shared by every process of a run (pytest-xdist workers included).

Why: the real APIs limit requests per API key (BetterCharge: 100 a minute), and a certification run that trips
the limit fails for reasons that have nothing to do with the contract. Each worker of a parallel run only sees
its own requests, so the budget lives in a file that all of them share, guarded by ``filelock``.

The file holds the send times of the last window's requests (a sliding window, not fixed buckets, so a burst
at the edge of two windows cannot double the rate). It is named by a hash of the API key, never the key, and
holds nothing but times. Its directory is ``$PAYCERT_BUDGET_DIR``, by default a per-user directory under the
system temp dir: runs that share a key on one machine share its budget, which is what the server counts too.
Point the variable at a fresh directory to give a run a budget of its own.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from filelock import FileLock
from filelock import Timeout as LockTimeout

from harness.errors import BudgetTimeout

__all__ = ["BUDGET_DIR_ENV", "BudgetTimeout", "RequestBudget", "default_budget_dir"]

_log = logging.getLogger(__name__)

BUDGET_DIR_ENV: Final = "PAYCERT_BUDGET_DIR"


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

    @property
    def path(self) -> Path:
        """The shared file: send times of the requests in the current window, as a JSON list."""
        return self.directory / f"{self.key_id}.json"

    def _lock(self) -> FileLock:
        return FileLock(str(self.path) + ".lock", timeout=30)

    def _read(self) -> list[float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (ValueError, OSError) as exc:
            _log.warning("request budget file %s unreadable (%s); starting afresh", self.path, type(exc).__name__)
            return []
        if not isinstance(data, list):
            return []
        return [float(t) for t in data if isinstance(t, int | float) and not isinstance(t, bool)]

    def _write(self, stamps: list[float]) -> None:
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stamps), encoding="utf-8")
        tmp.replace(self.path)

    def try_acquire(self) -> float:
        """Take a slot if one is free and return 0; else take nothing and return the seconds until one frees."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            with self._lock():
                now = self._clock()
                stamps = sorted(t for t in self._read() if now - self.window < t <= now + self.window)
                if len(stamps) < self.limit:
                    stamps.append(now)
                    self._write(stamps)
                    return 0.0
                # The (len - limit + 1)-th oldest must leave the window before a new request fits.
                return max(stamps[len(stamps) - self.limit] + self.window - now, 0.001)
        except LockTimeout as exc:
            raise BudgetTimeout(f"request budget lock {self.path}.lock held by another process for 30 s") from exc

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
        return sum(1 for t in self._read() if now - self.window < t <= now + self.window)

    def reset(self) -> None:
        """Forget every recorded request for this key (for tests and for a fresh run's set-up)."""
        with contextlib.suppress(FileNotFoundError), self._lock():
            self.path.unlink()
