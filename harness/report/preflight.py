"""Preflight: what can be wrong with a target before a long run, found with at most 5 requests per API.

``paycert check`` runs it alone; ``paycert certify`` runs it in its first seconds and stops on a fatal finding,
so a wrong key shows as one line instead of hundreds of errored tests. Per API it sends one read of an id that
cannot exist (BetterCharge ``GET /payments/{id}``, Better Payment ``GET /rest/transactions/{id}``) through the
project's client (the same auth, the same shared request budget) and reads from that single answer:

- reachability and TLS (an untrusted certificate names PAYCERT_CA_BUNDLE, a wrong host the base URL);
- credentials: 401 names the key (and password); BetterCharge's 404 ``PARTNER_NOT_FOUND`` names the partner id,
  its 404 for the payment means both are right (catalog rows BC-ERR-401-UNAUTHORIZED, BC-ERR-404-PARTNER,
  BC-ERR-404-PAYMENT; Better Payment BP-ERR-201-AUTH, BP-ERR-207-UNKNOWN-TRANSACTION);
- a base URL that answers, but not like the API (no JSON error body) names the base URL;
- clock skew: the ``Date`` header against the local clock (the suites compare times the API writes);
- the rate-limit headers (BetterCharge): missing, another limit than the catalog's, or a window already spent.

Each finding is one line naming the setting to fix. The embedded simulator needs no preflight.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from harness.config import Settings
from harness.tls import trust_context

MAX_SKEW_SECONDS: Final = 30.0
MAX_REQUESTS_PER_API: Final = 5
_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class Finding:
    api: str
    setting: str  # what the user changes to fix it
    message: str
    fatal: bool = True

    def line(self) -> str:
        return f"{'problem' if self.fatal else 'warning'}: {self.api}: {self.setting}: {self.message}"


@dataclass
class ApiCheck:
    api: str
    base_url: str
    requests: int = 0
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.fatal for f in self.findings)


@dataclass
class Preflight:
    checks: list[ApiCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "apis": [{"api": c.api, "base_url": c.base_url, "requests": c.requests,
                                         "facts": c.facts, "findings": [f.line() for f in c.findings]}
                                        for c in self.checks]}


def _transport_problem(api: str, exc: BaseException, settings: Settings, url_var: str, url: str) -> Finding:
    """One line for an exception with no answer behind it: TLS, DNS, refused connection, timeout."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(str(e) for e in chain)
    host = urlsplit(url).hostname or url
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "CERTIFICATE_VERIFY_FAILED" in text:
        if "hostname mismatch" in text.lower():
            return Finding(api, url_var, f"the TLS certificate of {url} is for another host; check the host name")
        where = f"by PAYCERT_CA_BUNDLE={settings.ca_bundle}" if settings.ca_bundle else "by the default trust store"
        return Finding(api, "PAYCERT_CA_BUNDLE", f"the TLS certificate of {host} is not trusted {where}; set "
                                                 "PAYCERT_CA_BUNDLE to the PEM file of the CA that issued it")
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return Finding(api, url_var, f"TLS handshake with {host} failed ({_short(text)}); is it an https server?")
    if any(isinstance(e, httpx.TimeoutException) for e in chain):
        return Finding(api, url_var, f"{url} did not answer within {_TIMEOUT.read:g} s")
    return Finding(api, url_var, f"cannot reach {url} ({_short(text)})")


def _short(text: str) -> str:
    return " ".join(text.split())[:160]


def _json(response: httpx.Response) -> dict[str, Any] | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _clock(check: ApiCheck, response: httpx.Response, sent: float, received: float) -> None:
    date = response.headers.get("date")
    if not date:
        check.findings.append(Finding(check.api, "clock", "the answer has no Date header; clock skew not checked",
                                      fatal=False))
        return
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        check.findings.append(Finding(check.api, "clock", f"unreadable Date header {date!r}", fatal=False))
        return
    # Date has one-second resolution; the answer was made somewhere between sending and receiving.
    local = (sent + received) / 2
    skew = local - server
    check.facts["clock_skew_seconds"] = round(skew, 1)
    if abs(skew) > MAX_SKEW_SECONDS + (received - sent) / 2 + 1:
        side = "ahead of" if skew > 0 else "behind"
        check.findings.append(Finding(check.api, "system clock", f"the local clock is {abs(skew):.0f} s {side} "
                                      f"the server's Date header; synchronise it (NTP) before certifying"))


def _rate_limit(check: ApiCheck, response: httpx.Response) -> None:
    from harness.catalog import bettercharge

    policy = bettercharge().rate_limit
    names = {h.lower(): h for h in policy.headers}
    present = {k: response.headers[k] for k in names if k in response.headers}
    check.facts["rate_limit_headers"] = present
    missing = [names[k] for k in names if k not in present]
    if missing:
        check.findings.append(Finding(check.api, "rate limit", f"no {', '.join(missing)} header(s); the run relies "
                                      f"on its own budget of {policy.limit} per {policy.window_seconds} s",
                                      fatal=False))
    limit = next((v for k, v in present.items() if k.endswith("limit")), None)
    if limit is not None and limit.strip() != str(policy.limit):
        check.findings.append(Finding(check.api, "rate limit", f"the server announces a limit of {limit}, the "
                                      f"catalog {policy.limit} per {policy.window_seconds} s", fatal=False))
    remaining = next((v for k, v in present.items() if k.endswith("remaining")), None)
    if remaining is not None and remaining.strip().isdigit() and int(remaining) < 10:
        check.findings.append(Finding(check.api, "BETTERCHARGE_API_KEY", f"only {remaining} requests left in this "
                                      "rate-limit window: is another run using the same key?", fatal=False))


def _bettercharge(settings: Settings, transport: httpx.BaseTransport) -> ApiCheck:
    from harness.catalog import bettercharge
    from harness.clients import InfrastructureError, RetryPolicy
    from harness.clients.bettercharge import BetterChargeClient, rate_limit_budget

    s = settings.bettercharge
    url = settings.simulator_url or s.base_url
    check = ApiCheck("bettercharge", url)
    rows = {e.id: e for e in bettercharge().errors}
    budget = rate_limit_budget(s.api_key, directory=settings.budget_dir) if settings.target == "sandbox" else None
    with BetterChargeClient(url, s.api_key, s.partner_id, retry=RetryPolicy.off(), budget=budget,
                            timeout=_TIMEOUT, transport=transport) as client:
        sent = time.time()
        try:
            check.requests += 1
            response = client.get_payment(f"paycert-preflight-{uuid.uuid4().hex[:12]}")
        except InfrastructureError as exc:
            check.findings.append(_transport_problem("bettercharge", exc, settings, "BETTERCHARGE_BASE_URL", url))
            return check
        received = time.time()
    body = _json(response) or {}
    code = str(body.get("code", ""))
    status = response.status_code
    check.facts["status"] = status
    if status == rows["BC-ERR-404-PAYMENT"].status and code == rows["BC-ERR-404-PAYMENT"].code:
        pass  # key and partner accepted; the payment does not exist, as intended
    elif status == rows["BC-ERR-401-UNAUTHORIZED"].status:
        check.findings.append(Finding("bettercharge", "BETTERCHARGE_API_KEY", f"refused ({status} {code or 'no code'})"
                                      ": a wrong key, or a key of another partner than BETTERCHARGE_PARTNER_ID"))
    elif status == rows["BC-ERR-404-PARTNER"].status and code == rows["BC-ERR-404-PARTNER"].code:
        check.findings.append(Finding("bettercharge", "BETTERCHARGE_PARTNER_ID",
                                      f"the API does not know this partner ({status} {code})"))
    elif status == 429:
        check.findings.append(Finding("bettercharge", "BETTERCHARGE_API_KEY", "the key's rate limit is spent right "
                                      "now (429): wait a minute, or stop the other run using this key"))
    elif status >= 500:
        check.findings.append(Finding("bettercharge", "BETTERCHARGE_BASE_URL", f"{url} answers {status}: the "
                                      "sandbox is down or failing; try again later"))
    elif not body:
        check.findings.append(Finding("bettercharge", "BETTERCHARGE_BASE_URL", f"{url} answers {status} "
                                      f"({response.headers.get('content-type', 'no content type')}), not like the "
                                      "BetterCharge API; check the base URL"))
    else:
        check.findings.append(Finding("bettercharge", "BETTERCHARGE_BASE_URL", f"unexpected answer {status} "
                                      f"{code or ''} to GET /payments/{{unknown id}}; check the base URL",
                                      fatal=False))
    _clock(check, response, sent, received)
    _rate_limit(check, response)
    return check


def _betterpayment(settings: Settings, transport: httpx.BaseTransport) -> ApiCheck:
    from harness.catalog import betterpayment
    from harness.clients import InfrastructureError, RetryPolicy
    from harness.clients.betterpayment import BetterPaymentClient

    s = settings.betterpayment
    url = settings.simulator_url or s.base_url
    check = ApiCheck("betterpayment", url)
    codes = {e.id: e for e in betterpayment().error_codes}
    with BetterPaymentClient(url, s.api_key, s.api_password, retry=RetryPolicy.off(), timeout=_TIMEOUT,
                             transport=transport) as client:
        sent = time.time()
        try:
            check.requests += 1
            response = client.get_transaction(str(uuid.uuid4()))
        except InfrastructureError as exc:
            check.findings.append(_transport_problem("betterpayment", exc, settings, "BETTERPAYMENT_BASE_URL", url))
            return check
        received = time.time()
    body = _json(response)
    status = response.status_code
    check.facts["status"] = status
    auth = codes["BP-ERR-201-AUTH"]
    if status in (auth.http_status, 403) or (body or {}).get("error_code") == auth.code:
        check.findings.append(Finding("betterpayment", "BETTERPAYMENT_API_KEY / BETTERPAYMENT_API_PASSWORD",
                                      f"refused ({status}, error_code {(body or {}).get('error_code', '-')})"))
    elif status >= 500:
        check.findings.append(Finding("betterpayment", "BETTERPAYMENT_BASE_URL", f"{url} answers {status}: the "
                                      "test API is down or failing; try again later"))
    elif body is None or "error_code" not in body:
        check.findings.append(Finding("betterpayment", "BETTERPAYMENT_BASE_URL", f"{url} answers {status} "
                                      f"({response.headers.get('content-type', 'no content type')}), not like the "
                                      "Better Payment API; check the base URL"))
    _clock(check, response, sent, received)
    return check


def run_preflight(settings: Settings, apis: tuple[str, ...] | None = None,
                  transport_factory: Callable[[], httpx.BaseTransport] | None = None) -> Preflight:
    """Check each API in scope (one request each); the embedded simulator (no URL yet) is skipped."""
    if settings.target == "simulator" and not settings.simulator_url:
        return Preflight([])

    def transport() -> httpx.BaseTransport:
        if transport_factory is not None:
            return transport_factory()
        return httpx.HTTPTransport(verify=trust_context(settings.ca_bundle))

    checks = []
    for api in apis or settings.apis:
        checks.append(_bettercharge(settings, transport()) if api == "bettercharge"
                      else _betterpayment(settings, transport()))
    return Preflight(checks)


def print_preflight(result: Preflight, say: Callable[[str], None]) -> None:
    for check in result.checks:
        skew = check.facts.get("clock_skew_seconds")
        state = "ok" if check.ok else "FAILED"
        say(f"preflight {check.api}: {state} · {check.base_url} · {check.requests} request(s)"
            + (f" · clock skew {skew:+.1f} s" if skew is not None else ""))
        for finding in check.findings:
            say(f"  {finding.line()}")


def check_command(apis: tuple[str, ...], target: str | None, env_file: Any, allow_production: bool,
                  say: Callable[[str], None]) -> int:
    """``paycert check``: the preflight alone; exit 0 when nothing fatal was found, 1 otherwise."""
    from harness.config import load_settings

    settings = load_settings(env_file, target=target, allow_production=allow_production, apis=apis)
    result = run_preflight(settings, apis)
    if not result.checks:
        say("paycert check: the embedded simulator is started by each run; nothing to check")
        return 0
    print_preflight(result, say)
    say("paycert check: ready to certify" if result.ok else
        f"paycert check: {sum(f.fatal for f in result.findings)} problem(s); fix the named settings")
    return 0 if result.ok else 1
