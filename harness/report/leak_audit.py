"""The leak audit: after every run, every artefact is scanned for card numbers and configured secrets.

What counts as a hit:

- a Luhn-valid run of 13-19 digits (``harness.redaction.find_pans``, grouped forms included);
- a catalog test card number, even one that fails Luhn on purpose (``known_pans``);
- a configured secret (API key, API password, webhook/incoming keys, the signing key), also URL-encoded or
  JSON-escaped (``harness.redaction.find_leaks``).

What is not a hit, and why (Luhn-valid digit runs only; known PANs and secrets are always hits):

1. the fractional part of a decimal number (``0.0012345678901234567``): JSON durations and timings;
2. digits inside a hex digest of 32+ characters that holds a letter (md5/sha1/sha256 values: Allure
   history ids, the manifest's hashes): a card number is never glued to hex letters;
3. a 13-digit run that, read as Unix epoch milliseconds, falls within a day of the run (Allure's start/stop
   times; about one in ten passes Luhn). No card network issues 13-digit numbers starting with 1, which is
   what such a timestamp looks like until 2286.

Compressed evidence is audited as what it holds: a gzip file (``evidence/*.har.gz``, by its magic bytes, not its
name) is decompressed and scanned, inside a zip as well; an xz-compressed tar (``allure-results.tar.xz``, by its
magic bytes) is scanned member by member, like a zip; a gzip or xz that cannot be decompressed is itself a
finding (``unreadable``), since nobody can prove it clean. report.html's packed evidence (base64 of gzip) is decoded and
scanned the same way.

A finding names the file (relative to the run directory; ``package.zip!member`` inside a zip, ``file!gunzip``
for decompressed content, ``report.html!packed@N`` for the N-th packed block), the byte offset, line and column
(in the decompressed text), the kind, and the value masked; the value itself is never kept or printed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import hashlib
import io
import json
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Final

from harness.cards import mask_pan
from harness.redaction import find_leaks

RULES: Final[tuple[str, ...]] = (
    "Hits: Luhn-valid 13-19 digit runs, catalog test card numbers, configured secrets (also URL-encoded or "
    "JSON-escaped).",
    "Not hits (Luhn-valid runs only): the fractional part of a decimal number; digits inside a hex digest of 32 "
    "or more characters; a 13-digit run equal to a Unix time in milliseconds within a day of the run.",
)
_HEX_TOKEN: Final = re.compile(r"[0-9A-Fa-f]+")
_DAY_MS: Final = 86_400_000


@dataclass(frozen=True)
class Finding:
    file: str
    offset: int
    line: int
    column: int
    kind: str
    masked: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.file}:{self.line}:{self.column} (byte {self.offset}): {self.kind} {self.masked}"


@dataclass(frozen=True)
class AuditResult:
    files_scanned: int
    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class TimeWindow:
    """Epoch milliseconds within which a 13-digit run is taken for a timestamp (the run's span plus a day)."""

    start_ms: int
    end_ms: int

    @classmethod
    def around(cls, start: dt.datetime, end: dt.datetime) -> TimeWindow:
        return cls(int(start.timestamp() * 1000) - _DAY_MS, int(end.timestamp() * 1000) + _DAY_MS)

    def contains(self, digits: str) -> bool:
        return len(digits) == 13 and self.start_ms <= int(digits) <= self.end_ms


def _in_hex_digest(text: str, start: int, end: int) -> bool:
    lo = start
    while lo > 0 and text[lo - 1] in "0123456789abcdefABCDEF":
        lo -= 1
    hi = end
    while hi < len(text) and text[hi] in "0123456789abcdefABCDEF":
        hi += 1
    token = text[lo:hi]
    return len(token) >= 32 and not token.isdigit() and _HEX_TOKEN.fullmatch(token) is not None


def _excused(text: str, start: int, end: int, window: TimeWindow | None) -> bool:
    if start >= 2 and text[start - 1] == "." and text[start - 2].isdigit():
        return True
    if _in_hex_digest(text, start, end):
        return True
    digits = text[start:end]
    return window is not None and digits.isdigit() and window.contains(digits)


def scan_text(
    text: str, *, secrets: Sequence[str] = (), known_pans: Sequence[str] = (), window: TimeWindow | None = None
) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, masked) of every hit in `text` (character offsets), after the exclusions above."""
    hits: list[tuple[int, int, str, str]] = []
    seen: set[tuple[int, str]] = set()
    # card-number and CVV *field* patterns are redaction aids, too loose for a failing audit: not searched
    for leak in find_leaks(text, secrets, kinds=("pan", "secret")):
        if leak.kind not in ("pan", "secret"):
            continue
        if leak.kind == "pan" and _excused(text, leak.start, leak.end, window):
            continue
        if (leak.start, leak.kind) not in seen:
            seen.add((leak.start, leak.kind))
            hits.append((leak.start, leak.end, leak.kind, leak.masked))
    pattern = _known_pattern(tuple(known_pans))
    if pattern is not None:
        for match in pattern.finditer(text):
            hits.append((match.start(), match.end(), "known_pan", mask_pan(match.group(0))))
    return sorted(hits)


@cache
def _known_pattern(known_pans: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for all known PANs (the catalog's test cards), not inside a longer digit run."""
    digits = sorted({p for p in known_pans if p.isdigit() and 13 <= len(p) <= 19}, key=len, reverse=True)
    if not digits:
        return None
    return re.compile(r"(?<![0-9])(?:" + "|".join(digits) + r")(?![0-9])")


def _findings(name: str, data: bytes, secrets: Sequence[str], known_pans: Sequence[str],
              window: TimeWindow | None) -> list[Finding]:
    text = data.decode("utf-8", errors="surrogateescape")
    found: list[Finding] = []
    for start, _end, kind, masked in scan_text(text, secrets=secrets, known_pans=known_pans, window=window):
        before = text[:start]
        line = before.count("\n") + 1
        column = start - (before.rfind("\n") + 1) + 1
        offset = len(before.encode("utf-8", errors="surrogateescape"))
        found.append(Finding(name, offset, line, column, kind, masked))
    return found


_GZIP_MAGIC: Final = b"\x1f\x8b"
_XZ_MAGIC: Final = b"\xfd7zXZ\x00"
_PACKED: Final = re.compile(rb'data-gz="([A-Za-z0-9+/=]*)"')


#: Findings by content (sha256 of the bytes, the secrets, PANs and window): the package repeats report.html,
#: report.json and the evidence byte for byte, and a run audits its directory and then its package.
_SEEN: dict[tuple[Any, ...], tuple[str, int, list[Finding]]] = {}


def _expanded(name: str, data: bytes, secrets: Sequence[str], known_pans: Sequence[str],
              window: TimeWindow | None) -> tuple[int, list[Finding]]:
    """Findings in one file's bytes (scanned once per content, see _SEEN), named `name`."""
    key = (hashlib.sha256(data).digest(), tuple(secrets), tuple(known_pans), window)
    if key not in _SEEN:
        if len(_SEEN) > 10_000:
            _SEEN.clear()
        _SEEN[key] = (name, *_scan_expanded(name, data, secrets, known_pans, window))
    first, count, found = _SEEN[key]
    return count, [f if f.file == name else replace(f, file=name + f.file[len(first):]) for f in found]


def _scan_expanded(name: str, data: bytes, secrets: Sequence[str], known_pans: Sequence[str],
                   window: TimeWindow | None) -> tuple[int, list[Finding]]:
    """Findings in one file's bytes: gunzipped first when they are gzip, plus report.html's packed blocks."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return 1, [Finding(name, 0, 1, 1, "unreadable", "(gzip data that cannot be decompressed)")]
        name = f"{name}!gunzip"
    found = _findings(name, data, secrets, known_pans, window)
    for number, match in enumerate(_PACKED.finditer(data)):
        try:
            inner = base64.b64decode(match.group(1), validate=True)
        except (binascii.Error, ValueError):
            found.append(Finding(f"{name}!packed@{number}", match.start(1), 1, 1, "unreadable",
                                 "(packed evidence that is not base64)"))
            continue
        found.extend(_expanded(f"{name}!packed@{number}", inner, secrets, known_pans, window)[1])
    return 1, found  # a packed block is part of its file, not a file of its own


def audit_file(path: Path, name: str, *, secrets: Sequence[str] = (), known_pans: Sequence[str] = (),
               window: TimeWindow | None = None) -> tuple[int, list[Finding]]:
    """(files scanned, findings) for one file; a zip or an xz-compressed tar is scanned member by member
    (``name!member``), gzip content decompressed."""
    data = path.read_bytes()
    if data[:6] == _XZ_MAGIC:
        return _audit_members(name, _tar_members(data), secrets, known_pans, window,
                              unreadable=(tarfile.TarError, lzma.LZMAError, EOFError, OSError))
    if zipfile.is_zipfile(path):
        return _audit_members(name, _zip_members(path), secrets, known_pans, window)
    return _expanded(name, data, secrets, known_pans, window)


def _zip_members(path: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            try:
                member = archive.read(info)
            except (zipfile.BadZipFile, OSError, ValueError):
                member = b""  # a corrupt member cannot be read by anyone else either; verify reports it
            yield info.filename, member


def _tar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as archive:
        for info in archive:
            handle = archive.extractfile(info) if info.isfile() else None
            if handle is not None:
                yield info.name, handle.read()


def _audit_members(name: str, members: Iterator[tuple[str, bytes]], secrets: Sequence[str],
                   known_pans: Sequence[str], window: TimeWindow | None, *,
                   unreadable: tuple[type[BaseException], ...] = ()) -> tuple[int, list[Finding]]:
    """An archive's members, each scanned as a file of its own; an archive whose reading raises one of
    `unreadable` is a finding, never a clean file."""
    found: list[Finding] = []
    count = 0
    try:
        for member, content in members:
            more, member_found = _expanded(f"{name}!{member}", content, secrets, known_pans, window)
            found.extend(member_found)
            count += more
    except unreadable:
        return count + 1, [*found, Finding(name, 0, 1, 1, "unreadable", "(xz or tar data that cannot be read)")]
    return count, found


def audit_paths(
    root: Path,
    paths: Iterable[Path] | None = None,
    *,
    secrets: Iterable[str] = (),
    known_pans: Iterable[str] = (),
    window: TimeWindow | None = None,
) -> AuditResult:
    """Scan `paths` (default: every file under `root`), naming files relative to `root`."""
    secret_list = tuple(s for s in secrets if s)
    pans = tuple(known_pans)
    files = sorted(p for p in (paths if paths is not None else root.rglob("*")) if p.is_file())
    scanned = 0
    findings: list[Finding] = []
    for path in files:
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:
            name = str(path)
        count, found = audit_file(path, name, secrets=secret_list, known_pans=pans, window=window)
        scanned += count
        findings.extend(found)
    return AuditResult(scanned, tuple(findings))


def write_audit(path: Path, result: AuditResult) -> None:
    """leak-audit.json: the authoritative list of findings (masked values, positions)."""
    path.write_text(json.dumps({"files_scanned": result.files_scanned, "clean": result.clean,
                                "findings": [f.to_json() for f in result.findings], "rules": list(RULES)},
                               indent=1) + "\n", encoding="utf-8")
