"""The documented rate limit: N requests per window per API key, with X-RateLimit-* headers on every answer.

Fixed windows on the simulator clock, each opened by the key's first request after the previous one ended
(adopted: a window aligned to the minute would let a burst straddle two windows, making the 101st request's
fate depend on the wall clock). Every request that presents an x-api-key counts, before authentication,
keyed by a hash of the key. A request without one is not counted; its headers show the full allowance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from http import HTTPStatus

from starlette.responses import Response

from harness.catalog.bettercharge import RateLimit
from harness.simulator import boundaries
from harness.simulator.bettercharge import defects
from harness.simulator.bettercharge.auth import key_hash
from harness.simulator.bettercharge.responses import JsonResponse, http_error
from harness.simulator.state import SimulatorState

# Adopted: the seed documents the 429 status and headers but no error row, so the body is built from the
# HTTP status phrase in the documented error shape: {"code": "TOO_MANY_REQUESTS", "error": "Too Many Requests"}.
_EXCEEDED_MESSAGE = "Rate limit exceeded"
_PRUNE_AT = 10_000


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # unix seconds (simulator clock) at which the window ends
    retry_after: int
    exceeded: bool


class RateLimiter:
    def __init__(self, policy: RateLimit, state: SimulatorState) -> None:
        self._policy = policy
        self._state = state
        self._windows: dict[str, tuple[float, int]] = {}  # key hash -> (window start, requests counted)

    def clear(self) -> None:
        self._windows.clear()

    def hit(self, api_key: str | None) -> Quota:
        """Count one request of `api_key` and say where its window stands."""
        now = self._state.clock.now()
        limit, window = self._policy.limit, self._policy.window_seconds
        window += boundaries.shift(self._state.defect, "bettercharge", "rate_reset")
        if not api_key:
            return Quota(limit, limit, math.ceil(now + window), 0, exceeded=False)
        bucket = key_hash(api_key)
        if len(self._windows) >= _PRUNE_AT:  # random keys (a fuzzer) must not grow this without bound
            self._windows = {k: w for k, w in self._windows.items() if now < w[0] + window}
        start, count = self._windows.get(bucket, (now, 0))
        if now >= start + window:
            start, count = now, 0
        count += 1
        self._windows[bucket] = (start, count)
        end = start + window
        allowed = limit + 1 if self._state.defect(defects.RATE_LIMIT_101) else limit
        allowed += boundaries.shift(self._state.defect, "bettercharge", "rate_count")
        return Quota(limit, max(0, limit - count), math.ceil(end), max(1, math.ceil(end - now)),
                     exceeded=count > allowed)

    def too_many(self, quota: Quota) -> JsonResponse:
        response = http_error(HTTPStatus(self._policy.status), _EXCEEDED_MESSAGE)
        if not self._state.defect(defects.RATE_NO_RETRY_AFTER):
            response.headers["Retry-After"] = str(quota.retry_after)
        return response

    def decorate(self, response: Response, quota: Quota) -> None:
        """Put the documented headers (catalog order: limit, remaining, reset) on the answer."""
        if self._state.defect(defects.RATE_HEADERS_ON_SUCCESS_ONLY) and response.status_code >= 400:
            return
        for name, value in zip(self._policy.headers, (quota.limit, quota.remaining, quota.reset), strict=True):
            response.headers[name] = str(value)
