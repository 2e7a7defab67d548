"""The HAR evidence of a run, read back per test for the report.

The recorder (harness.evidence) packs one gzip'd HAR file per test module (one page per test) and an
index.json naming each test's file and page; spools of a run that ended before packing and loose per-test HAR
files are read too. The report shows each exchange (method, URL, status, headers, bodies) under the test that
made it. Text copied into the
report is redacted once more: the recorder already masks at capture, and redacting again costs nothing and
keeps a recorder bug from reaching the report (the leak audit still flags the raw HAR file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from harness.evidence import read_evidence_with_problems
from harness.redaction import redact_text

#: Bodies longer than this are cut in the report (the HAR file keeps what the recorder kept).
MAX_BODY_CHARS: Final = 64 * 1024


class EvidenceReader:
    """Exchanges per case from an evidence directory; unreadable files are noted, never fatal."""

    def __init__(self, directory: Path | None, *, secrets: Iterable[str] = (), known_pans: Iterable[str] = ()) -> None:
        self.directory = directory
        self.secrets = tuple(secrets)
        self.known_pans = tuple(known_pans)
        self.problems: list[str] = []
        self._cases: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._memo: dict[tuple[str, str], Any] = {}
        if directory is not None and directory.is_dir():
            self._cases, self.problems = read_evidence_with_problems(directory)

    def _redact(self, value: str | None) -> str | None:
        if value is None:
            return None
        text = redact_text(value, self.secrets, known_pans=self.known_pans)
        if len(text) > MAX_BODY_CHARS:
            text = text[:MAX_BODY_CHARS] + f"\n... [cut by the report, {len(text)} characters in all]"
        return text

    def _headers(self, rows: Any) -> list[dict[str, str]]:
        if not isinstance(rows, list):
            return []
        return [{"name": str(h.get("name", "")), "value": self._redact(str(h.get("value", ""))) or ""}
                for h in rows if isinstance(h, dict)]

    def file_for(self, case: str) -> str | None:
        """The HAR file (relative to the evidence directory) holding a case's exchanges, if the run wrote any."""
        found = self._cases.get(case)
        return found[0] if found else None

    def count(self, case: str) -> int:
        """How many exchanges the case made."""
        found = self._cases.get(case)
        return len(found[1]) if found else 0

    def exchanges(self, case: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The case's exchanges in the report's shape (empty when the test made no HTTP call); the first
        `limit` of them when given."""
        if case not in self._cases:
            return []
        shaped = self.memo("exchanges", case, lambda: [self._exchange(e) for e in self._cases[case][1]
                                                       if isinstance(e, dict)])
        return list(shaped if limit is None else shaped[:limit])

    def memo(self, what: str, case: str, build: Callable[[], Any]) -> Any:
        """`build()` once per (what, case): the report is built and rendered more than once per run, and a
        contract test's hundreds of exchanges are redacted and packed only the first time."""
        key = (what, case)
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def _exchange(self, entry: dict[str, Any]) -> dict[str, Any]:
        request = entry.get("request") or {}
        response = entry.get("response") or {}
        post = request.get("postData") or {}
        content = response.get("content") or {}
        status = response.get("status")
        attempt = entry.get("_attempt")
        return {
            "started": str(entry.get("startedDateTime", "")),
            "time_ms": round(float(entry.get("time") or 0), 3),
            "operation": entry.get("_operation") if isinstance(entry.get("_operation"), str) else None,
            "attempt": attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
            "error": self._redact(entry["_error"]) if isinstance(entry.get("_error"), str) else None,
            "request": {
                "method": str(request.get("method", "")),
                "url": self._redact(str(request.get("url", ""))) or "",
                "headers": self._headers(request.get("headers")),
                "body": self._redact(post.get("text")) if isinstance(post.get("text"), str) else None,
                "mime": str(post.get("mimeType", "")),
            },
            "response": {
                "status": status if isinstance(status, int) and not isinstance(status, bool) else 0,
                "status_text": str(response.get("statusText", "")),
                "headers": self._headers(response.get("headers")),
                "body": self._redact(content.get("text")) if isinstance(content.get("text"), str) else None,
                "mime": str(content.get("mimeType", "")),
            },
        }
