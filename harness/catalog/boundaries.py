"""Boundaries: every number the catalog states, with the observable just inside it and just outside it.

Why a table: a suite that proves "100 requests a minute" only by showing that a request beyond the limit gets 429
also certifies an API that allows 99. A number is only checked when both of its sides are, so each number gets a
row here naming its requirement, the probe that checks it (harness/suite/<api>/probes.py), the unit it moves in and what
each side must show. The suites generate one test per side from the rows (suites/<api>/test_boundaries.py) and the
simulator registers one deliberate defect per direction (harness/simulator/boundaries.py), so a new row gets its
tests and its off-by-one defects without new code.

A row never repeats a number it can point at: `value` is either a literal (with its own provenance), a dotted path
into the same catalog (``rate_limit.limit``, list items picked by id or name: ``field_blocks.common.fields.order_id
.max_length``), a JSON pointer into the API's OpenAPI document (``openapi:#/components/schemas/Amount/maximum``) or
``remaining`` (a relational number: what is left of the transaction).

Every number the catalog holds is either the value of a boundary or listed in `boundary_exempt` with the reason it
is not one (a status code, a test-data amount); `unbounded_numbers` finds the ones that are neither, and the
project's tests require it to be empty.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.catalog.common import Entry, Provenance, Requirement

Unit = Literal["request", "second", "cent", "month", "character", "attempt", "byte", "decimal", "unit"]
Side = Literal["inside", "outside"]
SIDES: tuple[Side, Side] = ("inside", "outside")
REMAINING = "remaining"
OPENAPI_PREFIX = "openapi:"


class BoundaryRow(Entry):
    """One row of a catalog's `boundaries` table, as written in the YAML."""

    id: str
    requirement: str
    probe: str
    value: int | float | str
    unit: Unit
    inside: str
    outside: str
    params: dict[str, Any] = Field(default_factory=dict)
    simulator_only: bool = False
    # None: the provenance and source of the requirement (a reference inherits where its number comes from)
    provenance: Provenance | None = None
    source: str | None = None


class Exempt(Entry):
    """Numbers of the catalog that are not boundaries (fnmatch pattern over the dotted path), and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Boundary:
    """A resolved boundary: its number looked up, its provenance settled."""

    id: str
    api: str
    requirement: str
    probe: str
    number: int | float | None  # None: relational (`remaining`)
    ref: str | None  # where the number lives, when it is not a literal
    unit: Unit
    inside: str
    outside: str
    provenance: Provenance
    source: str
    simulator_only: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shown_value(self) -> str:
        if self.number is None:
            return f"the {REMAINING} amount"
        plural = "" if self.number == 1 else "s"
        return f"{_texts(self.number, self.params.get('step', 1))['value']} {self.unit}{plural}"

    def test_id(self, side: Side) -> str:
        """The parametrized id of the suite test of one side (the report finds the tests by it)."""
        return f"{self.id}-{side}"

    @property
    def slug(self) -> str:
        """The defect-name part of this boundary: BC-BOUND-RATE-COUNT -> rate_count."""
        head = self.id.split("-BOUND-", 1)[-1]
        return head.lower().replace("-", "_")


def _pick(node: Any, token: str, where: str) -> Any:
    if isinstance(node, BaseModel):
        if token not in type(node).model_fields:
            raise ValueError(f"{where}: no field {token!r}")
        return getattr(node, token)
    if isinstance(node, dict):
        if token not in node:
            raise ValueError(f"{where}: no key {token!r}")
        return node[token]
    if isinstance(node, list | tuple):
        for item in node:
            if getattr(item, "id", None) == token or getattr(item, "name", None) == token:
                return item
        raise ValueError(f"{where}: no item with id or name {token!r}")
    raise ValueError(f"{where}: cannot look up {token!r} in a {type(node).__name__}")


def lookup(catalog: BaseModel, path: str) -> Any:
    """The value at a dotted catalog path (list items by id or name)."""
    node: Any = catalog
    for token in path.split("."):
        node = _pick(node, token, path)
    return node


def _openapi_number(api: str, pointer: str) -> Any:
    from harness import openapi  # facts layer beside us; imported late so loading a catalog stays cheap

    node: Any = openapi.document(api)
    for token in pointer.lstrip("#").lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise ValueError(f"openapi:{pointer}: no {token!r} in fixtures/{api}/openapi.yaml")
    return node


def _sourced_at(catalog: BaseModel, ref: str, provenance: Provenance, source: str) -> tuple[Provenance, str]:
    """Where a referenced number says it comes from: its parent's `sources` entry (the simulator defaults keep
    one per value), else the parent's own provenance, else the requirement's."""
    if ref.startswith(OPENAPI_PREFIX) or "." not in ref:
        return provenance, source
    parent_path, leaf = ref.rsplit(".", 1)
    parent = lookup(catalog, parent_path)
    sources = getattr(parent, "sources", None)
    if isinstance(sources, dict) and leaf in sources:
        entry = sources[leaf]
        return entry.provenance, entry.source
    if isinstance(getattr(parent, "provenance", None), Provenance) and isinstance(getattr(parent, "source", None), str):
        return parent.provenance, parent.source
    return provenance, source


def _texts(number: float | None, step: float) -> dict[str, str]:
    """{value}, {above} and {below} for a boundary's texts, with as many decimals as its step has."""
    if number is None:
        return {"value": REMAINING, "above": f"{REMAINING} + {step:g}", "below": f"{REMAINING} - {step:g}"}
    places = len(f"{step:g}".partition(".")[2])

    def show(n: float) -> str:
        return f"{n:.{places}f}"

    return {"value": show(number), "above": show(number + step), "below": show(number - step)}


def resolve(api: str, catalog: BaseModel, rows: Sequence[BoundaryRow],
            requirements: Sequence[Requirement]) -> list[Boundary]:
    """Look up every row's number and requirement; a dangling reference is a ValueError naming the row."""
    by_id = {r.id: r for r in requirements}
    out: list[Boundary] = []
    for row in rows:
        req = by_id.get(row.requirement)
        if req is None:
            raise ValueError(f"boundary {row.id}: unknown requirement {row.requirement}")
        ref: str | None = None
        number: Any
        provenance, source = row.provenance or req.provenance, row.source or req.source
        if isinstance(row.value, str):
            if row.value == REMAINING:
                number = None
            else:
                ref = row.value
                try:
                    number = (_openapi_number(api, ref[len(OPENAPI_PREFIX):]) if ref.startswith(OPENAPI_PREFIX)
                              else lookup(catalog, ref))
                except ValueError as exc:
                    raise ValueError(f"boundary {row.id}: {exc}") from None
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise ValueError(f"boundary {row.id}: {ref} is {number!r}, not a number")
                if row.provenance is None:
                    provenance, source = _sourced_at(catalog, ref, provenance, source)
        else:
            number = row.value
        texts = _texts(number, row.params.get("step", 1))
        out.append(Boundary(
            id=row.id, api=api, requirement=row.requirement, probe=row.probe, number=number, ref=ref, unit=row.unit,
            inside=row.inside.format(**texts), outside=row.outside.format(**texts),
            provenance=provenance, source=source, simulator_only=row.simulator_only or req.simulator_only,
            params=dict(row.params)))
    ids = [b.id for b in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate boundary ids: {dupes}")
    return out


def numbers(node: Any, path: str = "") -> Iterator[tuple[str, int | float]]:
    """Every numeric leaf of a catalog model (bools are not numbers), by dotted path (list items by id or name)."""
    if isinstance(node, bool) or node is None:
        return
    if isinstance(node, int | float):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from numbers(getattr(node, name), f"{path}.{name}" if path else name)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for i, item in enumerate(node):
            label = getattr(item, "id", None) or getattr(item, "name", None) or str(i)
            yield from numbers(item, f"{path}.{label}")


def unbounded_numbers(catalog: BaseModel, boundaries: Sequence[Boundary], exempt: Sequence[Exempt],
                      skip: Sequence[str] = ("boundaries", "boundary_exempt")) -> list[str]:
    """Catalog numbers that are neither the value of a boundary nor exempt (dotted paths)."""
    referenced = {b.ref for b in boundaries if b.ref}
    left: list[str] = []
    for path, _ in numbers(catalog):
        if path.split(".", 1)[0] in skip or path in referenced:
            continue
        if any(fnmatch.fnmatchcase(path, e.path) for e in exempt):
            continue
        left.append(path)
    return left


def coverage_rows(boundaries: Sequence[Boundary]) -> list[dict[str, Any]]:
    """Plain rows for tables: one per boundary."""
    return [{"id": b.id, "api": b.api, "requirement": b.requirement, "probe": b.probe, "value": b.shown_value,
             "ref": b.ref or "", "inside": b.inside, "outside": b.outside, "provenance": str(b.provenance),
             "simulator_only": b.simulator_only} for b in boundaries]


def max_length_rows(prefix: str, requirement: str, groups: dict[str, dict[str, Any]]) -> list[BoundaryRow]:
    """One boundary per field with a max_length, derived so that a new field limit gets its pair without a row.

    `groups` maps a catalog path (``field_blocks``) to its blocks, each with `fields` (name, max_length,
    provenance) and the block's own `provenance` and `source`.
    """
    rows: list[BoundaryRow] = []
    for group, blocks in groups.items():
        for block_name, block in blocks.items():
            for spec in block.fields:
                if spec.max_length is None:
                    continue
                slug = f"{block_name}-{spec.name}".upper().replace("_", "-")
                rows.append(BoundaryRow(
                    id=f"{prefix}-BOUND-LEN-{slug}", requirement=requirement, probe="field_max_length",
                    value=f"{group}.{block_name}.fields.{spec.name}.max_length", unit="character",
                    inside=f"{spec.name} of {{value}} characters passes validation",
                    outside=f"{spec.name} of {{above}} characters gets 400 invalid fields naming it",
                    params={"group": group, "block": block_name, "field": spec.name, "kind": "max_length"},
                    provenance=Provenance.adopted,
                    source=f"{block.source}; max_length adopted (catalog field types)"))
    return rows
