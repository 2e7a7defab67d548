"""Where the data files live, in a source checkout and in an installed wheel alike; which APIs there are.

The layout keeps `fixtures/` and `suites/` beside `harness/`; a wheel ships them as the packages
`paycert_fixtures` and `paycert_suites`, so code asks here instead of guessing relative paths.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

#: The two APIs under test, in the order runs and reports take them (the seeds' order). Each has
#: fixtures/<api>/ (OpenAPI document, examples), fixtures/catalog/<api>.yaml and suites/<api>/.
APIS: Final[tuple[str, ...]] = ("betterpayment", "bettercharge")

_ROOT = Path(__file__).resolve().parent.parent


def _locate(source_name: str, installed_package: str) -> Path:
    in_tree = _ROOT / source_name
    if in_tree.is_dir():
        return in_tree
    spec = importlib.util.find_spec(installed_package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"cannot find paycert's {source_name}/ (neither {in_tree} nor {installed_package})")
    return Path(next(iter(spec.submodule_search_locations)))


def fixtures_dir() -> Path:
    """The catalog, the OpenAPI documents and the seed examples."""
    return _locate("fixtures", "paycert_fixtures")


def suites_dir() -> Path:
    """The certification suites users run against a target."""
    return _locate("suites", "paycert_suites")
