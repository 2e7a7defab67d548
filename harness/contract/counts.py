"""The contract suite's case counts, gathered on the pytest controller and written for the report.

Why here and not in suites/contract/conftest.py: under pytest-xdist the controller never collects, so a
conftest below the directory given on the command line (``pytest suites``, what certify runs) is not loaded
there and its hooks never see a report; the counts were lost and the report could not say how many cases it
generated. harness.plugin registers this plugin in every process; the workers' tests report their cases as a
user property at teardown (xdist ships those to the controller), and the controller sums them, prints one
summary line and, with ``PAYCERT_CONTRACT_STATS=<file>``, writes them as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest

from harness.contract.options import MANDATORY_KINDS

__all__ = ["PROPERTY", "STATS_ENV", "ContractCounts"]

PROPERTY: Final = "paycert_contract_cases"
STATS_ENV: Final = "PAYCERT_CONTRACT_STATS"


class ContractCounts:
    """Cases per API and kind, and the answers' status codes, summed from the reports' user properties."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, int]] = {}
        self.statuses: dict[str, dict[str, int]] = {}
        self.settings: dict[str, Any] = {}

    def add(self, api: str, kind: str, cases: int, statuses: Mapping[int, int] | Mapping[str, int]) -> None:
        per_api = self.cases.setdefault(api, {})
        per_api[kind] = per_api.get(kind, 0) + cases
        seen = self.statuses.setdefault(api, {})
        for status, count in statuses.items():
            seen[str(status)] = seen.get(str(status), 0) + count

    def mandatory(self, api: str) -> int:
        return sum(n for kind, n in self.cases.get(api, {}).items() if kind in MANDATORY_KINDS)

    def as_dict(self) -> dict[str, Any]:
        return {**self.settings,
                "apis": {api: {"mandatory_cases": self.mandatory(api), "by_kind": self.cases.get(api, {}),
                               "statuses": self.statuses.get(api, {})} for api in sorted(self.cases)}}

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=1), encoding="utf-8")

    # ------------------------------------------------------------ pytest hooks

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == PROPERTY and isinstance(value, dict):
                self.add(str(value["api"]), str(value["kind"]), int(value["cases"]), value.get("statuses", {}))
                self.settings = {k: value[k] for k in ("seed", "max_examples", "target") if k in value}

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if hasattr(config, "workerinput") or not self.cases:
            return
        parts = []
        for api in sorted(self.cases):
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.cases[api].items()))
            parts.append(f"{api} {self.mandatory(api)} mandatory cases ({kinds})")
        terminalreporter.write_line(f"paycert contract: {'; '.join(parts)}; seed {self.settings.get('seed')}, "
                                    f"max examples {self.settings.get('max_examples')}")
        from harness.config import ConfigError, current_settings

        try:
            stats = current_settings().variables.get(STATS_ENV, "").strip()
        except ConfigError:
            return  # the plugin has reported it; there is no run to count for
        if stats:
            self.write(Path(stats))
