"""The certification report as one JSON-ready document, built from the catalog, the results and the evidence.

report.json is this document; report.html, `paycert report`, `paycert diff` and the package all read it, so the
machine and the human views cannot disagree. Its shape is pinned by report.schema.json (next to this module),
and every document is validated against the schema before it is written.

Order of `requirements`: blocking first (mandatory before advisory; contract failures, then infrastructure,
untested, skipped, not verifiable), then warnings, waived, not verifiable, passed; catalog order within a group.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from harness import __version__
from harness.catalog import Requirement
from harness.redaction import redact_text
from harness.report.boundaries import boundary_coverage
from harness.report.errors import ReportError
from harness.report.evidence_view import EvidenceReader
from harness.report.metadata import certificate_expiry, iso
from harness.report.results import TestRecord
from harness.report.verdict import RULES, Decision, Gate, Judgement, Outcome, decide
from harness.report.waivers import Waiver

FORMAT: Final = "paycert-report/1"
SCHEMA_PATH: Final = Path(__file__).with_name("report.schema.json")

#: How each kind of requirement is named in the coverage table ("27/27 test cards").
AREA_LABELS: Final = {
    "state": "payment states",
    "card": "test cards",
    "email": "test emails",
    "token": "test tokens",
    "error": "error rows",
    "decline": "decline reasons",
    "transition": "state transitions",
    "rate-limit": "rate limits",
    "rule": "rules",
}
_GATE_ORDER: Final = {Gate.BLOCKING: 0, Gate.WARNING: 1, Gate.WAIVED: 2, Gate.NOT_VERIFIABLE: 3, Gate.PASSED: 4}
_OUTCOME_ORDER: Final = {Outcome.FAILED: 0, Outcome.INFRASTRUCTURE: 1, Outcome.UNTESTED: 2, Outcome.SKIPPED: 3,
                         Outcome.NOT_VERIFIABLE: 4, Outcome.PASSED: 5}
COUNT_KEYS: Final = ("total", "tested", "passed", "failed", "infrastructure", "skipped", "not_verifiable",
                     "untested", "blocking", "warning", "waived")
_MAX_MESSAGE: Final = 4000
#: Exchanges of one test copied into report.json: none for a passed test, the first 5 for one that did not
#: (whose evidence a reader wants first; a contract test's message quotes its failing cases besides). All of
#: them are in its HAR file (`evidence.file`, the page titled with the test's node id) and, compressed, in
#: report.html; copying them into report.json too made it 6-7 MB, and the first 20 of the failing contract
#: tests were still a quarter of it (and, as Allure attachments, a tenth of allure-results).
INLINE_EXCHANGES: Final = 0
INLINE_EXCHANGES_NOT_PASSED: Final = 5


@dataclass(frozen=True)
class RunInfo:
    """What the report says about the run itself; everything here is published (no credentials)."""

    run_id: str
    target: str
    apis: tuple[str, ...]
    started: dt.datetime
    finished: dt.datetime
    operator: str
    base_urls: dict[str, str] = field(default_factory=dict)
    simulator: str | None = None
    catalog: list[dict[str, str]] = field(default_factory=list)
    openapi: list[dict[str, Any]] = field(default_factory=list)
    suites: dict[str, Any] | None = None
    waiver_file: dict[str, str] | None = None
    pytest_exit_code: int | None = None
    workers: int = 0
    collected: int | None = None
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    #: Cases the contract suite generated and checked, per API and kind (its PAYCERT_CONTRACT_STATS file).
    generated_cases: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # other reasons the run cannot certify (e.g. no results file)
    requests: tuple[dict[str, Any], ...] = ()  # per API key: {api, key (sha256 prefix), requests, rate_limited}
    resumed_from: str | None = None  # the interrupted run whose passed tests this run did not repeat
    certificate_days: int = 90
    api_versions: dict[str, dict[str, str | None]] | None = None  # per API: catalog and OpenAPI version
    fixtures: str | None = None  # a fixtures directory other than the shipped one (--fixtures)


@dataclass(frozen=True)
class LeakSection:
    """The leak audit's result as the report shows it (file positions, masked values only)."""

    status: str = "not_run"  # "clean", "leaks_found" or "not_run"
    files_scanned: int = 0
    findings: tuple[dict[str, Any], ...] = ()
    rules: tuple[str, ...] = ()


def area_label(kind: str) -> str:
    return AREA_LABELS.get(kind, f"{kind} requirements")


def run_problems(info: RunInfo) -> list[str]:
    """Reasons the run itself cannot certify anything, whatever the requirements say."""
    problems: list[str] = list(info.problems)
    if info.pytest_exit_code is not None and info.pytest_exit_code not in (0, 1, 5):
        problems.append(f"the suites did not run to completion (pytest exit code {info.pytest_exit_code})")
    if info.collection_errors:
        n = len(info.collection_errors)
        problems.append(f"{n} suite collection error{'s' if n != 1 else ''}")
    return problems


def _sort_key(position: dict[str, int], j: Judgement) -> tuple[int, int, int, int]:
    weight = 0 if j.requirement.weight.value == "mandatory" else 1
    return (_GATE_ORDER[j.gate], weight, _OUTCOME_ORDER[j.outcome], position[j.requirement.id])


def _counts(judgements: Iterable[Judgement]) -> dict[str, int]:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for j in judgements:
        counts["total"] += 1
        counts[j.outcome.value] += 1
        if j.outcome is not Outcome.UNTESTED:
            counts["tested"] += 1
        if j.gate in (Gate.BLOCKING, Gate.WARNING, Gate.WAIVED):
            counts[j.gate.value] += 1
    return counts


def _coverage(judgements: Sequence[Judgement]) -> dict[str, Any]:
    areas: dict[tuple[str, str], list[Judgement]] = {}
    apis: dict[str, list[Judgement]] = {}
    for j in judgements:
        areas.setdefault((j.requirement.api, j.requirement.kind), []).append(j)
        apis.setdefault(j.requirement.api, []).append(j)
    return {
        "areas": [{"api": api, "kind": kind, "label": area_label(kind), **_counts(items)}
                  for (api, kind), items in areas.items()],
        "apis": [{"api": api, **_counts(items)} for api, items in apis.items()],
        "total": _counts(judgements),
    }


def _waiver_json(waiver: Waiver) -> dict[str, str]:
    return {"requirement": waiver.requirement, "owner": waiver.owner, "reason": waiver.reason,
            "expiry": waiver.expiry.isoformat()}


def _requirement_json(j: Judgement, clean_id: Callable[[str], str]) -> dict[str, Any]:
    r = j.requirement
    waiver = None
    if j.waiver is not None and j.waiver_status is not None:
        waiver = {**_waiver_json(j.waiver), "status": j.waiver_status.value}
    return {
        "id": r.id, "api": r.api, "kind": r.kind, "title": r.title, "provenance": r.provenance.value,
        "source": r.source, "weight": r.weight.value, "simulator_only": r.simulator_only,
        "outcome": j.outcome.value, "gate": j.gate.value, "reason": j.reason,
        "tests": [clean_id(t) for t in j.tests],
        "waiver": waiver,
    }


def _run_json(info: RunInfo) -> dict[str, Any]:
    optional: dict[str, Any] = {}
    if info.api_versions is not None:
        optional["api_versions"] = {api: dict(v) for api, v in info.api_versions.items()}
    if info.fixtures is not None:
        optional["fixtures"] = info.fixtures
    return {
        "run_id": info.run_id,
        "target": info.target,
        "apis": list(info.apis),
        "base_urls": dict(info.base_urls),
        "simulator": info.simulator,
        "harness_version": __version__,
        "operator": info.operator,
        "started_at": iso(info.started),
        "finished_at": iso(info.finished),
        "duration_seconds": round((info.finished - info.started).total_seconds(), 3),
        "certificate_expires_at": iso(certificate_expiry(info.finished, info.certificate_days)),
        "catalog": list(info.catalog),
        "openapi": list(info.openapi),
        "suites": info.suites,
        "waiver_file": info.waiver_file,
        "pytest": {"exit_code": info.pytest_exit_code, "workers": info.workers, "collected": info.collected,
                   "collection_errors": list(info.collection_errors),
                   "generated_cases": {api: dict(kinds) for api, kinds in sorted(info.generated_cases.items())}},
        **optional,
        "requests": [dict(r) for r in info.requests],
        "resumed_from": info.resumed_from,
    }


def build_report(
    *,
    info: RunInfo,
    requirements: Sequence[Requirement],
    records: Sequence[TestRecord],
    waivers: Sequence[Waiver] = (),
    evidence: EvidenceReader | None = None,
    leak: LeakSection | None = None,
    secrets: Iterable[str] = (),
    known_pans: Iterable[str] = (),
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report document (see the module docstring and report.schema.json).

    With `baseline` (an earlier run's report), the document also holds the diff against it (`baseline`).
    """
    leak = leak or LeakSection()
    secret_list, pans = tuple(secrets), tuple(known_pans)

    def clean_id(text: str) -> str:
        return redact_text(text, secret_list, known_pans=pans)

    def clean(text: str) -> str:
        return clean_id(text)[-_MAX_MESSAGE:]

    decision: Decision = decide(requirements, records, waivers, run_day=info.started.astimezone(dt.UTC).date(),
                                run_problems=run_problems(info), leak_findings=len(leak.findings))
    position = {r.id: i for i, r in enumerate(requirements)}
    ordered = sorted(decision.judgements, key=lambda j: _sort_key(position, j))
    verdict = decision.verdict

    def ids(gate: Gate, *outcomes: Outcome) -> list[str]:
        return [j.requirement.id for j in ordered if j.gate is gate and (not outcomes or j.outcome in outcomes)]

    tests = []
    for record in records:
        file = evidence.file_for(record.nodeid) if evidence else None
        inline = INLINE_EXCHANGES if record.outcome == "passed" else INLINE_EXCHANGES_NOT_PASSED
        tests.append({
            "nodeid": clean_id(record.nodeid), "outcome": record.outcome, "classification": record.classification,
            "message": clean(record.message), "duration": round(record.duration, 3),
            "requirements": list(record.requirements),
            "evidence": {"file": f"evidence/{file}" if file else None,
                         "count": evidence.count(record.nodeid) if evidence and file else 0,
                         "exchanges": evidence.exchanges(record.nodeid, inline) if evidence and file else []},
        })
    stale = [u.waiver.requirement for u in decision.waivers if u.status.value == "not_needed"]
    expired = [u.waiver.requirement for u in decision.waivers if u.status.value == "expired"]
    document = {
        "format": FORMAT,
        "run": _run_json(info),
        "verdict": {
            "status": verdict.status,
            "ready": verdict.ready,
            "summary": verdict.summary,
            "reasons": list(verdict.reasons),
            "blocking": ids(Gate.BLOCKING),
            "contract_failures": ids(Gate.BLOCKING, Outcome.FAILED),
            "infrastructure_failures": ids(Gate.BLOCKING, Outcome.INFRASTRUCTURE),
            "untested": ids(Gate.BLOCKING, Outcome.UNTESTED),
            "warnings": ids(Gate.WARNING),
            "waived": ids(Gate.WAIVED),
            "not_verifiable": ids(Gate.NOT_VERIFIABLE),
            "stale_waivers": stale,
            "expired_waivers": expired,
            "unmapped_tests": [clean_id(t) for t in decision.unmapped_tests],
            "unmapped_failures": [clean_id(t) for t in decision.unmapped_failures],
            "rules": list(RULES),
        },
        "coverage": _coverage(decision.judgements),
        "requirements": [_requirement_json(j, clean_id) for j in ordered],
        "boundaries": boundary_coverage(position, records),
        "tests": tests,
        "waivers": [{**_waiver_json(u.waiver), "status": u.status.value, "note": u.note} for u in decision.waivers],
        "leak_audit": {"status": leak.status, "files_scanned": leak.files_scanned,
                       "findings": list(leak.findings), "rules": list(leak.rules)},
        "notes": list(evidence.problems) if evidence else [],
    }
    if baseline is not None:
        from harness.report.diff import baseline_section

        document["baseline"] = baseline_section(baseline, document)
    return document


@cache
def report_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def schema_problems(report: Any) -> list[str]:
    """Every way `report` departs from report.schema.json, as "<path>: <message>"."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(report_schema(), format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))]


def load_report(path: Path) -> dict[str, Any]:
    """A report.json checked against the schema; ReportError names the file and the first problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"no such report: {path}") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: not a readable JSON report: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReportError(f"{path}: not a paycert report (expected format {FORMAT})")
    problems = schema_problems(data)
    if problems:
        raise ReportError(f"{path}: does not match report.schema.json: {problems[0]}")
    return data


def dump_report(report: dict[str, Any]) -> str:
    """report.json text; refuses (ReportError) a document the schema rejects, so no bad report is written.

    Compact: indentation was a quarter of its bytes (1.84 -> 1.40 MB in a full run); ``jq .`` indents it."""
    problems = schema_problems(report)
    if problems:
        raise ReportError(f"internal: the report does not match its schema: {problems[0]}")
    return json.dumps(report, separators=(",", ":"), ensure_ascii=False) + "\n"
