"""A client for the simulator's control interface (/_simulator/...), used by simulator-only suite tests.

It talks HTTP like any client, so the suites never import the simulator and work the same against an
embedded simulator or one started separately with `paycert simulate`.
"""

from __future__ import annotations

from typing import Any

import httpx


class SimulatorControl:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._http.post(path, json=body or {})
        if response.status_code >= 400:
            raise RuntimeError(f"simulator control {path} answered {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else {}

    def _get(self, path: str) -> Any:
        response = self._http.get(path)
        response.raise_for_status()
        return response.json()

    # shared
    def reset(self) -> None:
        self._post("/_simulator/reset")

    def advance(self, seconds: float) -> None:
        """Move the simulator clock forward (idempotency retention, rate windows, validity, postback retries)."""
        self._post("/_simulator/clock", {"advance_seconds": seconds})

    def now(self) -> float:
        return float(self._get("/_simulator/clock")["now"])

    def enable_defects(self, *names: str) -> None:
        self._post("/_simulator/defects", {"enable": list(names)})

    # BetterCharge
    def bc_fault(self, kind: str, count: int = 1, **extra: Any) -> None:
        self._post("/_simulator/bettercharge/faults", {"kind": kind, "count": count, **extra})

    def bc_clear_faults(self) -> None:
        self._http.delete("/_simulator/bettercharge/faults").raise_for_status()

    def bc_toggles(self, **toggles: bool) -> None:
        self._post("/_simulator/bettercharge/toggles", toggles)

    def bc_latency(self, psp_seconds: float) -> None:
        self._post("/_simulator/bettercharge/latency", {"psp_seconds": psp_seconds})

    def bc_force_state(self, bc_id: str, state: str) -> None:
        self._post(f"/_simulator/bettercharge/payments/{bc_id}/state", {"state": state})

    # Better Payment
    def bp_postbacks(self) -> list[dict[str, Any]]:
        """The simulator's postback delivery log (every attempt)."""
        data = self._get("/_simulator/betterpayment/postbacks")
        return list(data if isinstance(data, list) else data.get("deliveries", []))
