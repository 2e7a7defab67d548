"""Merchants: who may take payments, with which accounts, and what their policy allows.

Merchants are data (created through POST /merchants, changed through PATCH or the control interface), so
they live in the store and survive a restart on --data-dir. Each belongs to one partner.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from harness.simulator.bettercharge.auth import Partner
from harness.simulator.bettercharge.validation import MerchantChanges
from harness.simulator.store import Store

_DDL = """
CREATE TABLE IF NOT EXISTS bc_merchants (
    merchant_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, data TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    partner_id: str
    name: str
    account_ids: tuple[str, ...] = ()
    # A new merchant takes payments, refunds and voids, but MIT needs an explicit opt-in (adopted).
    enabled: bool = True
    mit_allowed: bool = False
    refunds_allowed: bool = True
    voids_allowed: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {"merchantId": self.merchant_id, "partnerId": self.partner_id, "name": self.name,
                "accountIds": list(self.account_ids), "enabled": self.enabled, "mitAllowed": self.mit_allowed,
                "refundsAllowed": self.refunds_allowed, "voidsAllowed": self.voids_allowed}

    def changed(self, changes: MerchantChanges) -> Merchant:
        given = {k: v for k, v in asdict(changes).items() if v is not None}
        if "account_ids" in given:
            given["account_ids"] = tuple(given["account_ids"])
        return replace(self, **given)


class Merchants:
    def __init__(self, store: Store) -> None:
        self._store = store
        store.register_schema(_DDL, ["bc_merchants"])

    def get(self, merchant_id: str) -> Merchant | None:
        with self._store.read() as conn:
            row = conn.execute("SELECT data FROM bc_merchants WHERE merchant_id = ?", (merchant_id,)).fetchone()
        if row is None:
            return None
        data = json.loads(row["data"])
        data["account_ids"] = tuple(data["account_ids"])
        return Merchant(**data)

    def insert(self, merchant: Merchant) -> bool:
        """False when the merchantId is taken."""
        with self._store.transaction() as conn:
            cursor = conn.execute("INSERT OR IGNORE INTO bc_merchants VALUES (?, ?, ?)",
                                  (merchant.merchant_id, merchant.partner_id, json.dumps(asdict(merchant))))
            return cursor.rowcount == 1

    def save(self, merchant: Merchant) -> None:
        with self._store.transaction() as conn:
            conn.execute("UPDATE bc_merchants SET data = ? WHERE merchant_id = ?",
                         (json.dumps(asdict(merchant)), merchant.merchant_id))

    def seed(self, partners: tuple[Partner, ...]) -> None:
        """Each partner's catalog merchant: enabled, MIT allowed, refunds and voids allowed."""
        for p in partners:
            self.insert(Merchant(p.merchant_id, p.partner_id, p.merchant_id, (p.account_id,), mit_allowed=True))
