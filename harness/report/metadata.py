"""Run metadata: what was certified, with what, by whom, when, and until when the certificate holds.

Everything here is safe to publish: base URLs lose any user:password part, and no credential is read.
Hashes pin the exact catalog, OpenAPI documents and suites a verdict was reached with, so two reports can be
compared knowing whether the yardstick changed (as the UK Open Banking conformance reports do).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from harness.paths import fixtures_dir

#: How long a certificate from a ready run holds (the UK Open Banking reports expire too).
CERTIFICATE_VALIDITY_DAYS: Final = 90
_SKIP_DIRS: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, second precision: what the report and the package show."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus 6 random hex digits (20250101T120000Z-1a2b3c)."""
    moment = (now or utc_now()).astimezone(dt.UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def certificate_expiry(finished: dt.datetime, days: int = CERTIFICATE_VALIDITY_DAYS) -> dt.datetime:
    return finished + dt.timedelta(days=days)


def operator(environ: Mapping[str, str]) -> str:
    """PAYCERT_OPERATOR, else the OS user, else 'unknown' (a container may have no user name)."""
    named = environ.get("PAYCERT_OPERATOR", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


def public_url(url: str) -> str:
    """The URL without user:password, query or fragment: a base URL is published, a credential never."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def catalog_hashes() -> list[dict[str, str]]:
    """sha256 of every catalog file, by path relative to the fixtures directory."""
    root = fixtures_dir()
    return [{"file": p.relative_to(root).as_posix(), "sha256": file_sha256(p)}
            for p in sorted((root / "catalog").glob("*.yaml"))]


def openapi_hashes(apis: Sequence[str]) -> list[dict[str, Any]]:
    """sha256 of each selected API's OpenAPI document; a missing document is recorded, not fatal."""
    from harness import openapi

    rows: list[dict[str, Any]] = []
    for api in apis:
        try:
            path = openapi.document_path(api)
            rows.append({"api": api, "file": path.relative_to(fixtures_dir()).as_posix(),
                         "sha256": openapi.sha256(api), "error": None})
        except (OSError, ValueError) as exc:
            rows.append({"api": api, "file": None, "sha256": None, "error": str(exc).splitlines()[0]})
    return rows


def tree_digest(root: Path) -> dict[str, Any]:
    """One sha256 over every file of a directory (relative path + content hash), caches excluded."""
    digest = hashlib.sha256()
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not _SKIP_DIRS & set(p.parts)):
        rel = path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{file_sha256(path)}\n".encode())
        count += 1
    return {"path": str(root), "sha256": digest.hexdigest(), "files": count}
