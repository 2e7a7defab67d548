"""The one registry mechanism of the boundary probes, for both APIs.

Why a registry: the catalog's `boundaries` table (harness/catalog/boundaries.py) names a probe per row; each
suite's test_boundaries.py runs the named probe once for the side at the number (inside) and once for the side
one unit beyond it (outside). A new row of a known kind gets its two tests without new code; a row naming an
unknown probe fails its tests, saying so. Each API registers its probes (harness/suite/<api>/probes.py) in its
own `ProbeRegistry`, with a context of its own (what its probes need: clients, URLs, the control interface).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import pytest

from harness.catalog.boundaries import SIDES, Boundary, Side
from harness.simulator_control import SimulatorControl

from .failure import fail

Context = TypeVar("Context")
Probe = Callable[[Context, Boundary, Side], None]


class Clock(Protocol):
    """The part of the control interface a time window is placed with (harness.simulator_control)."""

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


@dataclass(kw_only=True)
class ProbeContext:
    """What every probe may need: the simulator's control interface, None on a sandbox. Each API's context adds
    its own (clients, URLs, a receiver)."""

    control: SimulatorControl | None

    def clock(self) -> SimulatorControl:
        """The control interface, for a boundary placed on the simulator clock; fails on a sandbox."""
        if self.control is None:
            fail("this boundary needs the simulator's control interface (clock)")
        return self.control


class ProbeRegistry(Generic[Context]):
    """Probes of one API by name; `run` dispatches a boundary row to its probe."""

    def __init__(self, api: str) -> None:
        self.api = api
        self._probes: dict[str, Probe[Context]] = {}

    def probe(self, name: str) -> Callable[[Probe[Context]], Probe[Context]]:
        """Decorator: register `fn` as the probe of the rows naming `name`."""
        def register(fn: Probe[Context]) -> Probe[Context]:
            if name in self._probes:
                raise ValueError(f"{self.api}: probe {name!r} registered twice")
            self._probes[name] = fn
            return fn
        return register

    def __contains__(self, name: object) -> bool:
        return name in self._probes

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._probes))

    def run(self, ctx: Context, boundary: Boundary, side: Side) -> None:
        fn = self._probes.get(boundary.probe)
        if fn is None:
            fail(f"boundary {boundary.id}: no probe {boundary.probe!r} in harness/suite/{self.api}/probes.py "
                 f"(known: {', '.join(self)})")
        fn(ctx, boundary, side)


def boundary_number(b: Boundary) -> float:
    """The row's number; fails naming the row when it has none (the probe needs one)."""
    if b.number is None:
        fail(f"boundary {b.id}: the {b.probe} probe needs a number")
    return b.number


def move_clock_to(clock: Clock, target: float) -> None:
    """Put the simulator clock at `target` (it only moves forward: a target already passed moves it by 0, which
    still lets what is due happen before the answer, harness/simulator/control.py)."""
    clock.advance(max(target - clock.now(), 0.0))


def boundary_cases(boundaries: Iterable[Boundary],
                   marks: Callable[[Boundary], list[pytest.MarkDecorator]] = lambda b: []) -> list[Any]:
    """The pytest parameters of a suite's test_boundaries.py: per row one case per side, marked with the row's
    requirement (and simulator-only where the number needs the simulator's clock or settings), plus the suite's
    own `marks` of the row."""
    return [pytest.param(b, side, id=b.test_id(side),
                         marks=[pytest.mark.requirement(b.requirement),
                                *([pytest.mark.simulator_only] if b.simulator_only else []), *marks(b)])
            for b in boundaries for side in SIDES]
