"""A pytest plugin of the mutation runner (harness/mutation.py): run first the tests a defect most likely fails.

Why: a defect run stops at its first failure (-x), so the order decides how long it takes; an off-by-one defect
of a boundary is aimed at exactly two generated tests (test_boundaries.py::test_boundary[<boundary id>-inside] and
[...-outside]). Only the order changes, never the set of tests: a test whose node id contains the text in
PAYCERT_MUTATION_FIRST moves to the front, the rest keeps its order.
"""

from __future__ import annotations

import os

import pytest

FIRST_ENV = "PAYCERT_MUTATION_FIRST"


def aimed_first(items: list[pytest.Item], wanted: str) -> None:
    """Move the items whose node id contains `wanted` to the front; the rest keeps its order (a stable sort)."""
    if wanted:
        items.sort(key=lambda item: wanted not in item.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    aimed_first(items, os.environ.get(FIRST_ENV, ""))
