"""Run configuration from the environment and an optional .env file (python-dotenv).

Variables (documented in README.md and .env.example):
    PAYCERT_TARGET              simulator (default) or sandbox
    PAYCERT_SIMULATOR_URL       use a simulator already running there instead of starting one
    BETTERPAYMENT_BASE_URL, BETTERPAYMENT_API_KEY, BETTERPAYMENT_API_PASSWORD,
    BETTERPAYMENT_INCOMING_KEY, BETTERPAYMENT_WEBHOOK_KEY
    BETTERCHARGE_BASE_URL, BETTERCHARGE_API_KEY, BETTERCHARGE_PARTNER_ID

Real environment variables win over the file. Every problem is one ConfigError line naming the variable, so
a CI log says what to fix instead of showing a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values

from harness.errors import ConfigError
from harness.paths import APIS

Target = Literal["simulator", "sandbox"]
TARGETS: tuple[Target, ...] = ("simulator", "sandbox")


@dataclass(frozen=True)
class BetterPaymentSettings:
    base_url: str
    api_key: str
    api_password: str
    incoming_key: str
    webhook_key: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_password, self.incoming_key, self.webhook_key)


@dataclass(frozen=True)
class BetterChargeSettings:
    base_url: str
    api_key: str
    partner_id: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,)


@dataclass(frozen=True)
class Settings:
    target: Target
    simulator_url: str | None
    betterpayment: BetterPaymentSettings
    bettercharge: BetterChargeSettings
    overrides: Mapping[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an artefact (the leak audit looks for them)."""
        return tuple(s for s in (*self.betterpayment.secrets, *self.bettercharge.secrets) if len(s) >= 4)


def _production_hosts() -> set[str]:
    from harness.catalog import bettercharge, betterpayment

    hosts = {urlsplit(bettercharge().hosts.production).hostname or ""}
    hosts.add(urlsplit(betterpayment().hosts.production).hostname or "")
    return hosts


def _url(name: str, value: str, *, allow_production: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: not an http(s) URL: {value!r}")
    if parts.hostname in _production_hosts() and not allow_production:
        raise ConfigError(f"{name}: {parts.hostname} is a production host; pass --allow-production to use it")
    return value.rstrip("/")


def read_environment(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The effective variables: the .env file (if any) overlaid by the real environment."""
    env = dict(os.environ if environ is None else environ)
    path = env_file if env_file is not None else Path(".env")
    if env_file is not None and not env_file.is_file():
        raise ConfigError(f"--env-file: no such file: {env_file}")
    values: dict[str, str] = {}
    if path.is_file():
        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    values.update({k: v for k, v in env.items() if k.startswith(("PAYCERT_", "BETTERPAYMENT_", "BETTERCHARGE_"))})
    return values


def load_settings(
    env_file: Path | None = None,
    *,
    target: str | None = None,
    allow_production: bool = False,
    apis: tuple[str, ...] = APIS,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validated settings for a run against `target` (argument, else PAYCERT_TARGET, else simulator).

    Against the simulator every credential has a catalog default; against a sandbox the credentials of each
    API in `apis` are required.
    """
    env = read_environment(env_file, environ)
    raw_target = (target or env.get("PAYCERT_TARGET") or "simulator").strip().lower()
    if raw_target not in TARGETS:
        raise ConfigError(f"PAYCERT_TARGET: must be one of {', '.join(TARGETS)}, got {raw_target!r}")
    chosen: Target = "sandbox" if raw_target == "sandbox" else "simulator"

    def get(name: str, default: str | None) -> str:
        value = env.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(f"{name}: required when PAYCERT_TARGET={chosen}")
        return default

    sim_url = env.get("PAYCERT_SIMULATOR_URL", "").strip() or None
    if sim_url:
        sim_url = _url("PAYCERT_SIMULATOR_URL", sim_url, allow_production=False)
    sandbox = chosen == "sandbox"
    from harness.catalog import bettercharge, betterpayment

    bp_cat, bc_cat = betterpayment(), bettercharge()
    bp_needed = sandbox and "betterpayment" in apis
    bc_needed = sandbox and "bettercharge" in apis
    bp_sim, bc_sim = bp_cat.simulator, bc_cat.simulator
    bp = BetterPaymentSettings(
        base_url=_url("BETTERPAYMENT_BASE_URL", get("BETTERPAYMENT_BASE_URL", bp_cat.hosts.test if sandbox else "http://simulator"),
                      allow_production=allow_production),
        api_key=get("BETTERPAYMENT_API_KEY", None if bp_needed else bp_sim.api_key),
        api_password=get("BETTERPAYMENT_API_PASSWORD", None if bp_needed else bp_sim.api_password),
        incoming_key=get("BETTERPAYMENT_INCOMING_KEY", None if bp_needed else bp_sim.incoming_key),
        webhook_key=get("BETTERPAYMENT_WEBHOOK_KEY", None if bp_needed else bp_sim.webhook_key),
    )
    bc = BetterChargeSettings(
        base_url=_url("BETTERCHARGE_BASE_URL", get("BETTERCHARGE_BASE_URL", bc_cat.hosts.sandbox if sandbox else "http://simulator"),
                      allow_production=allow_production),
        api_key=get("BETTERCHARGE_API_KEY", None if bc_needed else bc_sim.api_key),
        partner_id=get("BETTERCHARGE_PARTNER_ID", None if bc_needed else bc_sim.partner_id),
    )
    return Settings(target=chosen, simulator_url=sim_url, betterpayment=bp, bettercharge=bc,
                    overrides={k: v for k, v in env.items() if k.startswith(("BETTERPAYMENT_", "BETTERCHARGE_"))})
