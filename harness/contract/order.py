"""The order of a run's tests over the xdist workers: the contract tests dealt out, the longest first.

A contract test runs hundreds of cases; left in collection order they all land in one worker's share (xdist
hands each worker a contiguous range) and one of them, started last, keeps that worker busy after every other
test is done. Dealt round-robin, longest first (stateful, then negative data for request bodies), each worker
runs a few short tests (a first result within seconds), then its part of them, then the rest of its share.
The order is a pure function of the items and the worker count, so every worker computes the same one. The
rate-limit tests the plugin runs first stay first, on the first worker, ahead of its short ones.
"""

from __future__ import annotations

from typing import Final

import pytest

__all__ = ["deal"]

#: Relative cost of the contract tests by kind (their measured share of a run), longest first.
_COST: Final = {"stateful": 4, "negative": 3, "data_validation": 2, "conformance": 1}
#: Short tests each worker runs before its contract tests, so the run shows results from its first seconds.
_LEAD: Final = 3


def _cost(item: pytest.Item) -> tuple[int, int]:
    name = getattr(item, "originalname", item.name)
    kind = next((k for k in _COST if k in name), None)
    if kind is None or "suites/contract/" not in item.nodeid.replace("\\", "/"):
        return (0, 0)
    return (_COST[kind], 1 if "[POST " in item.nodeid or "[PATCH " in item.nodeid else 0)


def deal(items: list[pytest.Item], workers: int) -> None:
    """Reorder `items` in place for `workers` xdist workers (1 without xdist)."""
    contract = sorted((i for i in items if _cost(i)[0]), key=lambda i: (-_cost(i)[0], -_cost(i)[1]))
    if not contract:
        return
    others = [i for i in items if not _cost(i)[0]]
    # the rate-limit tests the plugin put first (harness/plugin.py) stay first, ahead of the short ones
    held = next((n for n, i in enumerate(others) if i.get_closest_marker("provokes_rate_limit") is None),
                len(others))
    workers = max(workers, 1)
    buckets = [contract[w::workers] for w in range(workers)]
    ordered: list[pytest.Item] = []
    for w in range(workers):
        share = len(items) * (w + 1) // workers - len(items) * w // workers
        take = max(share - len(buckets[w]), 0) if w < workers - 1 else len(others)
        lead = min(_LEAD + (held if w == 0 else 0), take)
        ordered.extend(others[:lead])  # a first result within seconds, then the long ones
        ordered.extend(buckets[w])
        ordered.extend(others[lead:take])
        others = others[take:]
    items[:] = ordered + others
