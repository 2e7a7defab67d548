"""Small input files the report commands read whole (trusted keys, public keys, waiver registers), with one
clear line when they cannot be: a directory, a missing or unreadable file, one too large for its kind, text that
is not UTF-8. One home for these checks, so every such file fails the same way."""

from __future__ import annotations

from pathlib import Path

from harness.report.errors import ReportError


def read_small(path: Path, what: str, kind: str, limit: int) -> bytes:
    """`path` whole when it is a readable file of at most `limit` bytes; otherwise a ReportError naming `what`
    (the option or setting the path came from), the path and `kind` (what the file should be)."""
    try:
        if path.is_dir():
            raise ReportError(f"{what}: {path} is a directory, not {kind}")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise ReportError(f"{what}: no such file: {path}") from None
    except OSError as exc:
        raise ReportError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise ReportError(f"{what}: {path} is larger than {limit} bytes; not {kind}")
    return data


def utf8_text(data: bytes, path: Path, what: str, kind: str) -> str:
    """The file's text; a ReportError naming the first line that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ReportError(f"{what}: {path}:{line}: not UTF-8 text ({kind})") from None
