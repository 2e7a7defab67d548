"""The mutation score of the certification suites (harness/mutation.py).

Every registered simulator defect must make its API's suite fail (100%, naming any defect that escapes), the
registry must cover every area the project promises, and the score must mean something: deleting one specific
assertion from a copy of a suite makes exactly the defect it guarded escape.

The full run starts one pytest process per defect (two at a time); it takes several minutes.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from harness.mutation import MutationError, registered_defects, run_mutations, suite_arguments
from harness.paths import APIS, suites_dir

MIN_DEFECTS = 40
AREAS = {
    "auth", "cards", "emails", "token", "error bodies", "transitions", "amounts", "idempotency", "rate limit",
    "locking", "postback fields", "checksum", "signature", "retries", "3DS", "status codes", "schema drift",
    "boundaries",
}

# The demonstration: this assertion of the BetterCharge email suite is the only one that looks at the
# liability flag of the liability test email, so without it `bc.email.no_liability` goes unnoticed.
GUARDED_DEFECT = "bc.email.no_liability"
GUARD_MODULE = Path("bettercharge") / "test_emails.py"
GUARD_LINE = re.compile(r'^[ \t]*same\(payment\["liabilityShift"\], email\.liability_shift, "liabilityShift"\)\n',
                        re.MULTILINE)


def test_registry_has_enough_defects_in_every_area() -> None:
    defects = registered_defects()
    names = [d[0] for d in defects]
    assert len(names) >= MIN_DEFECTS, f"only {len(names)} defects registered, the project promises {MIN_DEFECTS}"
    assert len(set(names)) == len(names)
    areas = Counter(d[2] for d in defects)
    missing = sorted(AREAS - set(areas))
    assert not missing, f"no defect in the areas {missing}; registered areas: {dict(areas)}"
    assert {d[1] for d in defects} <= set(APIS)
    assert all(d[0].startswith({"bettercharge": "bc.", "betterpayment": "bp."}[d[1]]) for d in defects)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(MutationError, match="api must be one of"):
        run_mutations(api="paypal")
    with pytest.raises(MutationError, match=r"unknown defects: bc\.nope"):
        run_mutations(defects=["bc.nope"])
    with pytest.raises(MutationError, match="workers must be a positive integer"):
        run_mutations(workers=0)


def test_the_module_most_likely_to_catch_a_defect_runs_first() -> None:
    order = [Path(a).name for a in suite_arguments(suites_dir() / "bettercharge", "idempotency bc.idem.off")]
    assert order[0] == "test_idempotency.py"
    assert sorted(order) == sorted(p.name for p in (suites_dir() / "bettercharge").glob("test_*.py"))


@pytest.mark.slow
@pytest.mark.xdist_group("own-processes")  # four suite processes of its own (tests/conftest.py)
@pytest.mark.timeout(3600)
def test_every_registered_defect_is_caught() -> None:
    # No baseline runs here: that each suite passes against the correct simulator is what
    # test_suites_<api>.py::test_suites_pass_against_the_embedded_simulator proves in the same test run, and
    # repeating both whole suites serially cost about two minutes. Four batches at once: a batch mostly waits
    # (postback deliveries, retries), so four use about one core of two (134.6 s with two, 83.6 s with four).
    result = run_mutations(workers=4, baseline=False)
    problems = [f"baseline {b.api}: the suite does not pass without defects ({b.status}, {b.caught_by})\n{b.detail}"
                for b in result.baseline_failures]
    problems += [f"{o.defect} ({o.api}, {o.area}: {o.description}) {o.status}\n{o.detail}"
                 for o in result.outcomes if not o.caught]
    assert not problems, result.summary() + "\n\n" + "\n\n".join(problems)
    assert result.total >= MIN_DEFECTS
    assert result.score == 1.0


@pytest.mark.slow
@pytest.mark.xdist_group("own-processes")  # two suite processes at once (tests/conftest.py)
@pytest.mark.timeout(900)
def test_removing_one_assertion_makes_its_defect_escape(tmp_path: Path) -> None:
    copy = tmp_path / "suites"
    shutil.copytree(suites_dir(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    before = run_mutations(api="bettercharge", suites_dir=copy, defects=[GUARDED_DEFECT], baseline=False)
    assert before.escaped_names == [], f"the intact copy must catch {GUARDED_DEFECT}: {before.summary()}"

    module = copy / GUARD_MODULE
    text = module.read_text(encoding="utf-8")
    found = GUARD_LINE.findall(text)
    assert len(found) == 1, (f"{GUARD_MODULE} no longer has exactly one liabilityShift assertion of the test email "
                             f"(found {len(found)}); update GUARD_LINE to the assertion that guards {GUARDED_DEFECT}")
    module.write_text(GUARD_LINE.sub("", text), encoding="utf-8")

    after = run_mutations(api="bettercharge", suites_dir=copy, defects=[GUARDED_DEFECT], baseline=True)
    assert not after.baseline_failures, "removing an assertion must not break the suite itself"
    assert after.escaped_names == [GUARDED_DEFECT], f"{after.summary()}; caught by {after.outcomes[0].caught_by}"
    assert after.outcomes[0].status == "escaped"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_batch_leaves_nothing_of_one_defect_to_the_next(tmp_path: Path) -> None:
    """One process runs many defects (harness/mutation_batch.py): after a caught defect, a job with no defect on
    must pass the same tests, or a batch could "catch" a defect with what the previous one left behind."""
    from harness.mutation import run_batch

    suite = tmp_path / "suites" / "bettercharge"
    suite.mkdir(parents=True)
    for name in ("__init__.py", "conftest.py", "support.py", "test_auth.py"):
        if (suites_dir() / "bettercharge" / name).is_file():
            shutil.copy(suites_dir() / "bettercharge" / name, suite / name)
    jobs = [("bc.auth.missing_partner_ok", "bettercharge", "auth", ""), ("", "bettercharge", "none", ""),
            ("bc.auth.unknown_partner_401", "bettercharge", "auth", "")]
    found = run_batch(suite, jobs)
    assert set(found) == {"bc.auth.missing_partner_ok", "", "bc.auth.unknown_partner_401"}, found
    assert found["bc.auth.missing_partner_ok"][0] is not None and found["bc.auth.unknown_partner_401"][0] is not None
    assert found[""][0] is None, f"with no defect on, {found[''][0]} failed after a defect's run"
