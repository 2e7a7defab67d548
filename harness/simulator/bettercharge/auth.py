"""Who is calling: the partners the simulator knows, and the x-api-key / x-partner-id check.

Two partners exist, both from the catalog's simulator defaults; SimulatorConfig may replace the first one's
credentials. They are configuration, not data, so they live in memory and are never written to the store.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from harness.catalog.bettercharge import BetterChargeCatalog
from harness.simulator.bettercharge import defects
from harness.simulator.bettercharge.responses import PARTNER_NOT_FOUND, UNAUTHORIZED, ApiError
from harness.simulator.state import SimulatorState


def key_hash(api_key: str) -> str:
    """What the simulator keeps of an API key (rate-limit buckets, idempotency scope): never the key."""
    return hashlib.sha256(api_key.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Partner:
    partner_id: str
    api_key: str
    merchant_id: str
    account_id: str


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    partner_id: str
    key_hash: str


class Partners:
    def __init__(self, catalog: BetterChargeCatalog, state: SimulatorState) -> None:
        sim = catalog.simulator
        self._state = state
        self._headers = catalog.auth
        self.all = (
            Partner(state.config.bettercharge_partner_id or sim.partner_id,
                    state.config.bettercharge_api_key or sim.api_key, sim.merchant_id, sim.account_id),
            Partner(sim.other_partner_id, sim.other_api_key, sim.other_merchant_id, sim.other_account_id),
        )

    def _by_key(self, api_key: str) -> Partner | None:
        for partner in self.all:
            if hmac.compare_digest(partner.api_key.encode(), api_key.encode("utf-8", "replace")):
                return partner
        return None

    def authenticate(self, api_key: str | None, partner_id: str | None) -> Principal:
        """Missing/unknown key or missing partner -> 401; unknown partner -> 404; someone else's -> 401."""
        partner = self._by_key(api_key) if api_key else None
        if partner is None or not api_key:
            raise ApiError(UNAUTHORIZED)
        if not partner_id:
            if self._state.defect(defects.AUTH_MISSING_PARTNER_OK):
                return Principal(partner.partner_id, key_hash(api_key))
            raise ApiError(UNAUTHORIZED)
        if partner_id not in {p.partner_id for p in self.all}:
            raise ApiError(UNAUTHORIZED if self._state.defect(defects.AUTH_UNKNOWN_PARTNER_401) else PARTNER_NOT_FOUND)
        if partner_id != partner.partner_id:
            raise ApiError(UNAUTHORIZED)
        return Principal(partner.partner_id, key_hash(api_key))
