"""Evidence: every HTTP exchange a client makes, redacted when it is captured, written as HAR 1.2 files.

Why HAR: browsers, proxies and many viewers read it, so a certification failure can be replayed by eye in
tools people already have. Why redact at capture: PCI DSS counts evidence files as storage, and a value that is
never kept cannot leak later, whatever goes wrong in between. The recorder therefore stores only redacted
strings, and the raw request and response bodies live no longer than the call that records them.

How it fits together:

- ``set_active_recorder()`` installs one recorder per process; clients find it through ``active_recorder()``
  so no suite has to pass a recorder around.
- ``with recorder.case("suites/x.py::test_y[id]"):`` names the case that the exchanges inside belong to. The
  name is held in a context variable; threads started inside the block (which do not inherit context) fall back
  to the innermost case open in the process, so concurrency tests are attributed too.
- ``RecordingTransport`` wraps any httpx transport (the seam httpx designed for this) and records each request
  it carries, including the ones that end in a transport error.
- With a directory, each case is appended to the process's *spool* when its ``case()`` block ends (one JSON
  line per case, flushed at once: a crash loses at most the case in progress). ``pack(directory)`` (the
  plugin calls it on the controller when the run ends) turns the spools of every process into one HAR file per
  test module, gzip-compressed (``<module>.har.gz``, one HAR page per test), and an ``index.json`` naming the
  file and page of every case. Why: a contract run makes ~15,000 exchanges; one indented HAR per test was
  43 MB in 5,925 files, one compressed HAR per module is a few MB in a few dozen files, with every exchange kept.
- ``write(directory)`` writes one plain HAR file per case, named by ``case_filename()``, and merges
  ``index.json`` under a file lock (for callers that want loose files).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import httpx
from filelock import FileLock

from harness import __version__
from harness.redaction import redact_body, redact_headers, redact_text
from harness.tls import trust_context

__all__ = [
    "EXTENSION_KEY",
    "INDEX_FILENAME",
    "NO_CASE",
    "EvidenceRecorder",
    "Exchange",
    "RecordingTransport",
    "active_recorder",
    "case_filename",
    "current_case",
    "module_filename",
    "pack",
    "read_evidence",
    "set_active_recorder",
    "use_recorder",
]

_log = logging.getLogger(__name__)

#: Case name for exchanges made outside any ``recorder.case()`` block (session set-up, for instance).
NO_CASE: Final = "(no case)"
INDEX_FILENAME: Final = "index.json"
INDEX_FORMAT: Final = "paycert-evidence-index/1"
PACKED_INDEX_FORMAT: Final = "paycert-evidence-index/2"
SPOOL_SUFFIX: Final = ".spool.jsonl"
PACKED_SUFFIX: Final = ".har.gz"
_SPOOL_IDS = itertools.count()
#: Key in ``httpx.Request.extensions`` under which a client passes {"operation": str, "attempt": int}.
EXTENSION_KEY: Final = "paycert"
_CREATOR: Final = {"name": "paycert", "version": __version__}
_DEFAULT_MAX_BODY: Final = 256 * 1024

_CURRENT_CASE: ContextVar[str | None] = ContextVar("paycert_evidence_case", default=None)


def current_case() -> str | None:
    """The case named by the innermost ``recorder.case()`` block in this context, if any."""
    return _CURRENT_CASE.get()


def case_filename(case: str) -> str:
    """The HAR file name for a case: readable, filesystem-safe, and unique through a hash of the full name.

    Public so the report can link a test to its evidence without reading the index.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", case).strip("._")[:80] or "case"
    digest = hashlib.sha256(case.encode("utf-8")).hexdigest()[:10]
    return f"{slug}-{digest}.har"


def module_filename(case: str) -> str:
    """The packed HAR file of the test module a case belongs to (the node id's part before ``::``)."""
    module = case.split("::", 1)[0]
    return case_filename(module).removesuffix(".har") + PACKED_SUFFIX


@dataclass(frozen=True)
class Exchange:
    """One request and its outcome, already redacted; status 0 and `error` set when no response came."""

    case: str
    started: datetime
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: str | None
    request_body_size: int
    request_mime: str
    status: int
    reason: str
    http_version: str
    response_headers: tuple[tuple[str, str], ...]
    response_body: str | None
    response_body_size: int
    response_mime: str
    wait_ms: float
    receive_ms: float
    error: str | None = None
    operation: str | None = None
    attempt: int | None = None

    def to_har_entry(self, pageref: str | None = None) -> dict[str, Any]:
        """This exchange as a HAR 1.2 entry; paycert's own fields start with `_`, as HAR allows."""
        request: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "httpVersion": self.http_version,
            "cookies": [],
            "headers": [{"name": n, "value": v} for n, v in self.request_headers],
            "queryString": [{"name": n, "value": v} for n, v in parse_qsl(urlsplit(self.url).query, True)],
            "headersSize": -1,
            "bodySize": self.request_body_size,
        }
        if self.request_body is not None:
            request["postData"] = {"mimeType": self.request_mime, "text": self.request_body}
        content: dict[str, Any] = {"size": self.response_body_size, "mimeType": self.response_mime}
        if self.response_body is not None:
            content["text"] = self.response_body
        entry: dict[str, Any] = {
            "startedDateTime": self.started.isoformat(timespec="milliseconds"),
            "time": round(self.wait_ms + self.receive_ms, 3),
            "request": request,
            "response": {
                "status": self.status,
                "statusText": self.reason,
                "httpVersion": self.http_version,
                "cookies": [],
                "headers": [{"name": n, "value": v} for n, v in self.response_headers],
                "content": content,
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": self.response_body_size if self.status else -1,
            },
            "cache": {},
            "timings": {
                "blocked": -1,
                "dns": -1,
                "connect": -1,
                "ssl": -1,
                "send": 0,
                "wait": round(self.wait_ms, 3),
                "receive": round(self.receive_ms, 3),
            },
            "_case": self.case,
        }
        if pageref is not None:
            entry["pageref"] = pageref
        if self.operation is not None:
            entry["_operation"] = self.operation
        if self.attempt is not None:
            entry["_attempt"] = self.attempt
        if self.error is not None:
            entry["_error"] = self.error
        return entry


def _mime(headers: Iterable[tuple[str, str]], default: str) -> str:
    for name, value in headers:
        if name.lower() == "content-type":
            return value
    return default


@dataclass
class _CaseLog:
    exchanges: list[Exchange] = field(default_factory=list)


class EvidenceRecorder:
    """Collects redacted exchanges per case and writes them as HAR files plus an index.

    `secrets` are redacted from everything recorded (clients add their own credentials per call as well);
    `known_pans` are PANs to mask even where Luhn would not flag them, typically the catalog's test cards.
    With `directory` set, each case is written out when its ``case()`` block ends, so a long run does not hold
    all its evidence in memory and a crash loses at most the case in progress.
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        secrets: Iterable[str] = (),
        known_pans: Iterable[str] = (),
        max_body_chars: int = _DEFAULT_MAX_BODY,
    ) -> None:
        if max_body_chars < 0:
            raise ValueError(f"max_body_chars must be >= 0, got {max_body_chars}")
        self.directory = Path(directory) if directory is not None else None
        self.max_body_chars = max_body_chars
        self._secrets: set[str] = {s for s in secrets if isinstance(s, str) and s}
        self._known_pans: tuple[str, ...] = tuple(known_pans)
        self._lock = threading.RLock()
        self._cases: dict[str, _CaseLog] = {}
        self._last_spooled: dict[str, list[Exchange]] = {}
        self._open_cases: list[str] = []
        self._spool_name = f"{os.getpid()}-{next(_SPOOL_IDS)}{SPOOL_SUFFIX}"

    def add_secrets(self, *secrets: str) -> None:
        """Register more values to redact everywhere from now on (empty strings are ignored)."""
        with self._lock:
            self._secrets.update(s for s in secrets if isinstance(s, str) and s)

    @contextlib.contextmanager
    def case(self, case: str) -> Iterator[str]:
        """Attribute the exchanges made inside the block to `case` (a pytest node id, typically)."""
        if not isinstance(case, str) or not case:
            raise ValueError("case must be a non-empty string, such as a pytest node id")
        token = _CURRENT_CASE.set(case)
        with self._lock:
            self._open_cases.append(case)
        try:
            yield case
        finally:
            _CURRENT_CASE.reset(token)
            with self._lock:
                # Remove the last occurrence: blocks may end out of order across threads.
                for index in range(len(self._open_cases) - 1, -1, -1):
                    if self._open_cases[index] == case:
                        del self._open_cases[index]
                        break
            if self.directory is not None:
                self.spool(self.directory, cases=[case])

    def _case_for_record(self) -> str:
        name = _CURRENT_CASE.get()
        if name is not None:
            return name
        with self._lock:
            return self._open_cases[-1] if self._open_cases else NO_CASE

    def _clip(self, text: str | None) -> str | None:
        if text is None or len(text) <= self.max_body_chars:
            return text
        return text[: self.max_body_chars] + f"... [truncated, {len(text)} characters in all]"

    def record(
        self,
        *,
        method: str,
        url: str,
        request_headers: Mapping[str, str] | Iterable[tuple[str, str]],
        request_body: bytes | str | None,
        status: int,
        response_headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        response_body: bytes | str | None = None,
        started: datetime | None = None,
        wait_ms: float = 0.0,
        receive_ms: float = 0.0,
        reason: str = "",
        http_version: str = "HTTP/1.1",
        error: str | None = None,
        operation: str | None = None,
        attempt: int | None = None,
        secrets: Iterable[str] = (),
    ) -> Exchange:
        """Redact one exchange and keep it; returns what was kept. Status 0 means no response was received.

        Redaction happens before truncation, so a PAN cut in half by the size limit is still masked.
        """
        with self._lock:
            all_secrets = tuple(self._secrets.union(s for s in secrets if isinstance(s, str) and s))
        pans = self._known_pans
        req_headers = tuple(redact_headers(request_headers, all_secrets, known_pans=pans))
        resp_headers = tuple(redact_headers(response_headers, all_secrets, known_pans=pans))
        req_mime = _mime(req_headers, "application/octet-stream")
        resp_mime = _mime(resp_headers, "application/octet-stream" if response_body else "")
        exchange = Exchange(
            case=self._case_for_record(),
            started=started or datetime.now(UTC),
            method=method,
            url=redact_text(url, all_secrets, known_pans=pans),
            request_headers=req_headers,
            request_body=self._clip(redact_body(request_body, req_mime, all_secrets, known_pans=pans) or None),
            request_body_size=len(request_body.encode() if isinstance(request_body, str) else request_body or b""),
            request_mime=req_mime,
            status=status,
            reason=reason,
            http_version=http_version,
            response_headers=resp_headers,
            response_body=self._clip(redact_body(response_body, resp_mime, all_secrets, known_pans=pans)),
            response_body_size=len(response_body.encode() if isinstance(response_body, str) else response_body or b""),
            response_mime=resp_mime,
            wait_ms=max(0.0, wait_ms),
            receive_ms=max(0.0, receive_ms),
            error=redact_text(error, all_secrets, known_pans=pans) if error is not None else None,
            operation=operation,
            attempt=attempt,
        )
        with self._lock:
            self._cases.setdefault(exchange.case, _CaseLog()).exchanges.append(exchange)
        return exchange

    def cases(self) -> list[str]:
        """Cases with exchanges not yet written, in the order they were first seen."""
        with self._lock:
            return [name for name, log in self._cases.items() if log.exchanges]

    def exchanges(self, case: str | None = None) -> list[Exchange]:
        """Exchanges not yet written, of one case or of all cases."""
        with self._lock:
            if case is not None:
                log = self._cases.get(case)
                return list(log.exchanges) if log else []
            return [ex for log in self._cases.values() for ex in log.exchanges]

    def har(self, case: str) -> dict[str, Any]:
        """The HAR 1.2 document of one case's pending exchanges (one page per case)."""
        return _har_document(case, self.exchanges(case))

    def write(self, directory: str | Path | None = None, *, cases: Iterable[str] | None = None) -> Path:
        """Write pending exchanges (all cases, or the named ones) and merge the index; returns the index path.

        Written exchanges are dropped from memory. A case that already has a file (a rerun, or a second
        write) gets its new entries appended, so nothing recorded is lost.
        """
        target = Path(directory) if directory is not None else self.directory
        if target is None:
            raise ValueError("no evidence directory: pass one to write() or to EvidenceRecorder(directory=...)")
        target.mkdir(parents=True, exist_ok=True)
        with self._lock:
            names = list(cases) if cases is not None else list(self._cases)
            batches = {name: self._cases.pop(name).exchanges for name in names if name in self._cases}
            self._last_spooled = batches
        index_path = target / INDEX_FILENAME
        with FileLock(str(target / (INDEX_FILENAME + ".lock")), timeout=60):
            index = _read_index(index_path)
            for name, exchanges in batches.items():
                if not exchanges:
                    continue
                filename = case_filename(name)
                document = _har_document(name, exchanges)
                har_path = target / filename
                if har_path.exists():
                    with contextlib.suppress(ValueError, OSError, KeyError, TypeError):
                        previous = json.loads(har_path.read_text(encoding="utf-8"))
                        document["log"]["entries"] = previous["log"]["entries"] + document["log"]["entries"]
                        document["log"]["pages"] = previous["log"]["pages"]
                _atomic_write(har_path, document)
                index[name] = {"case": name, "file": filename, "entries": len(document["log"]["entries"])}
            _atomic_write(index_path, {"format": INDEX_FORMAT, "cases": [index[name] for name in sorted(index)]})
        return index_path


    def last_spooled(self, case: str, limit: int | None = None) -> dict[str, Any] | None:
        """The HAR document of `case` if the last spool wrote it (a test's exchanges, just after it ended: what
        Allure attaches to a test that did not pass), its first `limit` exchanges when given, else None."""
        with self._lock:
            exchanges = self._last_spooled.get(case)
        if not exchanges:
            return None
        document = _har_document(case, exchanges[:limit])
        if limit is not None and len(exchanges) > limit:
            document["log"]["comment"] = (f"the first {limit} of {len(exchanges)} exchanges; every one is in "
                                          f"evidence/{module_filename(case)}")
        return document

    def spool(self, directory: str | Path | None = None, *, cases: Iterable[str] | None = None) -> Path:
        """Append pending cases to this recorder's spool file in `directory` (one JSON line per case)."""
        target = Path(directory) if directory is not None else self.directory
        if target is None:
            raise ValueError("no evidence directory: pass one to spool() or to EvidenceRecorder(directory=...)")
        target.mkdir(parents=True, exist_ok=True)
        path = target / self._spool_name
        with self._lock:
            names = list(cases) if cases is not None else list(self._cases)
            batches = {name: self._cases.pop(name).exchanges for name in names if name in self._cases}
            self._last_spooled = batches
            lines = [json.dumps({"case": name, "entries": [ex.to_har_entry() for ex in exchanges]},
                                ensure_ascii=False, separators=(",", ":")) + "\n"
                     for name, exchanges in batches.items() if exchanges]
            if lines:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write("".join(lines))
                    handle.flush()
        return path


def _spooled(path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(case, entries) per complete line of a spool file; a torn last line (a crash) is skipped."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                row = json.loads(line)
                yield str(row["case"]), list(row["entries"])
            except (ValueError, KeyError, TypeError):
                continue


def _packed_entries(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Entries per case of a packed module HAR (by `_case`, else by the page title)."""
    document = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    titles = {page.get("id"): page.get("title") for page in document["log"].get("pages", []) if isinstance(page, dict)}
    cases: dict[str, list[dict[str, Any]]] = {}
    for entry in document["log"]["entries"]:
        if isinstance(entry, dict):
            case = entry.get("_case") or titles.get(entry.get("pageref")) or NO_CASE
            cases.setdefault(str(case), []).append(entry)
    return cases


def _module_document(cases: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    pages: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for number, (case, rows) in enumerate(sorted(cases.items())):
        page_id = f"page_{number}"
        pages.append({"startedDateTime": rows[0].get("startedDateTime", datetime.now(UTC).isoformat()) if rows
                      else datetime.now(UTC).isoformat(), "id": page_id, "title": case, "pageTimings": {}})
        entries.extend({**row, "pageref": page_id} for row in rows)
    return {"log": {"version": "1.2", "creator": dict(_CREATOR), "pages": pages, "entries": entries}}


def pack(directory: str | Path) -> Path | None:
    """Fold every spool in `directory` into one gzip'd HAR per test module and rewrite ``index.json``.

    Safe to call again (cases already packed are kept, new ones appended) and from several processes (a file
    lock). Returns the index path, or None when there is no directory.
    """
    target = Path(directory)
    if not target.is_dir():
        return None
    with FileLock(str(target / (INDEX_FILENAME + ".lock")), timeout=120):
        spools = sorted(target.glob("*" + SPOOL_SUFFIX))
        modules: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for spool in spools:
            for case, entries in _spooled(spool):
                modules.setdefault(module_filename(case), {}).setdefault(case, []).extend(entries)
        for filename, cases in modules.items():
            path = target / filename
            if path.is_file():
                try:
                    previous = _packed_entries(path)
                except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
                    _log.warning("evidence file %s unreadable (%s); keeping it aside", path, type(exc).__name__)
                    path.replace(path.with_name(path.name + ".unreadable"))
                    previous = {}
                for case, entries in cases.items():
                    previous.setdefault(case, []).extend(entries)
                cases = previous
            data = json.dumps(_module_document(cases), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
            tmp.replace(path)
        index = _read_index(target / INDEX_FILENAME)
        for packed in sorted(target.glob("*" + PACKED_SUFFIX)):
            try:
                cases = _packed_entries(packed) if packed.name not in modules else modules[packed.name]
            except (OSError, ValueError, KeyError, TypeError, EOFError):
                continue
            for number, case in enumerate(sorted(cases)):
                index[case] = {"case": case, "file": packed.name, "page": f"page_{number}",
                               "entries": len(cases[case])}
        if modules or index:
            _atomic_write(target / INDEX_FILENAME,
                          {"format": PACKED_INDEX_FORMAT, "cases": [index[name] for name in sorted(index)]})
        for spool in spools:
            spool.unlink(missing_ok=True)
    return target / INDEX_FILENAME


def read_evidence(directory: str | Path) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Every case's HAR entries in an evidence directory: case -> (file, entries).

    Reads packed module files, spools not packed yet (a run that ended early) and loose per-case HAR files
    alike. Raises nothing for a bad file: it is skipped and named in the second return value of
    ``read_evidence_with_problems``.
    """
    return read_evidence_with_problems(directory)[0]


def read_evidence_with_problems(
    directory: str | Path,
) -> tuple[dict[str, tuple[str, list[dict[str, Any]]]], list[str]]:
    target = Path(directory)
    found: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    problems: list[str] = []

    def add(case: str, file: str, entries: list[dict[str, Any]]) -> None:
        if case in found:
            found[case][1].extend(entries)
        else:
            found[case] = (file, list(entries))

    if not target.is_dir():
        return found, problems
    for path in sorted(target.iterdir()):
        if not path.is_file():
            continue
        try:
            if path.name.endswith(PACKED_SUFFIX):
                for case, entries in _packed_entries(path).items():
                    add(case, path.name, entries)
            elif path.name.endswith(SPOOL_SUFFIX):
                for case, entries in _spooled(path):
                    add(case, path.name, entries)
            elif path.suffix == ".har":
                document = json.loads(path.read_text(encoding="utf-8"))
                title = (document["log"].get("pages") or [{}])[0].get("title")
                for entry in document["log"]["entries"]:
                    if isinstance(entry, dict):
                        add(str(entry.get("_case") or title or NO_CASE), path.name, [entry])
        except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError) as exc:
            problems.append(f"evidence file {path.name} unreadable ({type(exc).__name__})")
    return found, problems


def _har_document(case: str, exchanges: list[Exchange]) -> dict[str, Any]:
    started = exchanges[0].started if exchanges else datetime.now(UTC)
    page_id = "case"
    return {
        "log": {
            "version": "1.2",
            "creator": dict(_CREATOR),
            "pages": [
                {
                    "startedDateTime": started.isoformat(timespec="milliseconds"),
                    "id": page_id,
                    "title": case,
                    "pageTimings": {},
                }
            ],
            "entries": [exchange.to_har_entry(page_id) for exchange in exchanges],
        }
    }


def _read_index(path: Path) -> dict[str, dict[str, Any]]:
    """The index as {case: row}; an unreadable index is rebuilt rather than failing the run (and logged)."""
    if not path.exists():
        return {}
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["cases"]
        return {row["case"]: row for row in rows}
    except (ValueError, KeyError, TypeError) as exc:
        _log.warning("evidence index %s is unreadable (%s); starting a new one", path, type(exc).__name__)
        return {}


def _atomic_write(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)


_active: EvidenceRecorder | None = None
_active_lock = threading.Lock()


def active_recorder() -> EvidenceRecorder | None:
    """The process-wide recorder clients record to, or None when evidence is off."""
    return _active


def set_active_recorder(recorder: EvidenceRecorder | None) -> EvidenceRecorder | None:
    """Install `recorder` (None turns recording off) and return the previous one, so callers can restore it."""
    global _active
    with _active_lock:
        previous, _active = _active, recorder
    return previous


@contextlib.contextmanager
def use_recorder(recorder: EvidenceRecorder | None) -> Iterator[EvidenceRecorder | None]:
    """Make `recorder` the active one inside the block, restoring the previous one after."""
    previous = set_active_recorder(recorder)
    try:
        yield recorder
    finally:
        set_active_recorder(previous)


class RecordingTransport(httpx.BaseTransport):
    """An httpx transport wrapper that records every request it carries to the evidence recorder.

    Why a transport and not event hooks: the transport also sees requests that end in a transport error
    (connection refused, timeout), which is evidence an infrastructure failure needs. Each retry attempt is a
    separate request here, so each is its own HAR entry. `recorder` None means "the active one at call time".
    When no recorder is active the wrapper passes requests straight through and reads nothing.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        secrets: Iterable[str] = (),
        recorder: EvidenceRecorder | None = None,
    ) -> None:
        self._inner = inner if inner is not None else httpx.HTTPTransport(verify=trust_context())
        self._secrets = tuple(s for s in secrets if isinstance(s, str) and s)
        self._recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the inner transport, then record the redacted exchange (never failing the request)."""
        info = request.extensions.pop(EXTENSION_KEY, None)
        recorder = self._recorder or active_recorder()
        if recorder is None:
            return self._inner.handle_request(request)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
        except Exception as exc:
            self._record(recorder, request, None, None, started, (time.perf_counter() - t0) * 1000, 0.0, exc, info)
            raise
        t1 = time.perf_counter()
        try:
            body = response.content  # already in memory (e.g. httpx.MockTransport)
            returned = response
        except httpx.ResponseNotRead:
            try:
                raw = b"".join(response.iter_raw())
            except Exception as exc:
                response.close()
                self._record(recorder, request, None, None, started, (t1 - t0) * 1000, 0.0, exc, info)
                raise
            response.close()
            returned = httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=httpx.ByteStream(raw),
                extensions=response.extensions,
                request=request,
            )
            decoded = httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(raw))
            try:
                body = decoded.read()
            except httpx.DecodingError:
                body = raw
        t2 = time.perf_counter()
        self._record(recorder, request, returned, body, started, (t1 - t0) * 1000, (t2 - t1) * 1000, None, info)
        return returned

    def _record(
        self,
        recorder: EvidenceRecorder,
        request: httpx.Request,
        response: httpx.Response | None,
        body: bytes | None,
        started: datetime,
        wait_ms: float,
        receive_ms: float,
        error: BaseException | None,
        info: Any,
    ) -> None:
        try:
            try:
                request_body: bytes | None = request.content
            except httpx.RequestNotRead:
                request_body = None
            operation = info.get("operation") if isinstance(info, dict) else None
            attempt = info.get("attempt") if isinstance(info, dict) else None
            recorder.record(
                method=request.method,
                url=str(request.url),
                request_headers=request.headers,
                request_body=request_body or None,
                status=response.status_code if response is not None else 0,
                response_headers=response.headers if response is not None else (),
                response_body=body,
                started=started,
                wait_ms=wait_ms,
                receive_ms=receive_ms,
                reason=response.reason_phrase if response is not None else "",
                http_version=response.http_version if response is not None else "HTTP/1.1",
                error=f"{type(error).__name__}: {error}" if error is not None else None,
                operation=operation if isinstance(operation, str) else None,
                attempt=attempt if isinstance(attempt, int) else None,
                secrets=self._secrets,
            )
        except Exception as exc:  # evidence must never break the exchange it describes
            _log.warning("could not record evidence for %s request: %s", request.method, type(exc).__name__)

    def close(self) -> None:
        """Close the inner transport (its connection pool)."""
        self._inner.close()
