"""Boundary coverage: for each requirement with a number, which of its boundaries were checked on which side.

Why its own view: a requirement can pass while only one side of its number was tried (a 429 after the limit, but
never the last request inside it). The catalog's boundaries (harness/catalog/boundaries.py) name, per boundary, the
two generated suite tests (``test_boundaries.py::test_boundary[<id>-inside]`` and ``[<id>-outside]``); this module
looks their outcomes up in a run's results, and builds the catalog-only view `paycert catalog` prints (which
boundaries exist, their probes, their off-by-one defects, and the numbers left unbounded).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.catalog import bettercharge, betterpayment
from harness.catalog.boundaries import SIDES, Boundary, Side, unbounded_numbers
from harness.report.results import TestRecord

TEST_FUNCTION = "test_boundaries.py::test_boundary"
#: Outcome of a side whose test is not among the results.
UNTESTED = "untested"


def all_boundaries() -> list[Boundary]:
    return [*bettercharge().all_boundaries, *betterpayment().all_boundaries]


def nodeid_suffix(boundary: Boundary, side: Side) -> str:
    return f"{TEST_FUNCTION}[{boundary.test_id(side)}]"


def _side(boundary: Boundary, side: Side, records: Sequence[TestRecord]) -> dict[str, Any]:
    suffix = nodeid_suffix(boundary, side)
    found = [r for r in records if r.nodeid.endswith(suffix) and f"/{boundary.api}/" in f"/{r.nodeid}"]
    text = boundary.inside if side == "inside" else boundary.outside
    if not found:
        return {"expect": text, "outcome": UNTESTED, "test": None}
    worst = next((r for r in found if r.failed), found[0])
    return {"expect": text, "outcome": worst.outcome, "test": worst.nodeid}


def boundary_coverage(requirement_ids: Iterable[str], records: Sequence[TestRecord]) -> list[dict[str, Any]]:
    """One entry per boundary of an in-scope requirement, with the outcome of each side's test."""
    wanted = set(requirement_ids)
    rows = []
    for b in all_boundaries():
        if b.requirement not in wanted:
            continue
        rows.append({
            "id": b.id, "api": b.api, "requirement": b.requirement, "probe": b.probe, "value": b.shown_value,
            "ref": b.ref, "unit": b.unit, "provenance": b.provenance.value, "simulator_only": b.simulator_only,
            "inside": _side(b, "inside", records), "outside": _side(b, "outside", records),
        })
    return rows


def both_sides_passed(row: dict[str, Any]) -> bool:
    return all(row[side]["outcome"] == "passed" for side in SIDES)


def catalog_view() -> dict[str, Any]:
    """What `paycert catalog` shows: every boundary with its off-by-one defects, and what is left unbounded.

    (That every probe exists and every defect is caught is proven by the project's tests, not at run time.)
    """
    from harness.simulator import boundaries as sim_boundaries

    directions = (sim_boundaries.MINUS, sim_boundaries.PLUS)
    rows = [{"boundary": b, "defects": [sim_boundaries.defect_name(b, d) for d in directions]}
            for b in all_boundaries()]
    unbounded: dict[str, list[str]] = {}
    exempt: dict[str, int] = {}
    for catalog in (bettercharge(), betterpayment()):
        unbounded[catalog.api] = unbounded_numbers(catalog, catalog.all_boundaries, catalog.boundary_exempt)
        exempt[catalog.api] = len(catalog.boundary_exempt)
    return {"rows": rows, "unbounded": unbounded, "exempt": exempt}


def print_catalog_boundaries(console: Console) -> int:
    """The boundaries part of `paycert catalog`: one row per boundary, grouped by requirement; 1 if a number of
    the catalog is neither a boundary nor exempt (the catalog is then incomplete), else 0."""
    view = catalog_view()
    table = Table(title="paycert catalog: boundaries (each number, tested at it and one unit beyond it)")
    table.add_column("requirement / boundary", overflow="fold")
    table.add_column("number", overflow="fold")
    table.add_column("prov.")
    table.add_column("inside: at the number")
    table.add_column("outside: one unit beyond")
    for row in sorted(view["rows"], key=lambda r: (r["boundary"].api, r["boundary"].requirement)):
        b: Boundary = row["boundary"]
        where = f"\n[dim]{b.ref}[/]" if b.ref else ""
        sim = "\n[dim](simulator only)[/]" if b.simulator_only else ""
        table.add_row(f"{b.requirement}\n[dim]{b.id}[/]", f"{b.shown_value}{where}", b.provenance.value,
                      b.inside, f"{b.outside}{sim}")
    console.print(table)
    problems = 0
    for api, paths in view["unbounded"].items():
        count = sum(1 for r in view["rows"] if r["boundary"].api == api)
        row_prefix = next((r["defects"][0].split(".bound.")[0] for r in view["rows"]
                                    if r["boundary"].api == api), api)
        console.print(f"{api}: {count} boundaries, {2 * count} generated tests (test_boundaries.py), {2 * count} "
                      f"off-by-one defects ({row_prefix}.bound.<boundary>.minus_one / .plus_one); "
                      f"{view['exempt'][api]} exempt number patterns (boundary_exempt)")
        if paths:
            problems += len(paths)
            console.print(f"[bold red]{api}: numbers that are neither a boundary nor exempt:[/] {', '.join(paths)}")
    return 1 if problems else 0
