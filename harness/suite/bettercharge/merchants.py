"""Merchants the BetterCharge suites create through POST /merchants (never the partner's real ones), one per
profile: each profile changes one setting of a merchant the suite created itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.catalog import bettercharge
from harness.clients import BetterChargeClient
from harness.suite.failure import fail, same, show

from .checks import check_common, expect_status
from .views import unique


@dataclass(frozen=True)
class MerchantRef:
    merchant_id: str
    account_id: str | None
    created: bool


#: Merchant profiles the suites need; each changes one setting of a merchant the suite created itself.
PROFILES: dict[str, dict[str, bool]] = {
    "standard": {},
    "disabled": {"enabled": False},
    "mit": {"mitAllowed": True},
    "no_mit": {"mitAllowed": False},
    "no_refunds": {"refundsAllowed": False},
    "no_voids": {"voidsAllowed": False},
}


class Merchants:
    """Merchants created through POST /merchants, one per profile.

    `cache` is kept for the session on targets that keep state; the embedded simulator is reset before each
    test, so there it is per test and the standard merchant is the catalog's seeded one.
    """

    def __init__(self, client: BetterChargeClient, target: Any, cache: dict[str, MerchantRef]) -> None:
        self._client = client
        self._target = target
        self._cache = cache

    def standard(self) -> MerchantRef:
        if self._target.embedded:
            return _seeded()
        return self.profile("standard")

    def profile(self, name: str) -> MerchantRef:
        if name not in self._cache:
            self._cache[name] = self._create(name, PROFILES[name])
        return self._cache[name]

    def _create(self, name: str, settings: Mapping[str, bool]) -> MerchantRef:
        catalog = bettercharge()
        merchant_id, account_id = unique("m"), unique("a")
        response = self._client.create_merchant(
            {"merchantId": merchant_id, "name": f"paycert certification {name}", "accountIds": [account_id]})
        if response.status_code != catalog.operation("create_merchant").success:
            if name == "standard" and self._target.is_simulator:
                return _seeded()  # fallback: the simulator's seeded merchant
            fail(f"cannot create the {name} merchant the suite needs: {show(response)}")
        created = check_common("create_merchant", response)
        same(created.get("merchantId"), merchant_id, "created merchant id", response)
        same(created.get("accountIds"), [account_id], "created merchant accounts", response)
        if settings:
            response = self._client.update_merchant(merchant_id, dict(settings))
            expect_status(response, catalog.operation("update_merchant").success)
            updated = check_common("update_merchant", response)
            for key, value in settings.items():
                same(updated.get(key), value, f"merchant setting {key} after PATCH", response)
        return MerchantRef(merchant_id, account_id, created=True)


def _seeded() -> MerchantRef:
    """The simulator's seeded merchant (catalog `simulator.merchant_id`)."""
    sim = bettercharge().simulator
    return MerchantRef(sim.merchant_id, sim.account_id, created=False)
