"""One error root: every error paycert raises on purpose is a PaycertError, drawn once in harness/errors.py."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import harness
from harness import errors
from harness.catalog import CatalogError, bettercharge, betterpayment
from harness.errors import PaycertError


def _all_harness_modules() -> None:
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        importlib.import_module(info.name)


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _drawn() -> dict[str, tuple[int, set[str]]]:
    """Class name -> (depth in the drawing, extra bases in brackets), from the module docstring's tree."""
    drawn: dict[str, tuple[int, set[str]]] = {}
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^\s{4}((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)(?: \[(\w+)\])?(?: \.+ .*)?$", line)
        if match and (match.group(2) == "PaycertError" or "── " in line):
            depth = len(match.group(1)) // 4 + (1 if "── " in line else 0)
            drawn[match.group(2)] = (depth, {match.group(3)} if match.group(3) else set())
    return drawn


def test_the_drawn_tree_is_the_real_one() -> None:
    _all_harness_modules()
    drawn = _drawn()
    real = {cls.__name__: cls for cls in _subclasses(PaycertError)}
    assert set(drawn) - {"PaycertError"} == set(real), "harness/errors.py's drawing and the classes disagree"
    for name, cls in real.items():
        paycert_parents = [b for b in cls.__bases__ if issubclass(b, PaycertError)]
        assert len(paycert_parents) == 1, name
        assert drawn[name][0] == drawn[paycert_parents[0].__name__][0] + 1, f"{name} is drawn under the wrong parent"
        others = {b.__name__ for b in cls.__bases__ if not issubclass(b, PaycertError)}
        assert others == drawn[name][1], f"{name}: drawn with [{drawn[name][1]}], really also {others}"


@pytest.mark.parametrize("name", ["CatalogError", "ConfigError", "OpenAPIError", "SchemaMismatch", "ReportError",
                                  "MutationError"])
def test_errors_that_callers_catch_as_value_error_still_are(name: str) -> None:
    assert issubclass(getattr(errors, name), ValueError)


def test_the_other_standard_bases_are_kept() -> None:
    assert issubclass(errors.BudgetTimeout, TimeoutError)
    assert issubclass(errors.ThreeDSError, RuntimeError) and issubclass(errors.ControlError, RuntimeError)


@pytest.mark.parametrize(
    ("lookup", "named"),
    [
        (lambda: bettercharge().card("BC-CARD-NOPE"), "'BC-CARD-NOPE'"),
        (lambda: bettercharge().error("BC-ERR-NOPE"), "'BC-ERR-NOPE'"),
        (lambda: bettercharge().state("NOPE"), "'NOPE'"),
        (lambda: betterpayment().status(99), "99"),
        (lambda: betterpayment().error_by_name("nope"), "'nope'"),
        (lambda: betterpayment().field_blocks["common"].field("nope"), "'nope'"),
    ],
)
def test_a_catalog_look_up_of_a_missing_id_names_it(lookup: object, named: str) -> None:
    with pytest.raises(CatalogError) as exc:
        lookup()  # type: ignore[operator]
    assert named in str(exc.value) and "catalog " in str(exc.value)


def test_a_missing_id_inside_a_generator_is_not_swallowed() -> None:
    """The reason for CatalogError over StopIteration: list(...) of a generator would end quietly."""
    with pytest.raises(CatalogError):
        list(bettercharge().card(i) for i in ("BC-CARD-NOPE",))
