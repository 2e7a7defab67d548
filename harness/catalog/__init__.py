"""The catalog of documented facts: the one place the simulator, the suites and the report read them from.

    from harness.catalog import bettercharge, betterpayment
    bettercharge().cards          # typed, validated, cached

A malformed catalog raises CatalogError naming the file and the field, never a bare traceback.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from harness.catalog.bettercharge import BetterChargeCatalog
from harness.catalog.betterpayment import BetterPaymentCatalog
from harness.catalog.common import (
    CatalogError,
    Provenance,
    Requirement,
    Weight,
    load_yaml,
    validation_message,
)

__all__ = [
    "BetterChargeCatalog",
    "BetterPaymentCatalog",
    "CatalogError",
    "Provenance",
    "Requirement",
    "Weight",
    "all_requirements",
    "bettercharge",
    "betterpayment",
    "known_pans",
]


M = TypeVar("M", bound=BaseModel)


def _load(name: str, model: type[M]) -> M:
    from harness.catalog.overlay import apply_overlay

    try:
        return model.model_validate(apply_overlay(name, load_yaml(name)))
    except ValidationError as exc:
        raise CatalogError(validation_message(name, exc)) from exc


@cache
def bettercharge() -> BetterChargeCatalog:
    return _load("bettercharge.yaml", BetterChargeCatalog)


@cache
def betterpayment() -> BetterPaymentCatalog:
    return _load("betterpayment.yaml", BetterPaymentCatalog)


@cache
def known_pans() -> tuple[str, ...]:
    """Every card number the catalogs document (BetterCharge's test cards, the Better Payment seed's example).

    Evidence, reports and the leak audit mask these even where Luhn would not flag them: one documented
    BetterCharge test card fails Luhn on purpose.
    """
    return (*(c.pan for c in bettercharge().cards), betterpayment().seed_card_pan)


def all_requirements() -> list[Requirement]:
    """Every requirement of both APIs, in catalog order."""
    return [*bettercharge().requirements, *betterpayment().requirements]
