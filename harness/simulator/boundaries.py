"""Off-by-one defects: for every boundary of the catalog, the defect that moves it one unit down and one unit up.

Why generated from the table: a boundary is only proven when its suite pair fails against a target whose number
is one unit off in either direction (a limit of 99 or 101, a retention of 3599 or 3601 s, a card window one month
longer or shorter). Each row of a catalog's `boundaries` table (harness/catalog/boundaries.py) registers two
defects here, ``<api prefix>.bound.<slug>.minus_one`` and ``.plus_one``; the simulator code that holds the number
asks `shift(defect, api, probe)` (-1, 0 or +1 units) where it uses it. Field limits (lengths, numeric ranges,
decimals) share one hook, `shim_fields`, applied to a request body before it is validated, so a new field row
gets working defects without new simulator code. A row whose probe has no hook leaves its defects inert, and the
mutation score (harness/mutation.py) then reports them as escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.catalog.boundaries import Boundary
from harness.simulator.defects import register

MINUS, PLUS = "minus_one", "plus_one"
AREA = "boundaries"
#: Probes whose number is a request-field limit; `shim_fields` serves them all.
FIELD_PROBES = ("field_limit", "field_max_length")
_PREFIX = {"bettercharge": "bc", "betterpayment": "bp"}

DefectCheck = Callable[[str], bool]

_BY_ID: dict[str, Boundary] = {}
# Indexes built at registration: the simulator asks `shift` and `shim_fields` on every request, and a scan of
# every row with its defect names formatted anew cost about a tenth of a POST's time (benchmarks/README.md).
_NAMES: dict[str, tuple[str, str]] = {}
_BY_PROBE: dict[tuple[str, str], list[Boundary]] = {}
_FIELD_ROWS: dict[str, list[Boundary]] = {}


def defect_name(boundary: Boundary, direction: str) -> str:
    return f"{_PREFIX[boundary.api]}.bound.{boundary.slug}.{direction}"


def _describe(b: Boundary, direction: str) -> str:
    word = "down" if direction == MINUS else "up"
    return f"{b.id} ({b.requirement}) moved one {b.unit} {word} from {b.shown_value}"


def index(b: Boundary) -> None:
    """Make `shift`, `shim_fields` and `boundary_of` know a row (register_api does it for the catalog's rows)."""
    _BY_ID[b.id] = b
    _NAMES[b.id] = (defect_name(b, MINUS), defect_name(b, PLUS))
    _BY_PROBE.setdefault((b.api, b.probe), []).append(b)
    if b.probe in FIELD_PROBES and b.number is not None:
        _FIELD_ROWS.setdefault(b.api, []).append(b)


def forget(b: Boundary) -> None:
    """Undo `index` (for tests that index a row of their own)."""
    del _BY_ID[b.id], _NAMES[b.id]
    _BY_PROBE[(b.api, b.probe)].remove(b)
    if b in _FIELD_ROWS.get(b.api, []):
        _FIELD_ROWS[b.api].remove(b)


def register_api(api: str, boundaries: list[Boundary]) -> list[str]:
    """Register both defects of every boundary of one API (at the API's defects-module import); their names."""
    names: list[str] = []
    for b in boundaries:
        index(b)
        for direction in (MINUS, PLUS):
            names.append(register(defect_name(b, direction), api, AREA, _describe(b, direction)))
    return names


def boundary_of(defect: str) -> Boundary | None:
    """The boundary an off-by-one defect moves (None: not one of them)."""
    return next((_BY_ID[key] for key, names in _NAMES.items() if defect in names), None)


def _moved(defect: DefectCheck, b: Boundary) -> int:
    minus, plus = _NAMES[b.id]
    if defect(minus):
        return -1
    if defect(plus):
        return 1
    return 0


def shift(defect: DefectCheck, api: str, probe: str, **match: Any) -> int:
    """How many units (-1, 0, +1) the enabled off-by-one defects move the boundaries of `probe` in `api` whose
    params include `match`. Simulator code adds it to the number where it uses it; the rows are found by probe,
    not by id, so a renamed row keeps its hook."""
    return sum(_moved(defect, b) for b in _BY_PROBE.get((api, probe), ())
               if all(b.params.get(k) == v for k, v in match.items()))


def _get(body: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any] | None, str]:
    node: Any = body
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.get(key) if isinstance(node, Mapping) else None
    return (node if isinstance(node, Mapping) else None), leaf


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _decimals(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def shim_fields(defect: DefectCheck, api: str, body: dict[str, Any],
                invalid: Callable[[str], Exception]) -> dict[str, Any]:
    """The body as a target whose field limits are one unit off would see it.

    A limit moved so that the value at it is refused raises `invalid(field)`; a limit moved so that the value just
    beyond it is accepted replaces that value by the one at the limit (the request then succeeds where it must
    fail). Only enabled field defects of `api` act; with none enabled the body is returned untouched.
    """
    for b in _FIELD_ROWS.get(api, ()):
        moved = _moved(defect, b)
        if not moved:
            continue
        path = str(b.params["field"])
        parent, leaf = _get(body, path)
        if parent is None or leaf not in parent:
            continue
        value = parent[leaf]
        kind = b.params.get("kind", "max_length")
        limit = b.number
        if limit is None:  # _FIELD_ROWS holds numbered rows only
            continue
        if kind == "max_length" and isinstance(value, str):
            at, beyond = len(value) == limit, len(value) == limit + 1
            fixed: Any = value[:int(limit)]
        else:
            number = _decimal(value)
            if number is None:
                continue
            if kind == "decimals":
                at, beyond = _decimals(number) == limit, _decimals(number) == limit + 1
                fixed = str(number.quantize(Decimal(1).scaleb(-int(limit))))
            else:
                step = Decimal(str(b.params.get("step", 1)))
                edge = Decimal(str(limit))
                outside = edge + step if kind == "maximum" else edge - step
                at, beyond = number == edge, number == outside
                fixed = type(value)(edge) if isinstance(value, int | float) else str(edge)
                if isinstance(value, int) and edge == edge.to_integral_value():
                    fixed = int(edge)
        # the number moves down (-1) for a maximum: the value at it is refused; up: the one beyond passes.
        # For a minimum the other way round.
        refuse_at = (moved < 0) == (kind != "minimum")
        if refuse_at and at:
            raise invalid(path)
        if not refuse_at and beyond:
            _set(body, path, fixed)
    return body


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    node: Any = body
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
