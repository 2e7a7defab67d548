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


SPENDING = """
import httpx
import pytest
from harness.clients import BetterChargeClient

def _client():
    answers = iter([429, 200, 429])
    transport = httpx.MockTransport(lambda request: httpx.Response(next(answers), json={}))
    return BetterChargeClient("https://bc.test", "k", "p", transport=transport).without_retries()

@pytest.mark.requirement("BC-RATE-429")
def test_unplanned():
    client = _client()
    client.get_payment("bc_1"); client.get_payment("bc_2")

@pytest.mark.provokes_rate_limit
@pytest.mark.requirement("BC-RATE-429")
def test_on_purpose():
    client = _client()
    client.get_payment("bc_1"); client.get_payment("bc_2"); client.get_payment("bc_3")
"""


def test_a_429_the_test_provokes_on_purpose_is_counted_apart(pytester: pytest.Pytester) -> None:
    """The budget section of a report must show the run's unplanned 429s (a budget that failed), apart from
    the ones the rate-limit tests ask for."""
    pytester.makepyfile(test_spending=SPENDING)
    run = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-n", "0", "--junitxml=junit.xml")
    run.assert_outcomes(passed=2)
    import xml.etree.ElementTree as ET

    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    spent = {case.get("name"): prop.get("value") for case in cases for prop in case.iter("property")
             if prop.get("name") == "requests"}
    assert spent == {"test_unplanned": "{'bettercharge': [2, 1, 0]}", "test_on_purpose": "{'bettercharge': [3, 0, 2]}"}


def test_a_not_verifiable_skip_names_the_setting_that_would_make_it_verifiable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_setting="""
import pytest
from harness.plugin import not_verifiable

@pytest.mark.requirement("BC-STATE-RECEIVED")
def test_needs_a_postback_url():
    not_verifiable("no public postback URL", setting="PAYCERT_POSTBACK_URL")

@pytest.mark.requirement("BC-STATE-RECEIVED")
def test_needs_the_control_interface():
    not_verifiable()
""")
    results = pytester.path / "results.json"
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-n", "0", f"--paycert-results={results}")
    records = {r["nodeid"].split("::")[1]: r for r in json.loads(results.read_text())}
    assert records["test_needs_a_postback_url"]["needs_setting"] == "PAYCERT_POSTBACK_URL"
    assert "needs_setting" not in records["test_needs_the_control_interface"]
    assert {r["outcome"] for r in records.values()} == {"not_verifiable"}


def test_rate_limit_tests_run_first_the_one_that_drains_before_those_that_need_a_fresh_window(
        pytester: pytest.Pytester) -> None:
    """A fresh-window test placed among the others waits out a window they had only partly spent: on a sandbox
    that idle time is paid against the run's floor. So the plugin runs the rate-limit tests first, the drainer
    before the fresh-window ones (each then starts as the one before it ran out), the rest in their order."""
    def module(*tests: tuple[str, str]) -> str:
        return "import pytest\n" + "".join(f"\n{mark}\n@pytest.mark.requirement('BC-RATE-429')\ndef {name}():\n"
                                            f"    pass\n" for name, mark in tests)

    plain, drains, fresh = "", "@pytest.mark.provokes_rate_limit", "@pytest.mark.provokes_rate_limit(fresh_window=True)"
    pytester.makepyfile(test_a_first=module(("test_plain_one", plain), ("test_fresh_count", fresh),
                                            ("test_plain_two", plain)),
                        test_b_second=module(("test_drain", drains), ("test_fresh_reset", fresh)))
    run = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-n", "0", "--collect-only", "-q")
    names = [line.split("::")[-1] for line in run.outlines if "::" in line]
    assert names == ["test_drain", "test_fresh_count", "test_fresh_reset", "test_plain_one", "test_plain_two"]
