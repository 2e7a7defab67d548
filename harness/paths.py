"""Where the data files live, in a source checkout and in an installed wheel alike; which APIs there are.

The layout keeps `fixtures/` and `suites/` beside `harness/`; a wheel ships them as the packages
`paycert_fixtures` and `paycert_suites`, so code asks here instead of guessing relative paths.

QA certifies a new API version without editing the installed package: PAYCERT_FIXTURES names another fixtures
directory (the same layout: catalog/, <api>/openapi.yaml, <api>/examples/). `paycert certify --fixtures DIR` sets
it, so the pytest child process and its xdist workers read the same documents as the parent.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Final

from harness.errors import ConfigError

#: The two APIs under test, in the order runs and reports take them (the seeds' order). Each has
#: fixtures/<api>/ (OpenAPI document, examples), fixtures/catalog/<api>.yaml and suites/<api>/.
APIS: Final[tuple[str, ...]] = ("betterpayment", "bettercharge")

_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_ENV: Final = "PAYCERT_FIXTURES"
#: What a fixtures directory must hold to be one (checked when an override names it).
FIXTURES_LAYOUT: Final = ("catalog/bettercharge.yaml", "catalog/betterpayment.yaml", "bettercharge/openapi.yaml",
                          "betterpayment/openapi.yaml")


def check_fixtures(path: Path, source: str = FIXTURES_ENV) -> Path:
    """`path` if it has the fixtures layout; ConfigError naming `source` and the first missing file."""
    if not path.is_dir():
        raise ConfigError(f"{source}: {path} is not a directory")
    missing = [name for name in FIXTURES_LAYOUT if not (path / name).is_file()]
    if missing:
        raise ConfigError(f"{source}: {path} is not a fixtures directory (no {missing[0]}; copy the shipped one "
                            f"from {shipped_fixtures_dir()} and edit it)")
    return path.resolve()


def fixtures_override() -> Path | None:
    """The fixtures directory PAYCERT_FIXTURES names, if set (not checked: see check_fixtures)."""
    value = os.environ.get(FIXTURES_ENV, "").strip()
    return Path(value) if value else None


def _locate(source_name: str, installed_package: str) -> Path:
    in_tree = _ROOT / source_name
    if in_tree.is_dir():
        return in_tree
    spec = importlib.util.find_spec(installed_package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"cannot find paycert's {source_name}/ (neither {in_tree} nor {installed_package})")
    return Path(next(iter(spec.submodule_search_locations)))


def shipped_fixtures_dir() -> Path:
    """The fixtures that come with paycert (checkout or installed wheel)."""
    return _locate("fixtures", "paycert_fixtures")


def fixtures_dir() -> Path:
    """The catalog, the OpenAPI documents and the seed examples: PAYCERT_FIXTURES when set, else the shipped."""
    override = fixtures_override()
    return override if override is not None else shipped_fixtures_dir()


def suites_dir() -> Path:
    """The certification suites users run against a target."""
    return _locate("suites", "paycert_suites")
