"""The contract suite's sender: sends generated cases to the target through the API's client, checks each
answer, paces the rate limit and counts the cases.

(Named a sender, not an exchange: an exchange is one recorded request and response, harness.evidence.Exchange.)
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import schemathesis
from schemathesis.core.failures import FailureGroup

from harness.catalog import bettercharge
from harness.clients.base import ApiClient, RetryPolicy
from harness.config import Settings
from harness.contract.cases import refresh
from harness.contract.options import RUN, Kind
from harness.contract.realistic import receiver_urls
from harness.contract.schemas import build_schema, generated_cases
from harness.contract.transport import ClientTransport, operation_id_of, route_through

if TYPE_CHECKING:
    from harness.plugin import Target

__all__ = ["CaseSender", "auth_headers", "operation_id"]

#: Distinct failures quoted in a failing test's message (all of them are counted).
MAX_FAILURES_SHOWN: Final = 5


@dataclass
class CaseSender:
    """Sends cases to the target through the API's client, paces the rate limit, counts the cases.

    Every request (each case, each check's follow-up, each stateful step) goes through `client`, an
    ``harness.clients`` client: masked HAR evidence, the shared request budget, retries, and an
    InfrastructureError when the target fails beyond them (harness.contract.transport). `advance` (simulator
    only) moves the simulator clock past a rate-limit window instead of waiting it out.
    """

    api: str
    kind: Kind
    base_url: str
    headers: dict[str, str]
    client: ApiClient
    advance: Callable[[float], None] | None = None
    reset: Callable[[], None] | None = None  # embedded simulator only: a fresh state per stateful scenario
    urls: dict[str, str] = field(default_factory=dict)  # receiver placeholders -> this run's receiver
    cases: int = 0
    cached: bool | None = None
    statuses: dict[int, int] = field(default_factory=dict)
    _close: Callable[[], None] | None = None
    _auth_enforced: set[str] = field(default_factory=set)  # operations whose credentials ignored_auth confirmed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def schema(self, kind: Kind | None = None) -> Any:
        """This sender's schema, sending through the client."""
        return route_through(build_schema(self.api, kind or self.kind), ClientTransport(self.api, self.client))

    def call_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "headers": dict(self.headers)}

    def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
        refresh(case, self.urls, remint=False)  # this run's receiver URLs (cached cases are re-minted before)
        response = case.call(**kwargs)
        if self.advance is not None and _header(response, "x-ratelimit-remaining") == "0":
            # The simulator's window, not the contract, is in the way: skip its clock past it.
            self.advance(_retry_after(response) + 1)
        with self._lock:
            self.cases += 1
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response

    def validate(self, case: schemathesis.Case, response: schemathesis.Response, kwargs: dict[str, Any],
                 **extra: Any) -> None:
        """Run the configured checks, naming the credentials as explicit headers (or ignored_auth would take the
        request's x-api-key for a generated one).

        ignored_auth confirms that an operation enforces its credentials by sending two probes (without them,
        with wrong ones). schemathesis' own engine does that once per operation and run ("enforcement is a
        property of the operation", its `auth_enforced_operations`), but `Case.validate_response` builds a
        context without that memory, so every successful case sent two more requests. The same check runs here
        with the memory, per sender; its other findings (a generated or missing credential accepted) are still
        checked on every case.
        """
        from schemathesis.specs.openapi.checks import ignored_auth

        config = case.operation.schema.config.checks_config_for(operation=case.operation, phase=None)
        if config.ignored_auth.enabled:
            enforced = self._auth_enforced

            def ignored_auth_once(ctx: Any, response: Any, case: Any) -> bool | None:
                ctx.auth_enforced_operations = enforced
                return ignored_auth(ctx, response, case)

            ignored_auth_once.__name__ = ignored_auth.__name__  # the name failures are reported under
            extra["excluded_checks"] = [*(extra.get("excluded_checks") or ()), ignored_auth]
            extra["additional_checks"] = [*(extra.get("additional_checks") or ()), ignored_auth_once]
        case.validate_response(response, headers=kwargs.get("headers"), transport_kwargs=kwargs or None, **extra)

    def call_and_validate(self, case: schemathesis.Case) -> schemathesis.Response:
        kwargs = self.call_kwargs()
        response = self.call(case, **kwargs)
        self.validate(case, response, kwargs)
        return response

    def run_operation(self, label: str) -> None:
        """Send every generated case of one operation and check each answer.

        Unlike a Hypothesis test, a failing case does not end the test: every case runs, and the failure names
        how many cases failed and quotes the first distinct ones. An InfrastructureError (the target failing
        beyond the client's retries) ends it at once, to be classified as infrastructure.
        """
        self.schema()
        cases, self.cached = generated_cases(self.api, self.kind, label)
        failures: list[str] = []
        failed = 0
        for case in cases:
            refresh(case, self.urls)  # fresh order references, this run's receiver URLs
            try:
                self.call_and_validate(case)
            except (AssertionError, FailureGroup) as exc:  # one failed check, or several
                failed += 1
                text = str(exc).strip()
                if text not in failures and len(failures) < MAX_FAILURES_SHOWN:
                    failures.append(text)
        if failed:
            raise AssertionError(f"{label}: {failed} of {len(cases)} generated cases failed the checks; "
                                 f"first distinct failures:\n\n" + "\n\n---\n\n".join(failures))

    def close(self) -> None:
        """Close the control-interface connection, if any (the API client belongs to the session)."""
        if self._close is not None:
            self._close()

    def report(self) -> dict[str, Any]:
        """What harness.contract.counts sums over the run (a test's user property)."""
        return {"api": self.api, "kind": self.kind, "cases": self.cases, "statuses": self.statuses,
                "cached": self.cached, "seed": RUN.seed, "max_examples": RUN.max_examples, "target": RUN.target}

    @classmethod
    def for_target(cls, api: str, kind: Kind, target: Target, settings: Settings, client: ApiClient) -> CaseSender:
        """A sender for one test against the run's target, through the plugin's client for `api`.

        Against a simulator it keeps one control connection for the clock and the per-scenario resets (a
        client per call loads the CA store), a wait for a rate-limit window or a backoff is moving the
        simulator's clock past it, and Better Payment's postbacks and redirects go to the simulator's sink.
        """
        advance = reset = close = receiver = None
        if target.is_simulator:
            from harness.simulator_control import SimulatorControl

            control = SimulatorControl(target.simulator_url or "")
            advance, close, receiver = control.advance, control.close, control.contract_receiver_url()
            if target.embedded:
                reset = control.reset
            client = client.with_retry(RetryPolicy(sleep=lambda seconds: control.advance(seconds + 1)))
        return cls(api=api, kind=kind, base_url=target.base_url(api), headers=auth_headers(api, settings),
                   client=client, advance=advance, reset=reset, urls=receiver_urls(receiver, settings.postback_url),
                   _close=close)


def operation_id(case: schemathesis.Case) -> str:
    return operation_id_of(case.operation)


def _header(response: schemathesis.Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def _retry_after(response: schemathesis.Response) -> float:
    window = float(bettercharge().rate_limit.window_seconds)
    raw = _header(response, "retry-after")
    try:
        return min(max(float(raw), 0.0), window) if raw is not None else window
    except ValueError:
        return window


def auth_headers(api: str, settings: Settings) -> dict[str, str]:
    """The credentials each API needs, as explicit headers (so schemathesis' ignored_auth check can drop them)."""
    if api == "bettercharge":
        auth = bettercharge().auth
        bc = settings.bettercharge
        return {auth.api_key_header: bc.api_key, auth.partner_header: bc.partner_id}
    bp = settings.betterpayment
    token = base64.b64encode(f"{bp.api_key}:{bp.api_password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}
