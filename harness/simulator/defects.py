"""Registry of deliberate simulator defects, for measuring whether the suites catch broken behaviour.

Each defect is a name, the area it breaks and what it does. Simulator code asks `state.defect(name)` at the
point it would misbehave. Defects can only be switched on in a simulator started with
PAYCERT_SIMULATOR_DEFECTS=1 (see state.py), so a certification run never meets one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    name: str
    api: str
    area: str
    description: str


_REGISTRY: dict[str, Defect] = {}


def register(name: str, api: str, area: str, description: str) -> str:
    if name in _REGISTRY:
        raise ValueError(f"defect {name} registered twice")
    _REGISTRY[name] = Defect(name, api, area, description)
    return name


def names() -> list[str]:
    return sorted(_REGISTRY)


def all_defects() -> list[Defect]:
    return [_REGISTRY[n] for n in names()]
