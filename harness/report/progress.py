"""Progress of a certification run that tells the truth: tests N/M, requests spent, budget left, ETA.

The child pytest's run plugin (harness.report.run_plugin) appends one JSON line per event to
``logs/progress.jsonl``; `ProgressReader` follows that file from the parent. On a terminal certify shows a live
rich bar; elsewhere (CI) a plain line when the test count is known and then every 30 s. On a sandbox the line also
gives the requests spent per API, what is left of the BetterCharge key's rate-limit window and an ETA that
accounts for the rate limit (a sandbox run is bounded by requests ÷ limit, not by CPU).

`common_cause` is the early-stop rule: when most of a run fails the same way (a wrong key, a dead host), running
the rest only spends the budget; certify stops and prints the cause.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: early stop: at least this many tests finished, and this share of them failed with one same cause
EARLY_STOP_MIN_TESTS: Final = 20
EARLY_STOP_SHARE: Final = 0.8


class ProgressReader:
    """Follows the run plugin's JSON-lines event file (complete lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.total: int | None = None
        self.done = 0
        self.counts: dict[str, int] = {}
        self.collection_errors: dict[str, str] = {}
        self.exitstatus: int | None = None
        self.requests: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.provoked: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.first_test_at: float | None = None
        self.started_at = time.monotonic()

    def poll(self) -> bool:
        """Read new events; True when something changed."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return False
        end = chunk.rfind(b"\n")
        if end < 0:
            return False
        self.offset += end + 1
        for line in chunk[: end + 1].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._apply(event)
        return True

    def _apply(self, event: dict[str, object]) -> None:
        kind = event.get("event")
        if kind == "collected":
            self.total = int(str(event.get("total", 0)))
        elif kind == "test":
            self.done += 1
            if self.first_test_at is None:
                self.first_test_at = time.monotonic()
            outcome = str(event.get("outcome", "passed"))
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            spent = event.get("requests")
            if isinstance(spent, dict):
                for api, pair in spent.items():
                    if isinstance(pair, list) and len(pair) in (2, 3):
                        self.requests[str(api)] += int(pair[0])
                        self.rate_limited[str(api)] += int(pair[1])
                        self.provoked[str(api)] += int(pair[2]) if len(pair) == 3 else 0
            if outcome in ("failed", "error") and event.get("cause"):
                self.causes[str(event["cause"])] += 1
        elif kind == "collect_error":
            self.collection_errors.setdefault(str(event.get("nodeid")), str(event.get("message", "")))
        elif kind == "finished":
            self.exitstatus = int(str(event.get("exitstatus", -1)))

    def describe(self) -> str:
        parts = [f"{n} {k}" for k, n in sorted(self.counts.items())]
        if self.collection_errors:
            parts.append(f"{len(self.collection_errors)} collection errors")
        return ", ".join(parts) or ("starting" if self.total is None else "collected")

    def common_cause(self) -> tuple[str, int] | None:
        """(cause, tests) when most finished tests failed the same way; None otherwise."""
        if self.done < EARLY_STOP_MIN_TESTS or not self.causes:
            return None
        cause, count = self.causes.most_common(1)[0]
        return (cause, count) if count >= EARLY_STOP_SHARE * self.done else None


@dataclass(frozen=True)
class Budget:
    """What the progress line says about a rate-limited key: requests in the current window of `limit`."""

    api: str
    limit: int
    window: float
    in_window: int


def eta_seconds(reader: ProgressReader, budgets: list[Budget]) -> float | None:
    """Time left: the slower of the pace so far and what the rate limit allows for the requests still to come."""
    if reader.total is None or reader.first_test_at is None or reader.done == 0:
        return None
    left = max(reader.total - reader.done, 0)
    elapsed = time.monotonic() - reader.first_test_at
    by_pace = elapsed / reader.done * left
    by_rate = 0.0
    for b in budgets:
        per_test = reader.requests.get(b.api, 0) / reader.done
        by_rate = max(by_rate, per_test * left / b.limit * b.window)
    return max(by_pace, by_rate)


def describe_run(reader: ProgressReader, budgets: list[Budget]) -> str:
    """The detail part of a progress line: outcomes, requests per API, budget left, ETA."""
    parts = [reader.describe()]
    for api, n in sorted(reader.requests.items()):
        limited = reader.rate_limited.get(api, 0)
        parts.append(f"{api} {n} requests" + (f" ({limited} answered 429)" if limited else ""))
    for b in budgets:
        parts.append(f"{b.api} budget {max(b.limit - b.in_window, 0)}/{b.limit} left this {b.window:g} s window")
    eta = eta_seconds(reader, budgets)
    if eta is not None and reader.total is not None and reader.done < reader.total:
        parts.append(f"ETA {_duration(eta)}")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"
