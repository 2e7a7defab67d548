"""The go-live gate: from test records to an outcome per requirement, a gate status, and one verdict.

Pure functions over plain data, so every rule is unit-tested without running a suite. The rules are also kept
as text (``RULES``) and written into every report, so a reader sees the rules the verdict was made by.

Outcome of a requirement, from the records of the tests that name it (strongest first):

    failed          a test failed on a contract check (or an advisory check, or an xfail-marked test)
    infrastructure  a test failed because the target did not answer properly (5xx, 429, timeout)
    skipped         a test was skipped for a reason other than "not verifiable on this target"
    passed          at least one test ran and every test that ran passed (tests not verifiable on this target
                    are listed with it: the simulator run proves them)
    not_verifiable  no test could run: each needs the simulator's control interface and the target has none
    untested        no test names the requirement

Gate status of a requirement: passed, blocking, warning, not_verifiable (excused, listed, never passed) or
waived. The verdict is "ready" only when nothing blocks and the run itself is sound (see RULES).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from harness.catalog import Requirement
from harness.report.results import TestRecord
from harness.report.waivers import Waiver


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INFRASTRUCTURE = "infrastructure"
    SKIPPED = "skipped"
    NOT_VERIFIABLE = "not_verifiable"
    UNTESTED = "untested"


class Gate(StrEnum):
    PASSED = "passed"
    BLOCKING = "blocking"
    WARNING = "warning"
    NOT_VERIFIABLE = "not_verifiable"
    WAIVED = "waived"


class WaiverStatus(StrEnum):
    APPLIED = "applied"  # active and covering a requirement that would otherwise block or warn
    NOT_NEEDED = "not_needed"  # active, but the requirement passed (or is excused): flagged for removal
    EXPIRED = "expired"  # past its expiry date: ignored
    OUT_OF_SCOPE = "out_of_scope"  # names a requirement of an API this run did not certify


RULES: Final[tuple[str, ...]] = (
    "A requirement passes when at least one of its tests ran and every test that ran passed; its tests that are "
    "not verifiable on this target (they need the simulator's control interface) are counted beside it, and the "
    "simulator run proves them.",
    "Outcome precedence over a requirement's tests: contract failure > infrastructure failure > skipped > "
    "passed > not verifiable; a requirement no test names is untested.",
    "A requirement no test names blocks go-live, whatever its weight: the catalog row has no evidence.",
    "A mandatory requirement that failed, failed on infrastructure, or was skipped blocks go-live. "
    "Infrastructure failures are listed apart from contract failures: nothing was proven, a rerun may help.",
    "A requirement none of whose tests could run on this target ('not verifiable') is never counted as passed. "
    "It is listed as not verifiable and does not block when the catalog marks it simulator-only, or when an "
    "optional setting the run lacks would make it verifiable (named, e.g. PAYCERT_POSTBACK_URL for postbacks); "
    "otherwise a mandatory one blocks (the suite cannot prove on this target what the catalog says is provable "
    "there).",
    "An advisory requirement that is not met (failed, infrastructure, skipped, not verifiable) is a warning.",
    "An active waiver (expiry date on or after the run's start date, UTC) turns a blocking or warning "
    "requirement into 'waived'; an expired waiver is ignored and listed as expired; a waiver whose requirement "
    "passed (or is excused as not verifiable) is flagged as no longer needed.",
    "A suite test that names no requirement proves nothing and is listed; if it failed, the verdict is not "
    "ready (the target or the harness misbehaved where no catalog row looks).",
    "The verdict is 'ready' only when no requirement blocks, no suite test failed, the suites ran to completion "
    "(pytest exit code 0 or 1, no collection errors) and the leak audit found no card number or secret in any "
    "artefact.",
)


@dataclass(frozen=True)
class Judgement:
    """One requirement's outcome and gate status, with the reason in words and the tests behind it."""

    requirement: Requirement
    outcome: Outcome
    gate: Gate
    reason: str
    tests: tuple[str, ...]
    waiver: Waiver | None = None
    waiver_status: WaiverStatus | None = None


@dataclass(frozen=True)
class WaiverUse:
    waiver: Waiver
    status: WaiverStatus
    note: str


@dataclass(frozen=True)
class Verdict:
    ready: bool
    summary: str
    reasons: tuple[str, ...]

    @property
    def status(self) -> str:
        return "ready" if self.ready else "not_ready"


@dataclass(frozen=True)
class Decision:
    judgements: tuple[Judgement, ...]
    waivers: tuple[WaiverUse, ...]
    verdict: Verdict
    unmapped_tests: tuple[str, ...] = field(default_factory=tuple)
    unmapped_failures: tuple[str, ...] = field(default_factory=tuple)

    def ids(self, *gates: Gate) -> list[str]:
        return [j.requirement.id for j in self.judgements if j.gate in gates]

    def ids_by_outcome(self, *outcomes: Outcome, gates: Iterable[Gate] = (Gate.BLOCKING,)) -> list[str]:
        wanted = set(gates)
        return [j.requirement.id for j in self.judgements if j.outcome in outcomes and j.gate in wanted]


def record_outcome(record: TestRecord) -> Outcome:
    """What one test record says about its requirements."""
    if record.failed:
        return Outcome.INFRASTRUCTURE if record.classification == "infrastructure" else Outcome.FAILED
    if record.outcome in ("advisory", "xfailed"):
        return Outcome.FAILED
    if record.outcome == "not_verifiable":
        return Outcome.NOT_VERIFIABLE
    if record.outcome == "skipped":
        return Outcome.SKIPPED
    return Outcome.PASSED


_PRECEDENCE: Final = (Outcome.FAILED, Outcome.INFRASTRUCTURE, Outcome.SKIPPED, Outcome.PASSED,
                      Outcome.NOT_VERIFIABLE)


def requirement_outcome(records: Sequence[TestRecord]) -> Outcome:
    """The requirement's outcome from its tests' records (see the module docstring for the precedence)."""
    if not records:
        return Outcome.UNTESTED
    found = {record_outcome(r) for r in records}
    return next(o for o in _PRECEDENCE if o in found)


def _gate(req: Requirement, outcome: Outcome, settings: Sequence[str] = ()) -> tuple[Gate, str]:
    mandatory = req.weight.value == "mandatory"
    if outcome is Outcome.PASSED:
        return Gate.PASSED, "every test passed"
    if outcome is Outcome.UNTESTED:
        return Gate.BLOCKING, "no test names this requirement"
    if outcome is Outcome.NOT_VERIFIABLE and req.simulator_only:
        return Gate.NOT_VERIFIABLE, "not verifiable on this target (simulator-only by catalog)"
    if outcome is Outcome.NOT_VERIFIABLE and settings:
        return Gate.NOT_VERIFIABLE, f"not verifiable with this run's settings: set {', '.join(settings)} to verify it"
    what = {
        Outcome.FAILED: "a test failed",
        Outcome.INFRASTRUCTURE: "a test failed on infrastructure (target error, rate limit or timeout)",
        Outcome.SKIPPED: "a test was skipped",
        Outcome.NOT_VERIFIABLE: "not verifiable on this target, but the catalog says a sandbox can verify it",
    }[outcome]
    if mandatory:
        return Gate.BLOCKING, what
    return Gate.WARNING, f"advisory: {what}"


def judge(
    req: Requirement, records: Sequence[TestRecord], waiver: Waiver | None, run_day: dt.date
) -> tuple[Judgement, WaiverUse | None]:
    """Outcome, gate and waiver effect for one requirement."""
    outcome = requirement_outcome(records)
    settings = sorted({r.needs_setting for r in records if r.needs_setting and record_outcome(r) is
                       Outcome.NOT_VERIFIABLE})
    gate, reason = _gate(req, outcome, settings)
    unverifiable = sum(1 for r in records if record_outcome(r) is Outcome.NOT_VERIFIABLE)
    if outcome is Outcome.PASSED and unverifiable:
        reason = (f"every test that ran passed; {_plural(unverifiable, 'test')} not verifiable on this target "
                  "(the simulator run proves them)")
    tests = tuple(r.nodeid for r in records)
    if waiver is None:
        return Judgement(req, outcome, gate, reason, tests), None
    if not waiver.active_on(run_day):
        use = WaiverUse(waiver, WaiverStatus.EXPIRED, f"expired on {waiver.expiry.isoformat()}; ignored")
        if gate in (Gate.BLOCKING, Gate.WARNING):
            reason = f"{reason}; waiver expired on {waiver.expiry.isoformat()}"
    elif gate in (Gate.BLOCKING, Gate.WARNING):
        use = WaiverUse(waiver, WaiverStatus.APPLIED, f"waives: {reason}")
        reason = f"waived by {waiver.owner} until {waiver.expiry.isoformat()}: {reason}"
        gate = Gate.WAIVED
    else:
        why = "the requirement passed" if gate is Gate.PASSED else "the requirement is excused as not verifiable"
        use = WaiverUse(waiver, WaiverStatus.NOT_NEEDED, f"no longer needed: {why}")
        reason = f"{reason}; waiver no longer needed"
    return Judgement(req, outcome, gate, reason, tests, waiver, use.status), use


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def decide(
    requirements: Sequence[Requirement],
    records: Sequence[TestRecord],
    waivers: Sequence[Waiver] = (),
    *,
    run_day: dt.date,
    run_problems: Sequence[str] = (),
    leak_findings: int = 0,
) -> Decision:
    """Judge every requirement in scope and reach the verdict.

    `run_problems` are reasons the run itself is unsound (pytest crashed, collection errors); `leak_findings`
    counts leak-audit hits. Both make the verdict "not ready" whatever the requirements say.
    """
    by_req: dict[str, list[TestRecord]] = {r.id: [] for r in requirements}
    unmapped: list[str] = []
    for record in records:
        if not record.requirements:
            unmapped.append(record.nodeid)
        for rid in record.requirements:
            if rid in by_req:
                by_req[rid].append(record)
    waiver_for = {w.requirement: w for w in waivers}
    judgements: list[Judgement] = []
    uses: list[WaiverUse] = []
    for req in requirements:
        judgement, use = judge(req, by_req[req.id], waiver_for.get(req.id), run_day)
        judgements.append(judgement)
        if use is not None:
            uses.append(use)
    in_scope = set(by_req)
    for waiver in waivers:
        if waiver.requirement not in in_scope:
            uses.append(WaiverUse(waiver, WaiverStatus.OUT_OF_SCOPE, "requirement not in this run's APIs"))

    unmapped_failed = [r.nodeid for r in records if not r.requirements and r.failed]
    problems = list(run_problems)
    if unmapped_failed:
        problems.append(f"{_plural(len(unmapped_failed), 'suite test')} naming no requirement failed")
    return Decision(tuple(judgements), tuple(uses), _verdict(judgements, problems, leak_findings),
                    tuple(unmapped), tuple(unmapped_failed))


def _blocking(judgements: Sequence[Judgement], outcome: Outcome) -> list[str]:
    return [j.requirement.id for j in judgements if j.outcome is outcome and j.gate is Gate.BLOCKING]


def _verdict(judgements: Sequence[Judgement], run_problems: Sequence[str], leak_findings: int) -> Verdict:
    contract = _blocking(judgements, Outcome.FAILED)
    infra = _blocking(judgements, Outcome.INFRASTRUCTURE)
    untested = _blocking(judgements, Outcome.UNTESTED)
    skipped = _blocking(judgements, Outcome.SKIPPED)
    unverifiable = _blocking(judgements, Outcome.NOT_VERIFIABLE)
    reasons: list[str] = []
    if contract:
        reasons.append(f"{_plural(len(contract), 'requirement')} failed a contract check")
    if infra:
        reasons.append(f"{_plural(len(infra), 'requirement')} failed on infrastructure (rerun may help)")
    if untested:
        reasons.append(f"{_plural(len(untested), 'requirement')} without a test")
    if skipped:
        reasons.append(f"{_plural(len(skipped), 'mandatory requirement')} skipped")
    if unverifiable:
        reasons.append(f"{_plural(len(unverifiable), 'requirement')} not verifiable on this target "
                       "although the catalog says they are")
    reasons.extend(run_problems)
    if leak_findings:
        reasons.append(f"the leak audit found {_plural(leak_findings, 'card number or secret')} in the artefacts")
    if not judgements:
        reasons.append("no requirement is in scope")
    total = len(judgements)
    passed = sum(j.gate is Gate.PASSED for j in judgements)
    notes = []
    for gate, word in ((Gate.WAIVED, "waived"), (Gate.NOT_VERIFIABLE, "not verifiable"), (Gate.WARNING, "warning")):
        n = sum(j.gate is gate for j in judgements)
        if n:
            notes.append(f"{n} {word}" if word != "warning" else _plural(n, "warning"))
    tail = f" ({', '.join(notes)})" if notes else ""
    if reasons:
        return Verdict(False, f"NOT READY for go-live: {'; '.join(reasons)}.", tuple(reasons))
    return Verdict(True, f"READY for go-live: {passed}/{total} requirements passed{tail}.", ())
