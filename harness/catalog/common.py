"""What every catalog entry shares: where a fact comes from, and how much it weighs at go-live.

A requirement is a catalog entry that states behaviour. The report traces each one to the tests that
prove it, so its id must be stable across catalog edits.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from harness.paths import fixtures_dir


class Provenance(StrEnum):
    documented = "documented"  # in a seed: law for the simulator and the suites
    adopted = "adopted"  # our reasoned choice where the seed is silent
    observed = "observed"  # seen in code that runs against the real API (a vendor plugin) or in a sandbox run
    simulator = "simulator"  # a test-data convention of our simulator only


class Weight(StrEnum):
    mandatory = "mandatory"
    advisory = "advisory"


class Entry(BaseModel):
    """Base of all catalog models: unknown keys are errors, so a typo in the YAML cannot hide a fact."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(Entry):
    provenance: Provenance
    source: str


class Requirement(Entry):
    """The view of an entry the report and the pytest plugin work with."""

    id: str
    api: str
    kind: str
    title: str
    provenance: Provenance
    source: str
    weight: Weight = Weight.mandatory
    simulator_only: bool = False


class CatalogError(ValueError):
    """A catalog file that cannot be read or does not match its model; the message names file and field."""


def load_yaml(name: str) -> dict[str, Any]:
    path: Path = fixtures_dir() / "catalog" / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level")
    return data


def validation_message(name: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"catalog/{name}: {where}: {first['msg']} ({exc.error_count()} error(s) in all)"
