"""The plugin tells "not verifiable on this target" apart from any other skip by type, never by wording."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

MODULE = """
import pytest
from harness.plugin import NOT_VERIFIABLE, not_verifiable

@pytest.fixture
def needs_control():
    not_verifiable("this target has no clock to move")

@pytest.mark.requirement("BC-STATE-RECEIVED")
def test_typed_in_a_fixture(needs_control):
    pass

@pytest.mark.requirement("BC-STATE-RECEIVED")
def test_typed_in_the_test():
    not_verifiable()

@pytest.mark.requirement("BC-STATE-RECEIVED")
def test_plain_skip_with_the_same_words():
    pytest.skip(NOT_VERIFIABLE)

@pytest.mark.requirement("BC-STATE-RECEIVED")
def test_plain_skip():
    pytest.skip("no browser on this machine")
"""


def test_only_a_typed_skip_counts_as_not_verifiable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=MODULE)
    results = pytester.path / "results.json"
    run = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-n", "0", f"--paycert-results={results}")
    run.assert_outcomes(skipped=4)
    records = {r["nodeid"].split("::")[1]: r for r in json.loads(results.read_text())}
    assert {name: r["outcome"] for name, r in records.items()} == {
        "test_typed_in_a_fixture": "not_verifiable",
        "test_typed_in_the_test": "not_verifiable",
        "test_plain_skip_with_the_same_words": "skipped",
        "test_plain_skip": "skipped",
    }
    assert records["test_typed_in_a_fixture"]["message"] == "this target has no clock to move"
