"""The checks both APIs' suites share, by name and signature.

`harness.suite.bettercharge.checks` and `harness.suite.betterpayment.checks` each implement `Checks` (mypy checks
both modules against it in `_implemented`), so `expect_status(response, status)` or
`expect_error(response, error_id, ...)` mean the same on either side and a suite of one API reads like the other's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx


class Checks(Protocol):
    """What an API's checks module offers under the same names (each fails through harness.suite.failure)."""

    def json_body(self, response: httpx.Response) -> Any:
        """The JSON body, or a failure naming the exchange."""
        ...

    def expect_status(self, response: httpx.Response, status: int) -> None:
        """The HTTP status is `status`."""
        ...

    def expect_error(self, response: httpx.Response, error_id: str, /, **values: Any) -> Mapping[str, Any]:
        """The answer is exactly the catalog error row `error_id` (its status and body; `values` fill the
        message template's placeholders)."""
        ...


def _implemented() -> tuple[Checks, Checks]:
    """Both APIs' modules, typed as Checks: mypy fails here when one drifts from the shared signatures."""
    from harness.suite.bettercharge import checks as bettercharge_checks
    from harness.suite.betterpayment import checks as betterpayment_checks

    return bettercharge_checks, betterpayment_checks
