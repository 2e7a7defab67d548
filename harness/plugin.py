"""The paycert pytest plugin (registered through the `pytest11` entry point).

It gives the suites their target (the embedded simulator, a running one, or a sandbox), the API clients,
the simulator's control interface, and it turns each test's outcome into requirement evidence:

- `@pytest.mark.requirement("BC-CARD-01", ...)` names the catalog requirements a test proves; an unknown id
  is a collection error, so a renamed catalog row cannot silently orphan a test.
- `@pytest.mark.simulator_only` tests need the control interface; on a sandbox they are skipped as
  "not verifiable on this target", never counted as passed. A fixture or test that finds the target cannot
  verify it calls `not_verifiable(reason)`: the skip is typed, so the outcome never depends on the wording.
- a failing test whose requirements are all advisory is reported as xfailed ("advisory"), not failed;
- a failure caused by the clients' InfrastructureError (sandbox 5xx, 429, timeouts after retries) is
  classified as infrastructure, not contract.

The controller process collects every report (xdist ships `user_properties` from the workers) and, with
--paycert-results FILE, writes them as JSON for the report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest

from harness.config import APIS, ConfigError, Settings, configure_loading, current_settings

if TYPE_CHECKING:  # imported where used: a plain `pytest` of the project's own tests never needs them
    from harness.clients import BetterChargeClient, BetterPaymentClient
    from harness.evidence import EvidenceRecorder
    from harness.simulator_control import SimulatorControl

NOT_VERIFIABLE = "not verifiable on this target: needs the simulator's control interface"
ADVISORY = "advisory requirement not met"
#: user_properties the plugin ships from the xdist workers for its own bookkeeping (requirement ids, weights,
#: outcomes' classes, requests spent per API, calibration observations, contract case counts): results.json and
#: the report hold what they say, so certify drops them from junit.xml (harness/report/junit.py), where they were
#: a third of its bytes. The properties JUnit readers are promised (requirement, provenance, weight) stay.
TRANSPORT_PROPERTIES: frozenset[str] = frozenset({"requirements", "advisory", "not_verifiable", "observations",
                                                  "classification", "requests", "paycert_contract_cases"})
#: Each finished test's record, appended as it ends (what `paycert certify --resume` reads of a run killed before
#: results.json was written; harness/report/resume.py).
PARTIAL_RESULTS = "results.partial.jsonl"


class NotVerifiable(pytest.skip.Exception):  # type: ignore[name-defined]
    """A skip because this target cannot verify the test; reported as not verifiable, never as passed.

    `setting` names the optional setting that would make the test verifiable on this target (a public postback
    URL); None means only the simulator's control interface can.
    """

    def __init__(self, reason: str, setting: str | None = None) -> None:
        super().__init__(reason)
        self.setting = setting


def not_verifiable(reason: str = NOT_VERIFIABLE, *, setting: str | None = None) -> NoReturn:
    """Skip the running test as not verifiable on this target, saying why in `reason` (and, when an optional
    setting would make it verifiable, which one in `setting`)."""
    raise NotVerifiable(reason, setting)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paycert")
    group.addoption("--paycert-target", choices=["simulator", "sandbox"], default=None,
                    help="target to certify (default: PAYCERT_TARGET, else simulator)")
    group.addoption("--paycert-env-file", type=Path, default=None, help="a .env file with the settings")
    group.addoption("--paycert-allow-production", action="store_true", default=False,
                    help="allow production hosts (refused by default)")
    group.addoption("--paycert-results", type=Path, default=None,
                    help="write every test's outcome and requirements to this JSON file")
    group.addoption("--paycert-evidence", type=Path, default=None,
                    help="write each test's masked HTTP exchanges as HAR files into this directory")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): catalog requirement ids this test proves")
    config.addinivalue_line("markers", "simulator_only: needs the simulator's control interface")
    config.addinivalue_line("markers", "provokes_rate_limit(fresh_window=False): goes past the rate limit on "
                                       "purpose (its 429s are counted apart from the run's unplanned ones); "
                                       "fresh_window: it needs a window nobody has used yet")
    config.pluginmanager.register(_Collector(config), "paycert-collector")
    # Settings load lazily (the project's own tests never need them); this says how, for a plain pytest run.
    # A run of `paycert certify` hands its settings over in a file instead (harness.config).
    raw_apis = config.getoption("--paycert-apis", None)
    apis = tuple(a.strip() for a in raw_apis.split(",") if a.strip()) if raw_apis else APIS
    configure_loading(env_file=config.getoption("--paycert-env-file"), target=config.getoption("--paycert-target"),
                      allow_production=config.getoption("--paycert-allow-production"), apis=apis)
    from harness.contract.counts import ContractCounts

    config.pluginmanager.register(ContractCounts(), "paycert-contract-counts")


def _requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(a) for a in mark.args)
    return ids


def _rate_limit_order(item: pytest.Item) -> int:
    mark = item.get_closest_marker("provokes_rate_limit")
    if mark is None:
        return 2
    return 1 if mark.kwargs.get("fresh_window") else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The rate-limit tests first, one after the other: the one that drains whatever window is open, then those
    that need a fresh window (each starts as the one before it ran out). Anywhere else, a fresh-window test
    waits out a window the other tests had only partly spent, and a sandbox run pays that idle time against
    its floor (requests / 100 per minute; benchmarks/sandbox_floor.py). A stable sort: the rest keep their
    order."""
    items.sort(key=_rate_limit_order)
    if not any(item.get_closest_marker("requirement") for item in items):
        return
    from harness.catalog import all_requirements

    known = {r.id: r for r in all_requirements()}
    unknown: list[str] = []
    for item in items:
        ids = _requirement_ids(item)
        unknown.extend(f"{item.nodeid}: {i}" for i in ids if i not in known)
        weights = {known[i].weight for i in ids if i in known}
        item.user_properties.append(("requirements", ids))
        item.user_properties.append(("advisory", bool(weights) and weights == {"advisory"}))
    if unknown:
        raise pytest.UsageError("tests name requirements the catalog does not have:\n  " + "\n  ".join(unknown))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(NotVerifiable):
        report.user_properties.append(("not_verifiable", getattr(call.excinfo.value, "setting", None) or True))
        if isinstance(report.longrepr, tuple):  # shown as "Skipped: <reason>" like any skip, not by class name
            path, lineno, _ = report.longrepr
            report.longrepr = (path, lineno, f"Skipped: {call.excinfo.value.args[0]}")
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return report
    if item.get_closest_marker("requirement") is None:
        return report  # the project's own tests are not certification evidence
    if call.excinfo is not None and report.failed:
        from harness.catalog.overlay import Mismatch
        from harness.clients import InfrastructureError

        mismatch = call.excinfo.value
        if isinstance(mismatch, Mismatch):  # expected and observed, for the unconfirmed assumptions
            report.user_properties.append(("observations", [_masked(mismatch.to_json())]))
        if call.excinfo.errisinstance(InfrastructureError):
            report.user_properties.append(("classification", "infrastructure"))
        elif dict(item.user_properties).get("advisory"):
            report.outcome = "skipped"
            report.wasxfail = f"{ADVISORY}: {call.excinfo.exconly()[:500]}"
            report.user_properties.append(("classification", "advisory"))
        else:
            report.user_properties.append(("classification", "contract"))
    return report


def _masked(observation: dict[str, Any]) -> dict[str, Any]:
    """Observed values go into the report: mask them like every other text there."""
    from harness.catalog import bettercharge
    from harness.redaction import redact_text

    try:
        secrets = current_settings().secrets
    except ConfigError:
        secrets = ()
    pans = [c.pan for c in bettercharge().cards]
    return {k: redact_text(v, secrets, known_pans=pans) if isinstance(v, str) else v for k, v in observation.items()}


class _Collector:
    """Gathers one record per test on the controller and writes them at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        rec = self.records.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "requirements": props.get("requirements", []),
            "outcome": "passed", "classification": None, "message": "", "duration": 0.0,
        })
        rec["duration"] += report.duration
        if report.when == "teardown" and props.get("requests"):
            rec["requests"] = props["requests"]
        if props.get("observations"):
            rec["observations"] = props["observations"]
        if report.when == "call" or report.failed or report.skipped:
            if hasattr(report, "wasxfail"):
                rec["outcome"] = "advisory" if props.get("classification") == "advisory" else "xfailed"
                rec["message"] = str(report.wasxfail)
            elif report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                rec["outcome"] = "not_verifiable" if props.get("not_verifiable") else "skipped"
                rec["message"] = reason.removeprefix("Skipped: ")
                if isinstance(props.get("not_verifiable"), str):
                    rec["needs_setting"] = props["not_verifiable"]
            elif report.failed:
                rec["outcome"] = "failed" if report.when == "call" else "error"
                rec["classification"] = props.get("classification", "contract")
                rec["message"] = report.longreprtext[-4000:]
            elif rec["outcome"] == "passed":
                rec["outcome"] = "passed"
        if report.when == "teardown":
            self._append_partial(rec)

    def _append_partial(self, rec: dict[str, Any]) -> None:
        """Each finished test at once, so an interrupted run can be resumed (harness.report.resume)."""
        target = self.config.getoption("--paycert-results")
        if target is None or hasattr(self.config, "workerinput"):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with (target.parent / PARTIAL_RESULTS).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(rec) + "\n")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        evidence = self.config.getoption("--paycert-evidence")
        if evidence is not None:  # every worker has finished: fold their spools into one HAR per module
            from harness.evidence import pack

            pack(evidence)
        target = self.config.getoption("--paycert-results")
        if target is None:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(sorted(self.records.values(), key=lambda r: r["nodeid"]), separators=(",", ":")))
        # results.json now holds every record the partial log held (resume reads it first): one copy is kept
        (target.parent / PARTIAL_RESULTS).unlink(missing_ok=True)


# ---------------------------------------------------------------- fixtures


def run_settings() -> Settings:
    """The run's settings (harness.config.current_settings) or a usage error naming the variable."""
    try:
        return current_settings()
    except ConfigError as exc:
        raise pytest.UsageError(f"paycert configuration: {exc}") from None


@pytest.fixture(scope="session")
def paycert_settings() -> Settings:
    settings = run_settings()
    if settings.ca_bundle:
        # httpx (trust_env) and requests read these: every client of the run trusts the configured CAs.
        os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = settings.ca_bundle
    return settings


class Target:
    """Where the suites send their requests, and whether the simulator's control interface is there."""

    def __init__(self, settings: Settings, simulator_url: str | None, embedded: bool) -> None:
        self.settings = settings
        self.name = settings.target
        self.simulator_url = simulator_url
        self.embedded = embedded

    @property
    def is_simulator(self) -> bool:
        return self.simulator_url is not None

    def base_url(self, api: str) -> str:
        if api not in self.settings.apis:
            pytest.skip(f"{api} is not in this run's scope (--api {','.join(self.settings.apis)})")
        if self.simulator_url:
            return self.simulator_url
        return getattr(self.settings, api).base_url


@pytest.fixture(scope="session")
def paycert_target(pytestconfig: pytest.Config, paycert_settings: Settings) -> Iterator[Target]:
    from harness.simulator_control import use_token

    # A shared simulator's control token (paycert simulate --control-token), for every control call of the run.
    use_token(paycert_settings.simulator_control_token)
    if paycert_settings.target == "sandbox":
        yield Target(paycert_settings, None, embedded=False)
        return
    if paycert_settings.simulator_url:
        yield Target(paycert_settings, paycert_settings.simulator_url, embedded=False)
        return
    from harness.simulator.server import start
    from harness.simulator.state import SimulatorConfig

    bp, bc = paycert_settings.betterpayment, paycert_settings.bettercharge
    running = start(SimulatorConfig(
        bettercharge_api_key=bc.api_key, bettercharge_partner_id=bc.partner_id,
        betterpayment_api_key=bp.api_key, betterpayment_api_password=bp.api_password,
        betterpayment_incoming_key=bp.incoming_key, betterpayment_webhook_key=bp.webhook_key,
    ))
    try:
        yield Target(paycert_settings, running.url, embedded=True)
    finally:
        running.stop()


@pytest.fixture(scope="session")
def _paycert_control_http(paycert_target: Target) -> Iterator[SimulatorControl]:
    """One connection for the per-test resets: a new httpx client per test costs a CA-store load each time."""
    from harness.simulator_control import SimulatorControl

    with SimulatorControl(paycert_target.simulator_url or "http://127.0.0.1") as control:
        yield control


@pytest.fixture(autouse=True)
def _paycert_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    """Embedded simulator: reset before each test (pytest-httpserver style: start once, reset often).

    Only suites use the target; the project's own tests never touch it unless they ask for it.
    """
    if "paycert_target" in request.fixturenames:
        target: Target = request.getfixturevalue("paycert_target")
        if target.embedded:
            request.getfixturevalue("_paycert_control_http").reset()
        if request.node.get_closest_marker("simulator_only") and not target.is_simulator:
            not_verifiable()
    yield


@pytest.fixture(scope="session")
def paycert_evidence(pytestconfig: pytest.Config, paycert_settings: Settings) -> Iterator[EvidenceRecorder]:
    """The process-wide evidence recorder; each case is spooled to --paycert-evidence as it ends (and packed into
    one gzip'd HAR per module when the run ends, harness.evidence.pack)."""
    from harness.catalog import known_pans
    from harness.evidence import EvidenceRecorder, set_active_recorder

    recorder = EvidenceRecorder(pytestconfig.getoption("--paycert-evidence"), secrets=paycert_settings.secrets,
                                known_pans=known_pans())
    previous = set_active_recorder(recorder)
    yield recorder
    set_active_recorder(previous)


@pytest.fixture(autouse=True)
def _paycert_evidence_case(request: pytest.FixtureRequest) -> Iterator[None]:
    """Suite tests record their exchanges under their node id; the project's own tests record nothing."""
    if request.node.get_closest_marker("requirement") is None:
        yield
        return
    recorder = request.getfixturevalue("paycert_evidence")
    sent: dict[str, list[int]] = {}
    provoked = request.node.get_closest_marker("provokes_rate_limit") is not None
    with recorder.case(request.node.nodeid):
        try:
            yield
        finally:
            for exchange in recorder.exchanges(request.node.nodeid):
                api = api_of_path(urlsplit(exchange.url).path)
                if api is not None and exchange.status != 0:
                    counts = sent.setdefault(api, [0, 0, 0])
                    counts[0] += 1
                    counts[2 if provoked else 1] += exchange.status == 429
    # requests this test spent per API, how many were answered 429 unplanned and how many on purpose (the
    # report's budget section: a budgeted run must have no unplanned one)
    request.node.user_properties.append(("requests", sent))


def api_of_path(path: str) -> str | None:
    """Which API a request path belongs to (both share one URL on the simulator); None for the control routes."""
    if path.startswith("/_simulator"):
        return None
    return "betterpayment" if path.startswith(("/rest", "/acs", "/bank")) else "bettercharge"


@pytest.fixture
def simulator_control(paycert_target: Target) -> Iterator[SimulatorControl]:
    """The simulator's control interface; a test asking for it is only verifiable on a simulator."""
    if not paycert_target.is_simulator:
        not_verifiable()
    from harness.simulator_control import SimulatorControl

    control = SimulatorControl(paycert_target.simulator_url or "")
    yield control
    control.close()


@pytest.fixture(scope="session")
def bettercharge_client(paycert_target: Target) -> Iterator[BetterChargeClient]:
    """A BetterCharge client for the target; against a sandbox it shares the run's request budget.

    Session-scoped: clients hold no per-test state (evidence follows the current case, not the client).
    """
    from harness.clients.bettercharge import BetterChargeClient, rate_limit_budget

    s = paycert_target.settings.bettercharge
    base_url = paycert_target.base_url("bettercharge")
    budget = (rate_limit_budget(s.api_key, directory=paycert_target.settings.budget_dir)
              if not paycert_target.embedded and paycert_target.name == "sandbox" else None)
    client = BetterChargeClient(base_url, s.api_key, s.partner_id, budget=budget)
    yield client
    client.close()


@pytest.fixture(scope="session")
def betterpayment_client(paycert_target: Target) -> Iterator[BetterPaymentClient]:
    from harness.clients.betterpayment import BetterPaymentClient

    s = paycert_target.settings.betterpayment
    client = BetterPaymentClient(paycert_target.base_url("betterpayment"), s.api_key, s.api_password)
    yield client
    client.close()
