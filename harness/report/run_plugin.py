"""A pytest plugin `paycert certify` loads into its pytest run (``-p harness.report.run_plugin``).

Why a second plugin beside harness.plugin: these are concerns of a certification *run*, not of the suites:

- ``--paycert-apis``: keep only tests that prove a requirement of the selected APIs (a requirement's API comes
  from the catalog, so the suites' directory layout does not matter);
- ``--paycert-progress FILE``: the controller appends one JSON line per event (collected, test finished,
  collection error, finished) for the parent's progress bar; worker processes write nothing;
- failure text is redacted where it is made: an assertion that shows a card number (pytest prints the values
  it compares) or a configured secret is masked in the exception before the report, JUnit, Allure, the results
  file and the terminal log are written from it;
- Allure: each parametrized case gets its own history id (the pytest case id) instead of allure-pytest's
  default md5 of the parameter values, which merges cases whose values print alike (allure-python #778, #864)
  and changes from run to run for objects printed with their address; parameter values are shown masked.
  Each case is labelled with its API, area and requirements, and its HAR evidence (masked when recorded) is
  attached (harness.report.labels);
- JUnit for CI dashboards: requirement ids, provenance and weight as properties of every test case, and a
  failure message that starts with the requirement's title.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from harness.redaction import redact_text
from harness.report import labels

_HISTORY_PARAM = "pytest case id"


def _secrets(config: pytest.Config) -> tuple[str, ...]:
    """The run's secrets, from the settings `pytest_configure` loaded (a run without them never starts)."""
    secrets: tuple[str, ...] = config.stash[_SECRETS]
    return secrets


_SECRETS = pytest.StashKey[tuple[str, ...]]()


def _redact(config: pytest.Config, text: str) -> str:
    from harness.catalog import known_pans

    return redact_text(text, _secrets(config), known_pans=known_pans())


#: Set on a test whose setup, call or teardown did not pass (failed, error, xfailed or advisory).
_NOT_PASSED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paycert certify")
    group.addoption("--paycert-apis", default=None,
                    help="comma-separated APIs; deselect tests whose requirements are all of other APIs")
    group.addoption("--paycert-progress", type=Path, default=None,
                    help="append progress events (JSON lines) to this file")
    group.addoption("--paycert-skip", type=Path, default=None,
                    help="a file of node ids (one a line) that passed in the run being resumed: deselect them")


# ------------------------------------------------------------------ selection


def _requirement_ids(item: pytest.Item) -> list[str]:
    return [str(a) for mark in item.iter_markers("requirement") for a in mark.args]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_file = config.getoption("--paycert-skip")
    if skip_file is not None:
        done = set(skip_file.read_text(encoding="utf-8").splitlines())
        resumed = [item for item in items if item.nodeid in done]
        if resumed:
            config.hook.pytest_deselected(items=resumed)
            items[:] = [item for item in items if item.nodeid not in done]
    for item in items:
        item.user_properties.extend(labels.junit_properties(_requirement_ids(item)))
    option = config.getoption("--paycert-apis")
    if not option:
        return
    from harness.catalog import all_requirements

    wanted = {a.strip() for a in option.split(",") if a.strip()}
    api_of = {r.id: r.api for r in all_requirements()}
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        apis = {api_of.get(i) for i in _requirement_ids(item)}
        (keep if not apis or apis & wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# ------------------------------------------------------------------ progress


class _Progress:
    """Controller-side event log; one line per event, flushed at once so the parent sees it live."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.outcomes: dict[str, str] = {}
        self.causes: dict[str, str] = {}
        self.total_sent = False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")

    def emit(self, **event: Any) -> None:
        event["t"] = round(time.time(), 3)  # when, for benchmarks/certify_phases.py (collection, first result)
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")

    def collected(self, count: int) -> None:
        if not self.total_sent:
            self.total_sent = True
            self.emit(event="collected", total=count)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected(len(session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected(len(ids))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.emit(event="collect_error", nodeid=report.nodeid or "(session)",
                      message=str(report.longreprtext)[-2000:])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        previous = self.outcomes.get(report.nodeid, "passed")
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
            self.causes.setdefault(report.nodeid, failure_cause(report))
        elif report.skipped and previous == "passed":
            self.outcomes[report.nodeid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        else:
            self.outcomes.setdefault(report.nodeid, "passed")
        if report.when == "teardown":
            event: dict[str, Any] = {"event": "test", "nodeid": report.nodeid, "outcome": self.outcomes[report.nodeid]}
            requests = dict(report.user_properties).get("requests")
            if requests:
                event["requests"] = requests
            if report.nodeid in self.causes:
                event["cause"] = self.causes.pop(report.nodeid)
            self.emit(**event)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.emit(event="finished", exitstatus=int(exitstatus))


_VARYING = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f-]{27}|\d+", re.IGNORECASE)
#: The requirement title that harness.report.labels.titled puts before a failure message: it names the test's
#: requirement, not the cause, so alike failures of different requirements must compare equal without it.
_TITLE = re.compile(r"^.*? \([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+[^)]*\): ")


def failure_cause(report: pytest.TestReport) -> str:
    """The failure's last line (the exception), numbers and ids folded, so that alike failures compare equal.

    Reports are redacted before anyone reads them (see below), so the cause carries no card number or secret.
    """
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or "").strip()
    if not text:
        lines = report.longreprtext.strip().splitlines()
        text = lines[-1].strip() if lines else ""
    first = _TITLE.sub("", text.splitlines()[0], count=1) if text else "failed"
    return _VARYING.sub("N", first)[:200]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Redaction needs the run's secrets: settings that cannot be read stop the run here, in one line,
    # instead of letting it go on with redaction silently off.
    from harness.config import ConfigError, current_settings

    try:
        config.stash[_SECRETS] = current_settings().secrets
    except ConfigError as exc:
        raise pytest.UsageError(f"paycert configuration: {exc}") from None
    path = config.getoption("--paycert-progress")
    if path is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Progress(path), "paycert-progress")


# ------------------------------------------------------------------ redaction at the source


def _redact_exception(config: pytest.Config, exc: BaseException | None, depth: int = 0) -> None:
    """Mask card numbers and secrets in an exception's string arguments (and its chain), in place."""
    if exc is None or depth > 5:
        return
    with contextlib.suppress(AttributeError, TypeError):
        exc.args = tuple(_redact(config, a) if isinstance(a, str) else a for a in exc.args)
    _redact_exception(config, exc.__cause__ or exc.__context__, depth + 1)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Innermost wrapper: redact before the report exists, and its text right after, before anyone reads it."""
    if call.excinfo is not None:
        _redact_exception(item.config, call.excinfo.value)
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    config = item.config
    if report.failed or hasattr(report, "wasxfail"):
        item.stash[_NOT_PASSED] = True
    if report.failed:
        labels.title_failure(report, _requirement_ids(item))
    if report.sections:
        report.sections = [(name, _redact(config, text)) for name, text in report.sections]
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, reason = report.longrepr
        report.longrepr = (path, line, _redact(config, str(reason)))
    elif report.longrepr is not None:
        text = report.longreprtext
        masked = _redact(config, text)
        if masked != text:
            report.longrepr = labels.titled(masked, _requirement_ids(item)) if report.failed else masked


# ------------------------------------------------------------------ Allure history ids


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Give each parametrized case its own stable Allure history id, and show parameter values masked."""
    if not item.config.pluginmanager.has_plugin("allure_listener"):
        return
    labels.allure_labels(_requirement_ids(item))
    callspec = getattr(item, "callspec", None)
    # Items parametrized without a callspec (schemathesis' one item per API operation) carry their case id in
    # the name only: without it, all of a function's cases would share one history id.
    case_id = callspec.id if callspec is not None else labels.case_id(item.name)
    if case_id is None:
        return
    import allure
    from allure_commons.utils import represent

    for name, value in (callspec.params.items() if callspec is not None else ()):
        shown = represent(value)
        masked = _redact(item.config, shown)
        allure.dynamic.parameter(name, value if masked == shown else masked, excluded=True)
    allure.dynamic.parameter(_HISTORY_PARAM, _redact(item.config, case_id))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, None]:
    """Attach the HAR evidence of a test that did not pass to its Allure result, once the recorder has spooled
    it (at teardown): its first exchanges, as many as report.json inlines, naming the packed file that holds
    them all. Passed tests' evidence stays in evidence/ and report.html only: attached to every result (or
    all of a contract test's hundreds), it was the run's evidence a second time, uncompressed."""
    yield
    if not item.stash.get(_NOT_PASSED, False) or not item.config.pluginmanager.has_plugin("allure_listener"):
        return
    from harness.evidence import active_recorder

    recorder = active_recorder()
    from harness.report.model import INLINE_EXCHANGES_NOT_PASSED

    har = recorder.last_spooled(item.nodeid, INLINE_EXCHANGES_NOT_PASSED) if recorder is not None else None
    if har is not None:
        labels.attach_evidence(har)
