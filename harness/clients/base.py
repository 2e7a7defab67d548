"""Shared client plumbing: auth, explicit timeouts, retries with one idempotency key, budget, evidence.

Why one base: both API clients must retry the same way, record the same evidence and report infrastructure
failures the same way, or the certification report could not compare them. The client layer never imports
the simulator; it talks HTTP through an httpx transport, which is also the seam tests use (MockTransport).

Exceptions::

    Exception
    └── ClientError                 anything the client layer itself raises
        └── InfrastructureError     retries exhausted on 429/5xx or a transport error, or no budget slot:
                                    the run could not reach a verdict, which is not a contract failure

Retry semantics (the IETF draft "The Idempotency-Key HTTP Header Field"; Stripe's SDK as reference): retry
429, 5xx and transport errors, at most
`max_attempts` attempts in all; wait ``Retry-After`` (capped at 60 s), else on a 429 until
``X-RateLimit-Reset``, else an exponential backoff from 0.5 s doubling to 5 s with full jitter. Every attempt
of one logical operation carries the same idempotency key, a v4 UUID generated per operation unless the caller
gives one. Any other status, 4xx included, is returned as it is: judging it is the suites' job.
"""

from __future__ import annotations

import copy
import enum
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol, Self
from urllib.parse import quote, urlsplit

import httpx

from harness.clients.budget import Budget
from harness.errors import BudgetTimeout, ClientError, InfrastructureError
from harness.evidence import EXTENSION_KEY, RecordingTransport

__all__ = [
    "DEFAULT_TIMEOUT",
    "OMIT",
    "ApiClient",
    "ClientError",
    "HeaderAuth",
    "IdempotencyKey",
    "InfrastructureError",
    "Omit",
    "OperationSpec",
    "RetryPolicy",
    "path_segment",
]

_log = logging.getLogger(__name__)

#: Explicit by design (the seed's best practice "set appropriate timeouts"): a hung server fails a test
#: within seconds instead of stalling the run.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
_ABSOLUTE_RESET_AFTER: Final = 1_000_000_000  # X-RateLimit-Reset values above this are Unix times, not deltas


class Omit(enum.Enum):
    """Sentinel type: `idempotency_key=OMIT` sends no idempotency header at all."""

    OMIT = "omit"


OMIT: Final = Omit.OMIT
#: None: generate a v4 UUID for this operation; a string: use it; OMIT: send none.
IdempotencyKey = str | Omit | None


def _uniform() -> float:
    return random.random()


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries; `sleep`, `random` and `clock` are injectable so tests never really sleep.

    With `retry_on_status` off, 429 and 5xx responses are returned like any other (for suites that must see
    them raw); transport errors still raise InfrastructureError, since there is no response to return.
    """

    max_attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 5.0
    max_retry_after: float = 60.0
    retry_on_status: bool = True
    retry_on_transport_error: bool = True
    jitter: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    random: Callable[[], float] = field(default=_uniform, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        for name in ("initial_backoff", "max_backoff", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)!r}")

    @classmethod
    def off(cls) -> RetryPolicy:
        """One attempt, statuses returned raw: what suites observing 429/500/502 need."""
        return cls(max_attempts=1, retry_on_status=False, retry_on_transport_error=False)

    def is_retryable_status(self, status: int) -> bool:
        """429 and every 5xx, when status retries are on."""
        return self.retry_on_status and (status == httpx.codes.TOO_MANY_REQUESTS or httpx.codes.is_server_error(status))

    def backoff(self, retry_number: int) -> float:
        """Wait before retry `retry_number` (1 = first retry) when the server gives no hint: full jitter."""
        cap = min(self.max_backoff, self.initial_backoff * 2 ** max(retry_number - 1, 0))
        return self.random() * cap if self.jitter else cap

    def server_hint(self, response: httpx.Response | None) -> float | None:
        """Seconds the server asked us to wait, capped at `max_retry_after`; None when it did not say.

        ``Retry-After`` (seconds or an HTTP date) wins; on a 429 without it, ``X-RateLimit-Reset`` (Unix
        seconds; small values are taken as seconds from now, as some servers send).
        """
        if response is None:
            return None
        hint = _parse_retry_after(response.headers.get("Retry-After"), self.clock)
        if hint is None and response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            hint = _parse_reset(response.headers.get("X-RateLimit-Reset"), self.clock)
        if hint is None:
            return None
        return min(max(hint, 0.0), self.max_retry_after)

    def delay(self, retry_number: int, response: httpx.Response | None = None) -> float:
        """The wait before retry `retry_number`: the server's hint if any, else the jittered backoff."""
        hint = self.server_hint(response)
        return hint if hint is not None else self.backoff(retry_number)


def _parse_retry_after(value: str | None, clock: Callable[[], float]) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.timestamp() - clock()


def _parse_reset(value: str | None, clock: Callable[[], float]) -> float | None:
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    return reset - clock() if reset > _ABSOLUTE_RESET_AFTER else reset


class OperationSpec(Protocol):
    """What a client needs to know of an operation: the catalog's operation rows have this shape."""

    @property
    def name(self) -> str: ...

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...


class HeaderAuth(httpx.Auth):
    """Credentials sent as plain headers (BetterCharge's x-api-key and x-partner-id).

    A header the request already carries is left alone, so a suite can send a wrong key deliberately.
    """

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def auth_flow(self, request: httpx.Request) -> Any:
        """Add the credential headers the request does not set itself."""
        for name, value in self._headers.items():
            if name not in request.headers:
                request.headers[name] = value
        yield request


def path_segment(value: str, name: str) -> str:
    """`value` escaped as one URL path segment; empty or non-string values get a clear error."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


class ApiClient:
    """httpx plumbing shared by the API clients; subclasses add one method per operation.

    Methods return the ``httpx.Response`` (body read) so suites can check the status, headers and exact body.
    `transport` replaces the network (httpx.MockTransport in tests); it is wrapped for evidence recording.
    """

    api_name: str = "api"

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth,
        secrets: Iterable[str] = (),
        idempotency_header: str = "Idempotency-Key",
        idempotent_methods: Iterable[str] = ("POST",),
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url) if isinstance(base_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
        if timeout is None or isinstance(timeout, bool):
            raise ValueError("timeout must be given explicitly (an httpx.Timeout or seconds)")
        self.base_url = base_url.rstrip("/")
        self._retry = retry if retry is not None else RetryPolicy()
        self._budget = budget
        self._idempotency_header = idempotency_header
        self._idempotent_methods = frozenset(m.upper() for m in idempotent_methods)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout,
            transport=RecordingTransport(transport, secrets=secrets),
            headers=headers,
            follow_redirects=False,
        )

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy this client uses."""
        return self._retry

    @property
    def http(self) -> httpx.Client:
        """The underlying httpx.Client, for what the methods do not cover (it still records evidence)."""
        return self._http

    def with_retry(self, policy: RetryPolicy) -> Self:
        """A view of this client with another retry policy; it shares the connection pool, so close the original."""
        clone = copy.copy(self)
        clone._retry = policy
        return clone

    def without_retries(self) -> Self:
        """A view that makes one attempt and returns 429/5xx raw (``RetryPolicy.off()``)."""
        return self.with_retry(RetryPolicy.off())

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _speaks_for_budget(self, request: httpx.Request) -> bool:
        """Whether the answer to `request` tells this client's budget about its own key's window. A test may
        send with another key or none (raw(), the contract suite's auth checks); the server answers those with
        the rate-limit headers of *that* key's window, and taken for ours, a fresher window of another key
        let the budget send into our drained one (two unplanned 429s in a sandbox run). Such a request still
        takes a slot, since a server that counted it against ours would otherwise see too many."""
        return True

    def raw(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        authenticate: bool = True,
        idempotency_key: IdempotencyKey = OMIT,
        operation: str | None = None,
    ) -> httpx.Response:
        """Send exactly what is given, for deliberately malformed requests; still retried, budgeted, recorded.

        Unlike the operation methods, no idempotency header is added unless `idempotency_key` asks for one
        (None generates one). With `authenticate` False no credentials are added; a credential header passed
        in `headers` always wins over the client's own. `operation` names the exchange in the evidence
        (default ``<api>.raw``).
        """
        if json is not None and content is not None:
            raise ValueError("raw(): pass json or content, not both")
        if not isinstance(method, str) or not method.isalpha():
            raise ValueError(f"raw(): method must be an HTTP method name, got {method!r}")
        return self._send(
            method.upper(),
            path,
            operation=operation or f"{self.api_name}.raw",
            headers=headers,
            params=params,
            json=json,
            content=content,
            authenticate=authenticate,
            idempotency_key=idempotency_key,
        )

    def _call(
        self,
        spec: OperationSpec,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
        **path_params: str,
    ) -> httpx.Response:
        """Send one catalog operation: its method, its path with `path_params` escaped into it, `body` as JSON."""
        try:
            path = spec.path.format(**{name: path_segment(value, name) for name, value in path_params.items()})
        except KeyError as exc:
            raise ValueError(f"operation {spec.name}: path {spec.path} needs parameter {exc}") from exc
        return self._send(
            spec.method.upper(),
            path,
            operation=f"{self.api_name}.{spec.name}",
            headers=headers,
            json=dict(body) if body is not None else None,
            idempotency_key=idempotency_key,
            idempotency_header=idempotency_header,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        authenticate: bool = True,
        idempotency_key: IdempotencyKey = None,
        idempotency_header: str | None = None,
    ) -> httpx.Response:
        """One logical operation: as many attempts as the policy allows, all with the same idempotency key.

        `idempotency_header` overrides the client's header name for this operation.
        """
        request_headers = httpx.Headers(headers or {})
        key_header = idempotency_header or self._idempotency_header
        if idempotency_key is None and method in self._idempotent_methods:
            idempotency_key = str(uuid.uuid4())
        if isinstance(idempotency_key, str) and key_header not in request_headers:
            request_headers[key_header] = idempotency_key
        policy = self._retry
        for attempt in range(1, policy.max_attempts + 1):
            if self._budget is not None:
                try:
                    self._budget.acquire()
                except BudgetTimeout as exc:
                    raise InfrastructureError(
                        f"{operation}: {exc}", operation=operation, attempts=attempt - 1, exception=exc
                    ) from exc
            request = self._http.build_request(
                method,
                path,
                headers=request_headers,
                params=params,
                json=json,
                content=content,
                extensions={EXTENSION_KEY: {"operation": operation, "attempt": attempt}},
            )
            try:
                response = self._http.send(request) if authenticate else self._http.send(request, auth=None)
            except httpx.TransportError as exc:
                if self._budget is not None:
                    self._budget.observe(None, None)  # no longer in flight
                if not policy.retry_on_transport_error or attempt == policy.max_attempts:
                    raise InfrastructureError(
                        f"{operation}: {type(exc).__name__} after {attempt} attempt(s): {exc}",
                        operation=operation,
                        attempts=attempt,
                        exception=exc,
                    ) from exc
                wait = policy.delay(attempt)
                _log.info("%s: %s, retry %d in %.2f s", operation, type(exc).__name__, attempt, wait)
                policy.sleep(wait)
                continue
            if self._budget is not None:
                if self._speaks_for_budget(response.request):
                    self._budget.observe_headers(response.headers)
                else:
                    self._budget.observe(None, None)  # no longer in flight; its headers are another key's
            if not policy.is_retryable_status(response.status_code):
                return response
            if attempt == policy.max_attempts:
                raise InfrastructureError(
                    f"{operation}: HTTP {response.status_code} after {attempt} attempt(s)",
                    operation=operation,
                    attempts=attempt,
                    response=response,
                )
            wait = policy.delay(attempt, response)
            _log.info("%s: HTTP %d, retry %d in %.2f s", operation, response.status_code, attempt, wait)
            policy.sleep(wait)
        raise AssertionError("unreachable: the retry loop always returns or raises")  # pragma: no cover
