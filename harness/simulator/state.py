"""Everything one simulator process holds, handed to each API module when the app is built."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.simulator.clock import Clock
from harness.simulator.idempotency import IdempotencyCache
from harness.simulator.store import Store

DEFECTS_ENV = "PAYCERT_SIMULATOR_DEFECTS"


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator was started. Credentials not given here come from the catalog's defaults."""

    data_dir: Path | None = None
    strict: bool = False  # Better Payment: refuse loopback http:// URLs too
    bettercharge_api_key: str | None = None
    bettercharge_partner_id: str | None = None
    betterpayment_api_key: str | None = None
    betterpayment_api_password: str | None = None
    betterpayment_incoming_key: str | None = None
    betterpayment_webhook_key: str | None = None
    # Deliberate defects exist for the project's mutation tests only; a normal run can never switch them on.
    defects_allowed: bool = field(default_factory=lambda: os.environ.get(DEFECTS_ENV) == "1")


class SimulatorState:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.clock = Clock(self.store)
        self.idempotency = IdempotencyCache(self.store, self.clock)
        self.defects: set[str] = set()
        self._reset_hooks: list[Callable[[], None]] = []

    def defect(self, name: str) -> bool:
        """True when the named deliberate defect is on (only ever in a defects-allowed simulator)."""
        return name in self.defects

    def on_reset(self, hook: Callable[[], None]) -> None:
        """API modules re-seed their defaults (merchants, toggles) after the store is emptied."""
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        self.store.reset()
        self.defects.clear()
        for hook in self._reset_hooks:
            hook()
