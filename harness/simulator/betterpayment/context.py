"""What every Better Payment simulator module shares: the core state, the catalog and the credentials.

Why a small object instead of globals: two simulators can run in one process (the tests start a second one
with defects allowed), so nothing here may live at module level.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.catalog import betterpayment
from harness.catalog.betterpayment import BetterPaymentCatalog
from harness.simulator import boundaries
from harness.simulator.betterpayment import defects
from harness.simulator.state import SimulatorState

#: The error transport a simulator starts with (catalog error_transport.modes); the catalog's default otherwise.
ERROR_TRANSPORT_ENV = "PAYCERT_SIMULATOR_BP_ERROR_TRANSPORT"


def start_error_transport(catalog: BetterPaymentCatalog) -> str:
    """The transport named in PAYCERT_SIMULATOR_BP_ERROR_TRANSPORT, else the catalog's default (in_band)."""
    value = os.environ.get(ERROR_TRANSPORT_ENV, "").strip()
    if not value:
        return catalog.error_transport.default
    if value not in catalog.error_transport.modes:
        raise ValueError(f"{ERROR_TRANSPORT_ENV} must be one of {', '.join(catalog.error_transport.modes)}, "
                         f"got {value!r}")
    return value


@dataclass
class Context:
    state: SimulatorState
    catalog: BetterPaymentCatalog
    credentials: dict[str, str]  # api_key -> api_password
    incoming_key: str
    webhook_key: str
    error_transport: str  # in_band | http; kept across resets (it is how the simulator runs)
    # What the simulator derives from the catalog once rather than per request (validation.py's plans).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, state: SimulatorState) -> Context:
        cat = betterpayment()
        sim, cfg = cat.simulator, state.config
        credentials = {
            cfg.betterpayment_api_key or sim.api_key: cfg.betterpayment_api_password or sim.api_password,
        }
        credentials.setdefault(sim.other_api_key, sim.other_api_password)
        return cls(
            state=state,
            catalog=cat,
            credentials=credentials,
            incoming_key=cfg.betterpayment_incoming_key or sim.incoming_key,
            webhook_key=cfg.betterpayment_webhook_key or sim.webhook_key,
            error_transport=start_error_transport(cat),
        )

    def defect(self, name: str) -> bool:
        return name in self.state.defects  # SimulatorState.defect, a call less: asked a few dozen times a request

    def shift(self, probe: str, **match: Any) -> int:
        """boundaries.shift for this API: 0 at once when no defect is on (a normal run), without asking each
        boundary row about each of its two defects (every request asks two to four times)."""
        if not self.state.defects:
            return 0
        return boundaries.shift(self.defect, "betterpayment", probe, **match)

    def shim_fields(self, body: dict[str, Any], invalid: Callable[[str], Exception]) -> dict[str, Any]:
        """boundaries.shim_fields for this API; with no defect on it returns the body untouched, so it is not
        called (it asks every field row about both its defects)."""
        if not self.state.defects:
            return body
        return boundaries.shim_fields(self.defect, "betterpayment", body, invalid)

    def password_ok(self, api_key: str, password: str) -> bool:
        """Constant-time check of a Basic credential pair."""
        expected = self.credentials.get(api_key)
        if expected is None:
            hmac.compare_digest(password.encode(), password.encode())  # same work for unknown keys
            return False
        return hmac.compare_digest(expected.encode(), password.encode())

    def status_pair(self, code: int) -> tuple[int, str]:
        """(status_code, status) as the API reports them; the status defects bend only this."""
        names = self.memo.get("status-names")
        if names is None:  # once: the catalog's lookups scan its list, and every answer asks
            names = self.memo["status-names"] = {s.code: s.name for s in reversed(self.catalog.statuses)}
            self.memo["completed-code"] = self.catalog.status_named("completed").code
        name = names[code] if code in names else self.catalog.status(code).name
        if code == self.memo["completed-code"]:
            if self.defect(defects.STATUS_CODE_WRONG):
                code = self.catalog.status_named("started").code
            if self.defect(defects.STATUS_NAME_WRONG):
                name = "success"
        return code, name
