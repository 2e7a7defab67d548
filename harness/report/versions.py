"""API versions: which version of each API a run certified, and running against another version's documents.

The catalog (`version`) and each OpenAPI document (`info.version`) carry the API version they describe; for
BetterCharge that is the docs' own "Better API 2025-09-01". A run records both (report.json `run.api_versions`).
QA certifies a new version by copying the shipped fixtures directory, editing the catalog and the documents,
and running `paycert certify --fixtures DIR`; the installed package stays untouched (harness.paths).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from harness.paths import FIXTURES_ENV, check_fixtures, fixtures_override


def use_fixtures(path: Path, source: str = "--fixtures") -> Path:
    """Make `path` the fixtures directory of this process and of every child it starts.

    Sets PAYCERT_FIXTURES (children inherit it) and forgets what was already loaded from the old directory, so
    the parent's catalog, documents and report agree with the suites. ConfigError when `path` is not one.
    """
    checked = check_fixtures(path, source)
    os.environ[FIXTURES_ENV] = str(checked)
    forget_loaded()
    return checked


def apply_fixtures(path: Path | None) -> None:
    """certify's --fixtures DIR, or an inherited PAYCERT_FIXTURES: checked (ConfigError) before anything is read."""
    if path is not None:
        use_fixtures(path)
    elif (inherited := fixtures_override()) is not None:
        check_fixtures(inherited, FIXTURES_ENV)


def forget_loaded() -> None:
    """Drop the catalogs and documents loaded so far (they are cached per process)."""
    from harness import openapi
    from harness.catalog import bettercharge, betterpayment
    from harness.report import labels

    for cached in (bettercharge, betterpayment, openapi.document, openapi._registry, openapi._validator_for,
                   openapi.examples, labels.requirement_index):
        cached.cache_clear()


def api_versions(apis: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """Per API, the version its catalog and its OpenAPI document (info.version) carry; None where unreadable.

    A run records both, so a report says which API version it certified (e.g. BetterCharge "Better API
    2025-09-01") and `paycert history` / `paycert diff` can tell a new version from a changed target.
    """
    from harness import openapi
    from harness.catalog import CatalogError, bettercharge, betterpayment

    def catalog_version(api: str) -> str:
        return bettercharge().version if api == "bettercharge" else betterpayment().version

    versions: dict[str, dict[str, str | None]] = {}
    for api in apis:
        catalog: str | None
        try:
            catalog = catalog_version(api)
        except (CatalogError, OSError):
            catalog = None
        try:
            info = openapi.document(api).get("info", {})
            document = str(info["version"]) if isinstance(info, dict) and "version" in info else None
        except (OSError, ValueError):
            document = None
        versions[api] = {"catalog": catalog, "openapi": document}
    return versions
