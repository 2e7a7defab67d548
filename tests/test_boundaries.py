"""Boundaries (harness/catalog/boundaries.py): every number of the catalog is a boundary with two generated suite
tests, every boundary has its two off-by-one defects, and every such defect is caught by its boundary's tests.

The last is proven by one suite run per API with tests/boundary_sweep.py: each boundary test runs as it is (it
must pass), then once with each of its boundary's defects switched on (one side or the other must fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from suite_runs import clean_env

from harness.catalog import CatalogError, bettercharge, betterpayment
from harness.catalog.bettercharge import BetterChargeCatalog
from harness.catalog.boundaries import SIDES, numbers, unbounded_numbers
from harness.catalog.common import load_yaml
from harness.mutation import registered_defects
from harness.report.boundaries import both_sides_passed, boundary_coverage
from harness.report.results import TestRecord
from harness.simulator import boundaries as sim_boundaries

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = {"bettercharge": bettercharge(), "betterpayment": betterpayment()}


@pytest.mark.parametrize("api", sorted(CATALOGS))
def test_every_number_of_the_catalog_is_a_boundary_or_exempt(api: str) -> None:
    catalog = CATALOGS[api]
    left = unbounded_numbers(catalog, catalog.all_boundaries, catalog.boundary_exempt)
    assert not left, f"{api}: numbers with neither a boundary nor an exemption: {left}"
    # and the audit sees numbers at all (a broken walker would find none)
    assert len(list(numbers(catalog))) > 50


def test_the_documented_numbers_of_the_issue_are_boundaries() -> None:
    refs = {(b.api, b.ref) for c in CATALOGS.values() for b in c.all_boundaries}
    for wanted in [("bettercharge", "rate_limit.limit"), ("bettercharge", "rate_limit.window_seconds"),
                   ("bettercharge", "idempotency.retention_seconds"),
                   ("bettercharge", "authorization_validity_seconds"),
                   ("bettercharge", "simulator.retry_processing_seconds"),
                   ("betterpayment", "idempotency.retention_seconds"),
                   ("betterpayment", "postbacks.retry.interval_seconds"),
                   ("betterpayment", "postbacks.retry.max_attempts"),
                   ("betterpayment", "field_blocks.common.fields.order_id.max_length")]:
        assert wanted in refs, f"no boundary for {wanted}"
    probes = {(b.api, b.probe, str(b.params.get("operation", b.params.get("header", ""))))
              for c in CATALOGS.values() for b in c.all_boundaries}
    for operation in ("capture", "reverse", "refund"):
        assert ("betterpayment", "remaining_amount", operation) in probes
    for header in betterpayment().idempotency.headers:
        assert ("betterpayment", "idem_retention", header) in probes, f"no retention boundary for {header}"
    bc_probes = {b.probe for b in bettercharge().all_boundaries}
    assert {"card_expiry", "field_limit", "rate_count", "rate_reset"} <= bc_probes


def test_a_bad_boundary_row_is_one_clear_error() -> None:
    data = load_yaml("bettercharge.yaml")
    good = data["boundaries"][0]
    for broken, expected in [({**good, "value": "rate_limit.nope"}, "no field 'nope'"),
                             ({**good, "value": "openapi:#/components/schemas/Nope/maximum"}, "no 'Nope'"),
                             ({**good, "value": "rate_limit.headers"}, "not a number"),
                             ({**good, "requirement": "BC-NOPE"}, "unknown requirement BC-NOPE"),
                             ({**good, "unit": "parsec"}, "unit")]:
        with pytest.raises(ValueError, match=expected):
            BetterChargeCatalog.model_validate({**data, "boundaries": [broken]})
    twice = {**data, "boundaries": [good, good]}
    with pytest.raises(ValueError, match="duplicate boundary ids"):
        BetterChargeCatalog.model_validate(twice)
    assert issubclass(CatalogError, ValueError)


def test_texts_are_filled_from_the_number_and_provenance_follows_the_reference() -> None:
    by_id = {b.id: b for c in CATALOGS.values() for b in c.all_boundaries}
    count = by_id["BC-BOUND-RATE-COUNT"]
    limit = bettercharge().rate_limit.limit
    assert f"request {limit} " in count.inside and f"request {limit + 1} " in count.outside
    assert count.provenance.value == "documented"
    key_length = by_id["BP-BOUND-IDEM-KEY-LENGTH"]  # the simulator default says where its number comes from
    assert key_length.provenance == betterpayment().simulator.sources["max_idempotency_key_length"].provenance
    assert "{" not in "".join(b.inside + b.outside for b in by_id.values())


def test_every_field_max_length_gets_a_boundary_without_a_row() -> None:
    cat = betterpayment()
    ids = {b.id for b in cat.all_boundaries}
    for block_name, block in cat.field_blocks.items():
        for spec in block.fields:
            wanted = f"BP-BOUND-LEN-{block_name}-{spec.name}".upper().replace("_", "-")
            assert (wanted in ids) == (spec.max_length is not None), wanted


def test_every_boundary_has_a_probe_and_two_defects() -> None:
    from harness.suite.bettercharge.probes import PROBES as BC_PROBES
    from harness.suite.betterpayment.probes import PROBES as BP_PROBES

    probes = {"bettercharge": BC_PROBES, "betterpayment": BP_PROBES}
    registered = {d[0]: d for d in registered_defects()}
    for api, catalog in CATALOGS.items():
        for b in catalog.all_boundaries:
            assert b.probe in probes[api], f"{b.id}: no probe {b.probe} in harness/suite/{api}/probes.py"
            for direction in (sim_boundaries.MINUS, sim_boundaries.PLUS):
                name = sim_boundaries.defect_name(b, direction)
                assert name in registered and registered[name][1] == api, name


def _row(**changes: Any) -> sim_boundaries.Boundary:
    base = next(b for b in bettercharge().all_boundaries if b.id == "BC-BOUND-AMOUNT-MAX")
    from dataclasses import replace

    return replace(base, **changes)


@pytest.mark.parametrize(("kind", "limit", "direction", "value", "expected"), [
    ("max_length", 5, "minus_one", "abcde", "refused"), ("max_length", 5, "minus_one", "abcd", "abcd"),
    ("max_length", 5, "plus_one", "abcdef", "abcde"), ("max_length", 5, "plus_one", "abcdefg", "abcdefg"),
    ("maximum", 12, "minus_one", 12, "refused"), ("maximum", 12, "plus_one", 13, 12),
    ("minimum", 1, "minus_one", 0, 1), ("minimum", 1, "plus_one", 1, "refused"), ("minimum", 1, "plus_one", 2, 2),
    ("decimals", 2, "minus_one", "15.91", "refused"), ("decimals", 2, "plus_one", "15.911", "15.91"),
    ("minimum", 0.01, "minus_one", "0.00", "0.01"), ("maximum", 99999999.99, "plus_one", "100000000.00", "99999999.99"),
])
def test_the_field_shim_moves_a_limit_by_one_unit(kind: str, limit: float, direction: str, value: Any,
                                                  expected: Any) -> None:
    step = 0.01 if isinstance(limit, float) else 1
    b = _row(id="BC-BOUND-SHIM-TEST", number=limit, params={"field": "card.x", "kind": kind, "step": step})
    sim_boundaries.index(b)
    try:
        name = sim_boundaries.defect_name(b, direction)
        body = {"card": {"x": value}, "other": 1}

        def refuse(field: str) -> Exception:
            return LookupError(field)

        if expected == "refused":
            with pytest.raises(LookupError, match=r"card\.x"):
                sim_boundaries.shim_fields(lambda n: n == name, "bettercharge", body, refuse)
        else:
            out = sim_boundaries.shim_fields(lambda n: n == name, "bettercharge", body, refuse)
            assert out["card"]["x"] == expected and out["other"] == 1
        # no defect on: nothing changes
        assert sim_boundaries.shim_fields(lambda n: False, "bettercharge", {"card": {"x": value}}, refuse) == {
            "card": {"x": value}}
    finally:
        sim_boundaries.forget(b)


def test_the_report_shows_each_side_of_each_boundary() -> None:
    b = next(x for x in bettercharge().all_boundaries if x.id == "BC-BOUND-RATE-COUNT")
    records = [TestRecord(nodeid=f"suites/bettercharge/test_boundaries.py::test_boundary[{b.test_id('inside')}]",
                          outcome="passed", classification=None, message="", duration=0.1,
                          requirements=(b.requirement,))]
    rows = {r["id"]: r for r in boundary_coverage([b.requirement], records)}
    row = rows[b.id]
    assert row["inside"]["outcome"] == "passed" and row["outside"]["outcome"] == "untested"
    assert not both_sides_passed(row)
    assert all(r["requirement"] == b.requirement for r in rows.values())
    assert boundary_coverage(["BC-NOT-IN-SCOPE"], records) == []


def _sweep(api: str, out: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(PAYCERT_SIMULATOR_DEFECTS="1", PAYCERT_BOUNDARY_SWEEP=str(out),
                    PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "pytest", f"suites/{api}/test_boundaries.py", "-q", "-n", "0",
                           "-p", "no:cacheprovider", "-p", "boundary_sweep", "-p", "no:schemathesis",
                           "-p", "no:allure_pytest", "-p", "no:hypothesispytest"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_off_by_one_defect_is_caught_by_its_boundary_tests(tmp_path: Path) -> None:
    apis = sorted(CATALOGS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = dict(zip(apis, pool.map(lambda a: _sweep(a, tmp_path / f"{a}.json"), apis), strict=True))
    for api, proc in procs.items():
        assert proc.returncode == 0, f"{api} boundary tests fail without a defect:\n{proc.stdout[-4000:]}"
    caught: dict[str, list[str]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for api in apis:
        for r in json.loads((tmp_path / f"{api}.json").read_text()):
            seen.add((r["defect"], r["side"]))
            if r["failed"]:
                caught[r["defect"]].append(r["side"])
    expected = {sim_boundaries.defect_name(b, d) for c in CATALOGS.values() for b in c.all_boundaries
                for d in (sim_boundaries.MINUS, sim_boundaries.PLUS)}
    not_run = sorted(d for d in expected if any((d, s) not in seen for s in SIDES))
    assert not not_run, f"defects whose boundary tests did not both run: {not_run}"
    escaped = sorted(expected - set(caught))
    assert not escaped, f"off-by-one defects no boundary test caught: {escaped}"


def test_a_mutation_run_starts_with_the_two_tests_a_boundary_defect_aims_at(tmp_path: Path) -> None:
    from harness.mutation import _first_tests

    b = bettercharge().all_boundaries[0]
    assert _first_tests(sim_boundaries.defect_name(b, sim_boundaries.PLUS)) == f"[{b.id}-"
    assert _first_tests("bc.idem.off") == ""
    (tmp_path / "test_order.py").write_text(
        "import pytest\n@pytest.mark.parametrize('x', ['A-inside', 'B-inside', 'B-outside'])\n"
        "def test_b(x): pass\ndef test_a(): pass\n", encoding="utf-8")
    env = {**os.environ, "PAYCERT_MUTATION_FIRST": "[B-"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "harness.mutation_first",
                           "-p", "no:cacheprovider", "test_order.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    order = [line.split("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line]
    assert order == ["test_b[B-inside]", "test_b[B-outside]", "test_b[A-inside]", "test_a"], proc.stdout
