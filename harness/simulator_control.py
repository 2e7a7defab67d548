"""The one client of the simulator's control interface (/_simulator/...), for the plugin and simulator-only tests.

It talks HTTP like any client, so the suites never import the simulator and work the same against an
embedded simulator or one started separately with `paycert simulate`. Every control path the harness uses is
written here once; the routes themselves are in harness/simulator/control.py and harness/simulator/<api>/control.py.
A refused call or an unreachable simulator raises ControlError naming the path, never a bare httpx exception.

A shared simulator started with `paycert simulate --control-token T` answers /_simulator only to requests
carrying T in the X-Paycert-Control-Token header. The token is the run's settings field `simulator_control_token`
(PAYCERT_SIMULATOR_CONTROL_TOKEN in the environment or the run's .env, read once by harness/config.py): the
pytest plugin calls `use_token` with it once per session, and every control
request of the suites goes through `control_headers()`, this module's clients or `control_client()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import httpx

from harness.errors import ControlError
from harness.tls import trust_context

PREFIX = "/_simulator"
TOKEN_HEADER = "X-Paycert-Control-Token"  # the simulator's edge (harness/simulator/edge.py) checks it
_token: dict[str, str | None] = {}


def use_token(token: str | None) -> None:
    """Set the control token for this process (None: no token)."""
    _token["value"] = token.strip() if token and token.strip() else None


def control_headers() -> dict[str, str]:
    """The header every /_simulator request carries; empty when no token is configured."""
    token = _token.get("value")
    return {TOKEN_HEADER: token} if token else {}


def control_client(base_url: str, *, timeout: float = 10.0) -> httpx.Client:
    """An httpx client for a simulator's control interface, the token attached."""
    return httpx.Client(base_url=base_url, timeout=timeout, headers=control_headers(), verify=trust_context())


class SimulatorControl:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._http = control_client(base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = PREFIX + path
        try:
            response = self._http.request(method, url, json=body if method in ("POST", "PATCH") else None)
        except httpx.HTTPError as exc:
            raise ControlError(f"simulator control {method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise ControlError(f"simulator control {method} {url} answered {response.status_code}: "
                               f"{response.text[:300]}")
        return response.json() if response.content else {}

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, body or {})

    # shared
    def reset(self) -> None:
        """Empty the simulator's state (payments, transactions, idempotency keys, faults); defects switched on stay."""
        self._post("/reset")

    def advance(self, seconds: float) -> None:
        """Move the simulator clock forward (idempotency retention, rate windows, validity, postback retries); it
        answers once what the move made due has happened (a postback retry has been attempted)."""
        self._post("/clock", {"advance_seconds": seconds})

    def now(self) -> float:
        return float(self._call("GET", "/clock")["now"])

    # BetterCharge
    def bc_fault(self, kind: str, count: int = 1, **extra: Any) -> None:
        self._post("/bettercharge/faults", {"kind": kind, "count": count, **extra})

    def bc_clear_faults(self) -> None:
        self._call("DELETE", "/bettercharge/faults")

    def bc_toggles(self, **toggles: bool) -> None:
        self._post("/bettercharge/toggles", toggles)

    def bc_latency(self, psp_seconds: float) -> None:
        self._post("/bettercharge/latency", {"psp_seconds": psp_seconds})

    def bc_force_state(self, bc_id: str, state: str) -> None:
        self._post(f"/bettercharge/payments/{bc_id}/state", {"state": state})

    # Better Payment
    def bp_postbacks(self) -> list[dict[str, Any]]:
        """The simulator's postback delivery log (every attempt)."""
        data = self._call("GET", "/betterpayment/postbacks")
        return list(data if isinstance(data, list) else data.get("deliveries", []))

    def bp_transaction(self, transaction_id: str) -> dict[str, Any]:
        """The simulator's stored view of one transaction (card masked, as it keeps it)."""
        return dict(self._call("GET", f"/betterpayment/transactions/{transaction_id}"))

    def bp_force_status(self, transaction_id: str, status_code: int) -> dict[str, Any]:
        """Set a status the API cannot reach by itself (debt collection, chargeback)."""
        return dict(self._post(f"/betterpayment/transactions/{transaction_id}/status", {"status_code": status_code}))

    # --- the hand-written suites' calls (suites/betterpayment via harness/suite/betterpayment) ---------------

    @contextmanager
    def bc_faults(self, kind: str, count: int = 1, **extra: Any) -> Iterator[None]:
        """BetterCharge faults armed for the block and cleared after it, whatever happens in it (a fault left
        armed would answer the next test's request)."""
        self.bc_fault(kind, count, **extra)
        try:
            yield
        finally:
            self.bc_clear_faults()

    def bp_settings(self) -> dict[str, Any]:
        """The Better Payment half's settings (which error transport it answers with)."""
        return dict(self._call("GET", "/betterpayment/settings"))

    def ready(self) -> bool:
        """Whether the simulator answers its control interface (a started `paycert simulate` is up)."""
        try:
            self.now()
        except ControlError:
            return False
        return True

    # --- the mutation runner's (harness/mutation_batch.py) -------------------------------------------------

    def set_defects(self, names: list[str]) -> list[str]:
        """Switch on exactly these deliberate defects (a simulator started with PAYCERT_SIMULATOR_DEFECTS=1)."""
        enabled: list[str] = self._call("POST", "/defects", {"enable": names})["enabled"]
        return enabled

    # --- the contract suite's (harness/contract/sender.py) ----------------------------------------------

    def contract_receiver_url(self) -> str:
        """Where generated Better Payment requests send postbacks and redirects against a simulator: a path
        under its control prefix that no route answers (a delivery there fails, as to a merchant URL that does
        not take it); the contract suite checks the API's answers, not the deliveries."""
        return f"{str(self._http.base_url).rstrip('/')}{PREFIX}/contract"
