"""What every catalog entry shares: where a fact comes from, and how much it weighs at go-live.

A requirement is a catalog entry that states behaviour. The report traces each one to the tests that
prove it, so its id must be stable across catalog edits.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from harness import yaml_data
from harness.errors import CatalogError
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


class Rule(Sourced):
    """Behaviour that is not a row of a table (both catalogs' `rules:`), each a requirement of its own."""

    id: str
    title: str
    error: str | None = None
    weight: Weight = Weight.mandatory
    simulator_only: bool = False


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


T = TypeVar("T")


def check_unique_ids(requirements: Iterable[Requirement]) -> None:
    """ValueError (a validation error of the catalog model) naming every requirement id used twice."""
    ids = [r.id for r in requirements]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate requirement ids: {sorted(dupes)}")


def lookup(items: Iterable[T], where: str, **key: object) -> T:
    """The first of `items` whose attribute equals the one keyword given (`lookup(cat.cards, ..., id="x")`).

    A miss raises CatalogError "catalog <where> has no entry with <attr> <value>". Why not next(): a bare
    StopIteration inside a generator or a parametrize expression ends the iteration silently, so a typo in an
    id would vanish instead of failing.
    """
    ((attr, value),) = key.items()
    for item in items:
        if getattr(item, attr) == value:
            return item
    raise CatalogError(f"catalog {where} has no entry with {attr} {value!r}")


def load_yaml(name: str) -> dict[str, Any]:
    path: Path = fixtures_dir() / "catalog" / name
    try:
        data = yaml_data.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml_data.YAMLError) as exc:
        raise CatalogError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level")
    return data


def validation_message(name: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"catalog/{name}: {where}: {first['msg']} ({exc.error_count()} error(s) in all)"
