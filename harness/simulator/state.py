"""Everything one simulator process holds, handed to each API module when the app is built."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.simulator.body import DEFAULT_TIMEOUT as DEFAULT_BODY_TIMEOUT
from harness.simulator.clock import Clock
from harness.simulator.idempotency import DEFAULT_CLAIM_TIMEOUT, IdempotencyCache
from harness.simulator.store import Store

DEFECTS_ENV = "PAYCERT_SIMULATOR_DEFECTS"
_SEEDED = "seeded"  # meta key: the store holds seeded state (so a restart on --data-dir must not reset)


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
    # A shared simulator: every /_simulator request must carry this token (edge.py). None: no token needed.
    control_token: str | None = None
    body_timeout: float = DEFAULT_BODY_TIMEOUT  # seconds for a request body to arrive in full
    claim_timeout: float = DEFAULT_CLAIM_TIMEOUT  # seconds a duplicate waits for the first request with its key
    # Deliberate defects exist for the project's mutation tests only; a normal run can never switch them on.
    # PAYCERT_SIMULATOR_DEFECTS=1 allows them (switched through the control interface); a comma-separated list
    # of defect names allows them and switches those on from the start.
    defects_allowed: bool = field(default_factory=lambda: bool(os.environ.get(DEFECTS_ENV, "").strip()))
    initial_defects: tuple[str, ...] = field(default_factory=lambda: _initial_defects())


CONTROL_TOKEN_ENV = "PAYCERT_SIMULATOR_CONTROL_TOKEN"


def simulator_token(given: str | None, env_file: Path | None = None) -> str | None:
    """The control token for `paycert simulate`: --control-token, else PAYCERT_SIMULATOR_CONTROL_TOKEN (the
    environment or the .env file). ConfigError for a token that is blank or not printable ASCII."""
    from harness.config import ConfigError, read_environment

    token = given if given is not None else read_environment(env_file).get(CONTROL_TOKEN_ENV) or None
    if token is None:
        return None
    if not token.strip() or not token.isascii() or not token.isprintable() or len(token) > 512:
        raise ConfigError("the control token must be 1 to 512 printable ASCII characters")
    return token.strip()


def _initial_defects() -> tuple[str, ...]:
    value = os.environ.get(DEFECTS_ENV, "").strip()
    if value in ("", "1"):
        return ()
    return tuple(n.strip() for n in value.split(",") if n.strip())


class SimulatorState:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.clock = Clock(self.store)
        self.idempotency = IdempotencyCache(self.store, self.clock, claim_timeout=config.claim_timeout)
        self.defects: set[str] = set(config.initial_defects) if config.defects_allowed else set()
        self._reset_hooks: list[Callable[[], None]] = []
        self._clock_hooks: list[Callable[[], Awaitable[None]]] = []

    def defect(self, name: str) -> bool:
        """True when the named deliberate defect is on (only ever in a defects-allowed simulator)."""
        return name in self.defects

    def on_reset(self, hook: Callable[[], None]) -> None:
        """API modules re-seed their defaults (merchants, toggles) after the store is emptied."""
        self._reset_hooks.append(hook)

    def on_clock_moved(self, hook: Callable[[], Awaitable[None]]) -> None:
        """API modules finish what the moved clock made due (Better Payment: postback retries) before the clock
        route answers (harness/simulator/control.py)."""
        self._clock_hooks.append(hook)

    async def clock_moved(self) -> None:
        for hook in self._clock_hooks:
            await hook()

    def reset(self) -> None:
        """Empty the state; switched-on defects stay, they are how this simulator was started."""
        self.store.reset()
        self.clock.reset()
        for hook in self._reset_hooks:
            hook()
        self.store.set_meta(_SEEDED, "1")

    def start(self) -> None:
        """At app start: seed a fresh store; a store reopened from --data-dir keeps what it holds."""
        if self.store.get_meta(_SEEDED, "") != "1":
            self.reset()
