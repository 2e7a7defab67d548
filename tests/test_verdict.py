"""The go-live gate's rules, one case each: outcomes from test records, gate statuses, waivers, the verdict.

Requirements are real catalog rows (so weights and simulator-only flags are the catalog's); test records are
synthetic, in the plugin's results format.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from report_support import first, rec, records, reqs

from harness.catalog import Requirement
from harness.report.errors import ReportError
from harness.report.results import load_results, parse_results
from harness.report.verdict import RULES, Gate, Outcome, WaiverStatus, decide, requirement_outcome
from harness.report.waivers import Waiver, load_waivers, parse_waivers

DAY = dt.date(2026, 3, 2)
CARD = "BC-CARD-01"
CARD2 = "BC-CARD-02"


def mandatory() -> Requirement:
    return reqs(CARD)[0]


def advisory() -> Requirement:
    return first(lambda r: r.weight.value == "advisory" and r.api == "bettercharge")


def sim_only() -> Requirement:
    return first(lambda r: r.simulator_only and r.weight.value == "mandatory" and r.api == "bettercharge")


def sandbox_verifiable() -> Requirement:
    return first(lambda r: not r.simulator_only and r.weight.value == "mandatory" and r.kind == "error")


def waiver(requirement: str, expiry: dt.date = dt.date(2026, 12, 31)) -> Waiver:
    return Waiver(requirement=requirement, owner="pay-team@example.com", reason="sandbox bug PAY-1", expiry=expiry)


def one(req: Requirement, *raw: dict, waivers: list[Waiver] | None = None, **kw: object):
    decision = decide([req], records(*raw), waivers or [], run_day=DAY, **kw)  # type: ignore[arg-type]
    return decision, decision.judgements[0]


# ------------------------------------------------------------------ outcome of a requirement


def test_passes_only_when_a_test_ran_and_all_passed() -> None:
    decision, j = one(mandatory(), rec("t1", CARD), rec("t2", CARD))
    assert (j.outcome, j.gate) == (Outcome.PASSED, Gate.PASSED)
    assert j.tests == ("t1", "t2")
    assert decision.verdict.ready and decision.verdict.status == "ready"
    assert "1/1 requirements passed" in decision.verdict.summary


def test_one_skipped_test_keeps_a_requirement_from_passing() -> None:
    decision, j = one(mandatory(), rec("t1", CARD), rec("t2", CARD, outcome="skipped", message="no browser"))
    assert (j.outcome, j.gate) == (Outcome.SKIPPED, Gate.BLOCKING)
    assert not decision.verdict.ready


@pytest.mark.parametrize("weight", ["mandatory", "advisory"])
def test_a_requirement_no_test_names_fails_the_gate_whatever_its_weight(weight: str) -> None:
    req = mandatory() if weight == "mandatory" else advisory()
    decision, j = one(req, rec("other", CARD2))
    assert (j.outcome, j.gate) == (Outcome.UNTESTED, Gate.BLOCKING)
    assert not decision.verdict.ready
    assert any("without a test" in r for r in decision.verdict.reasons)


def test_contract_failure() -> None:
    decision, j = one(mandatory(), rec("t1", CARD), rec("t2", CARD, outcome="failed", classification="contract"))
    assert (j.outcome, j.gate) == (Outcome.FAILED, Gate.BLOCKING)
    assert decision.verdict.reasons == ("1 requirement failed a contract check",)


def test_infrastructure_failure_is_told_apart_from_contract_failure() -> None:
    decision, j = one(mandatory(), rec("t1", CARD, outcome="failed", classification="infrastructure"))
    assert (j.outcome, j.gate) == (Outcome.INFRASTRUCTURE, Gate.BLOCKING)
    assert "infrastructure" in j.reason
    assert decision.verdict.reasons == ("1 requirement failed on infrastructure (rerun may help)",)
    assert not decision.verdict.ready


def test_setup_error_on_infrastructure_counts_as_infrastructure() -> None:
    _, j = one(mandatory(), rec("t1", CARD, outcome="error", classification="infrastructure"))
    assert j.outcome is Outcome.INFRASTRUCTURE


def test_contract_failure_outranks_infrastructure_failure() -> None:
    _, j = one(mandatory(), rec("t1", CARD, outcome="failed", classification="infrastructure"),
               rec("t2", CARD, outcome="failed", classification="contract"))
    assert j.outcome is Outcome.FAILED


def test_advisory_failure_is_a_warning_not_a_blocker() -> None:
    req = advisory()
    decision, j = one(req, rec("t1", req.id, outcome="advisory", classification="advisory", message="got 200"))
    assert (j.outcome, j.gate) == (Outcome.FAILED, Gate.WARNING)
    assert decision.verdict.ready
    assert "1 warning" in decision.verdict.summary


def test_advisory_infrastructure_failure_is_a_warning() -> None:
    req = advisory()
    decision, j = one(req, rec("t1", req.id, outcome="failed", classification="infrastructure"))
    assert (j.outcome, j.gate) == (Outcome.INFRASTRUCTURE, Gate.WARNING)
    assert decision.verdict.ready


def test_not_verifiable_simulator_only_requirement_is_listed_never_passed_and_does_not_block() -> None:
    req = sim_only()
    decision, j = one(req, rec("t1", req.id, outcome="not_verifiable", message="not verifiable on this target"))
    assert (j.outcome, j.gate) == (Outcome.NOT_VERIFIABLE, Gate.NOT_VERIFIABLE)
    assert decision.verdict.ready
    assert "0/1 requirements passed" in decision.verdict.summary and "1 not verifiable" in decision.verdict.summary


def test_not_verifiable_requirement_the_catalog_says_a_sandbox_can_verify_blocks() -> None:
    req = sandbox_verifiable()
    decision, j = one(req, rec("t1", req.id, outcome="not_verifiable"))
    assert (j.outcome, j.gate) == (Outcome.NOT_VERIFIABLE, Gate.BLOCKING)
    assert not decision.verdict.ready
    assert "not verifiable on this target although the catalog says" in decision.verdict.reasons[0]


def test_a_requirement_proven_by_the_tests_that_could_run_passes_and_names_the_others() -> None:
    """On a sandbox some tests of a requirement need the simulator's control interface; the ones that ran
    prove it, and the reason says how many could not run. A failure among the ones that ran still blocks."""
    req = sandbox_verifiable()
    decision, j = one(req, rec("t1", req.id), rec("t2", req.id, outcome="not_verifiable"),
                      rec("t3", req.id, outcome="not_verifiable"))
    assert (j.outcome, j.gate) == (Outcome.PASSED, Gate.PASSED) and decision.verdict.ready
    assert "2 tests not verifiable on this target" in j.reason
    _, j = one(req, rec("t1", req.id, outcome="failed"), rec("t2", req.id, outcome="not_verifiable"))
    assert (j.outcome, j.gate) == (Outcome.FAILED, Gate.BLOCKING)


def test_a_requirement_a_missing_optional_setting_leaves_unverified_is_listed_with_that_setting() -> None:
    """A Better Payment sandbox run with only its four credentials cannot receive postbacks: those requirements
    are listed as not verifiable, naming PAYCERT_POSTBACK_URL, and do not block; one that only the control
    interface could verify still does."""
    req = sandbox_verifiable()
    decision, j = one(req, rec("t1", req.id, outcome="not_verifiable", needs_setting="PAYCERT_POSTBACK_URL"),
                      rec("t2", req.id, outcome="not_verifiable"))
    assert (j.outcome, j.gate) == (Outcome.NOT_VERIFIABLE, Gate.NOT_VERIFIABLE) and decision.verdict.ready
    assert "set PAYCERT_POSTBACK_URL to verify it" in j.reason
    _, j = one(req, rec("t2", req.id, outcome="not_verifiable"))
    assert j.gate is Gate.BLOCKING


def test_xfail_marked_test_does_not_prove_its_requirement() -> None:
    _, j = one(mandatory(), rec("t1", CARD, outcome="xfailed", message="known bug"))
    assert (j.outcome, j.gate) == (Outcome.FAILED, Gate.BLOCKING)


def test_outcome_precedence() -> None:
    def o(*outcomes: str) -> Outcome:
        return requirement_outcome(records(*[rec(f"t{i}", CARD, outcome=x, classification="contract"
                                                 if x == "failed" else None) for i, x in enumerate(outcomes)]))

    assert o() is Outcome.UNTESTED
    assert o("passed", "not_verifiable") is Outcome.PASSED
    assert o("not_verifiable", "not_verifiable") is Outcome.NOT_VERIFIABLE
    assert o("not_verifiable", "skipped") is Outcome.SKIPPED
    assert o("skipped", "failed") is Outcome.FAILED


# ------------------------------------------------------------------ waivers


def test_active_waiver_turns_a_blocker_into_waived_and_is_listed() -> None:
    decision, j = one(mandatory(), rec("t1", CARD, outcome="failed", classification="contract"),
                      waivers=[waiver(CARD)])
    assert j.gate is Gate.WAIVED and j.waiver_status is WaiverStatus.APPLIED
    assert "waived by pay-team@example.com until 2026-12-31" in j.reason
    assert decision.verdict.ready and "1 waived" in decision.verdict.summary
    assert [u.status for u in decision.waivers] == [WaiverStatus.APPLIED]


def test_waiver_counts_through_its_expiry_day() -> None:
    _, j = one(mandatory(), rec("t1", CARD, outcome="failed", classification="contract"),
               waivers=[waiver(CARD, expiry=DAY)])
    assert j.gate is Gate.WAIVED


def test_expired_waiver_is_ignored_and_listed_as_expired() -> None:
    decision, j = one(mandatory(), rec("t1", CARD, outcome="failed", classification="contract"),
                      waivers=[waiver(CARD, expiry=DAY - dt.timedelta(days=1))])
    assert j.gate is Gate.BLOCKING and j.waiver_status is WaiverStatus.EXPIRED
    assert "waiver expired on 2026-03-01" in j.reason
    assert not decision.verdict.ready
    assert [u.status for u in decision.waivers] == [WaiverStatus.EXPIRED]


def test_waived_requirement_that_now_passes_is_flagged() -> None:
    decision, j = one(mandatory(), rec("t1", CARD), waivers=[waiver(CARD)])
    assert j.gate is Gate.PASSED and j.waiver_status is WaiverStatus.NOT_NEEDED
    assert "no longer needed" in j.reason
    assert decision.waivers[0].status is WaiverStatus.NOT_NEEDED
    assert decision.verdict.ready


def test_waiver_for_a_requirement_outside_the_run_is_out_of_scope() -> None:
    decision, _ = one(mandatory(), rec("t1", CARD), waivers=[waiver("BC-CARD-02")])
    assert [u.status for u in decision.waivers] == [WaiverStatus.OUT_OF_SCOPE]


def test_waiver_can_cover_an_untested_requirement() -> None:
    decision, j = one(mandatory(), waivers=[waiver(CARD)])
    assert (j.outcome, j.gate) == (Outcome.UNTESTED, Gate.WAIVED)
    assert decision.verdict.ready


# ------------------------------------------------------------------ the run itself


def test_run_problems_and_leaks_make_the_verdict_not_ready() -> None:
    decision, _ = one(mandatory(), rec("t1", CARD), run_problems=["2 suite collection errors"])
    assert not decision.verdict.ready and "2 suite collection errors" in decision.verdict.reasons
    decision, _ = one(mandatory(), rec("t1", CARD), leak_findings=2)
    assert not decision.verdict.ready
    assert "the leak audit found 2 card number or secrets in the artefacts" in decision.verdict.reasons


def test_no_requirement_in_scope_is_not_ready() -> None:
    decision = decide([], [], run_day=DAY)
    assert not decision.verdict.ready


def test_tests_naming_no_requirement_are_listed() -> None:
    decision, _ = one(mandatory(), rec("t1", CARD), rec("helper_test"), rec("pending", outcome="xfailed"))
    assert decision.unmapped_tests == ("helper_test", "pending")
    assert decision.unmapped_failures == () and decision.verdict.ready


def test_a_failed_test_naming_no_requirement_makes_the_run_not_ready() -> None:
    decision, j = one(mandatory(), rec("t1", CARD), rec("stateful", outcome="failed", classification="contract"))
    assert j.gate is Gate.PASSED
    assert decision.unmapped_failures == ("stateful",)
    assert decision.verdict.reasons == ("1 suite test naming no requirement failed",)


def test_rules_are_text_for_the_report() -> None:
    assert len(RULES) >= 6 and all(isinstance(r, str) and r.endswith(".") for r in RULES)


# ------------------------------------------------------------------ inputs


def test_waiver_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n  - requirement: BC-CARD-01\n    owner: a@example.com\n    reason: PAY-1\n"
                    "    expiry: 2026-06-30\n  - {requirement: BC-CARD-02, owner: b, reason: r, "
                    "expiry: 2026-07-01T12:00:00Z}\n")
    loaded = load_waivers(path, ["BC-CARD-01", "BC-CARD-02"])
    assert [w.expiry for w in loaded.waivers] == [dt.date(2026, 6, 30), dt.date(2026, 7, 1)]
    listed = parse_waivers([{"requirement": "X", "owner": "o", "reason": "r", "expiry": "2026-01-01"}])
    assert listed[0].requirement == "X"
    assert parse_waivers(None) == ()


@pytest.mark.parametrize(("text", "message"), [
    ("- {requirement: BC-CARD-01, reason: r, expiry: 2026-01-01}", "entry 1: owner: Field required"),
    ("- {requirement: BC-CARD-01, owner: ' ', reason: r, expiry: 2026-01-01}", "entry 1: owner"),
    ("- {requirement: BC-CARD-01, owner: o, reason: r, expiry: soon}", "entry 1: expiry"),
    ("- {requirement: BC-CARD-01, owner: o, reason: r, expiry: 2026-01-01, expires: x}", "entry 1: expires"),
    ("- {requirement: BC-CARD-01, owner: o, reason: r, expiry: 2026-01-01}\n"
     "- {requirement: BC-CARD-01, owner: p, reason: s, expiry: 2026-01-02}", "already waived by entry 1"),
    ("- {requirement: BC-NOPE, owner: o, reason: r, expiry: 2026-01-01}", "BC-NOPE is not in the catalog"),
    ("{waiver: []}", "unknown top-level key"),
    ("[1, 2", "cannot read"),
    ("42", "expected a list"),
])
def test_waiver_file_errors_name_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(ReportError, match=message.replace("(", r"\(")):
        load_waivers(path, ["BC-CARD-01"])


def test_missing_waiver_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="--waivers: no such file"):
        load_waivers(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("data", "message"), [
    ({}, "expected a JSON list"),
    ([{"outcome": "passed"}], "record 1: 'nodeid'"),
    ([{"nodeid": "t", "outcome": "exploded"}], "unknown outcome 'exploded'"),
    ([{"nodeid": "t", "outcome": "failed", "classification": "cosmic"}], "unknown classification"),
    ([{"nodeid": "t", "outcome": "passed", "requirements": "BC-1"}], "list of requirement ids"),
    ([{"nodeid": "t", "outcome": "passed", "duration": "slow"}], "'duration' must be a number"),
    ([{"nodeid": "t", "outcome": "passed"}, {"nodeid": "t", "outcome": "passed"}], "appears twice"),
])
def test_results_file_errors(data: object, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_results(data)


def test_results_file_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such file"):
        load_results(tmp_path / "results.json")
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ReportError, match="cannot read"):
        load_results(tmp_path / "results.json")
