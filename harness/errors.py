"""Every error paycert raises on purpose, under one root, so a caller can catch them all in one clause.

The tree (modules that raise each; a second base in brackets is kept so that code catching the standard
exception keeps working)::

    PaycertError
    ├── CatalogError [ValueError] ........ harness.catalog: a catalog file unreadable, invalid, or no such entry
    ├── ConfigError [ValueError] ......... harness.config: a missing or malformed setting
    ├── OpenAPIError [ValueError] ........ harness.openapi: no such document, operation, status or component
    ├── SchemaMismatch [ValueError] ...... harness.openapi: an instance that does not match its schema
    ├── ClientError ...................... harness.clients: the client layer
    │   ├── InfrastructureError .......... retries exhausted on 429/5xx, a transport error, no budget left
    │   └── BudgetTimeout [TimeoutError] . harness.clients.budget: no request slot came free in time
    ├── ControlError [RuntimeError] ...... harness.simulator_control: the control interface refused a call
    ├── ThreeDSError [RuntimeError] ...... harness.threeds: the customer step could not be completed
    ├── ReportError [ValueError] ......... harness.report: bad input to the report layer
    │   └── PackageRefused ............... harness.report.package: the verdict allows no package
    ├── MutationError [ValueError] ....... harness.mutation: an unknown API or defect name
    ├── ScaffoldError [ValueError] ....... harness.scaffold: a directory `paycert init` cannot write into
    └── UsageFailure ..................... harness.cli: a command line the user can fix

Every str() is one line a user can act on (the CLI prints it and exits 2), and never holds a card number or a
secret. The simulator's own exceptions (`ApiError`, `BPError`, ...) are not here: they never leave the
simulator, which turns each into the documented HTTP error answer. `tests/test_errors.py` checks that this
drawing and the classes agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BudgetTimeout",
    "CatalogError",
    "ClientError",
    "ConfigError",
    "ControlError",
    "InfrastructureError",
    "MutationError",
    "OpenAPIError",
    "PaycertError",
    "ReportError",
    "ScaffoldError",
    "SchemaMismatch",
    "ThreeDSError",
]


class PaycertError(Exception):
    """The root: anything paycert raises on purpose."""


class CatalogError(PaycertError, ValueError):
    """A catalog file that cannot be read or does not match its model, or a look-up of an entry it lacks.

    The message names the file and the field or the id.
    """


class ConfigError(PaycertError, ValueError):
    """A missing or malformed setting; str() is the one line to show the user."""


class OpenAPIError(PaycertError, ValueError):
    """A document, operation, status, component or example that does not exist or cannot be read."""


class SchemaMismatch(PaycertError, ValueError):
    """An instance that does not match its schema; `problems` lists each one as "<where>: <what>"."""

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{what} does not match the contract: " + "; ".join(problems))


class ClientError(PaycertError):
    """Base of the exceptions raised by the client layer."""


class InfrastructureError(ClientError):
    """The operation could not complete for reasons outside the contract: retries exhausted on 429/5xx,
    a transport error, or no request budget left. The report counts these apart from contract failures.

    `response` is the last response (None after a transport error), `exception` the last exception (None when
    the last attempt got a response).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        attempts: int,
        response: httpx.Response | None = None,
        exception: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.attempts = attempts
        self.response = response
        self.exception = exception


class BudgetTimeout(ClientError, TimeoutError):
    """No slot came free within `max_wait`; the client reports it as an infrastructure failure."""


class ControlError(PaycertError, RuntimeError):
    """The simulator's control interface answered a call with an error; the message gives path and status."""


class ThreeDSError(PaycertError, RuntimeError):
    """The customer step could not be completed; the message says which page and why."""


class ReportError(PaycertError, ValueError):
    """Bad input to the report layer; str() names the file, the entry and what is wrong."""


class MutationError(PaycertError, ValueError):
    """A bad argument (unknown API or defect name, missing suites directory); the message says which."""


class ScaffoldError(PaycertError, ValueError):
    """`paycert init` cannot write where it was pointed (not a directory, no permission); names the path."""
