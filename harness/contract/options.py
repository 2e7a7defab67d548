"""The contract suite's run options: test kinds, the case budget, the seed, and where cases are cached.

Request volume: ``PAYCERT_CONTRACT_MAX_EXAMPLES`` bounds the generated cases per operation and test kind
(default: enough for >= 1,000 cases per API against a simulator, a small number against a sandbox, where
every BetterCharge request also takes a slot of the run's shared request budget, and where schemathesis'
unbounded coverage phase is off unless ``PAYCERT_CONTRACT_COVERAGE=1``). ``PAYCERT_CONTRACT_SEED`` repeats a
run's generation. The values come from the run's settings (``harness.config.Settings.variables``: .env
overlaid by the environment, or the file ``paycert certify`` hands over), resolved once per process.

Test kinds (each a schemathesis test per operation, except `stateful`):

    conformance      schema-valid data; every default check except the data-acceptance pair   -> mandatory
    negative         schema-invalid data; same checks (never a 5xx, documented answers)        -> mandatory
    data_validation  both kinds; only negative_data_rejection and positive_data_acceptance     -> advisory
    stateful         chains of operations along the documents' OpenAPI links                   -> mandatory
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import pytest

from harness.catalog import bettercharge
from harness.contract.cases import default_cache_dir

__all__ = ["KINDS", "MANDATORY_KINDS", "RUN", "Kind", "RunOptions", "configure", "kind_of"]

Kind = Literal["conformance", "negative", "data_validation", "stateful"]
KINDS: Final[tuple[Kind, ...]] = ("conformance", "negative", "data_validation", "stateful")
MANDATORY_KINDS: Final[tuple[Kind, ...]] = ("conformance", "negative", "stateful")

MAX_EXAMPLES_ENV: Final = "PAYCERT_CONTRACT_MAX_EXAMPLES"
SEED_ENV: Final = "PAYCERT_CONTRACT_SEED"
COVERAGE_ENV: Final = "PAYCERT_CONTRACT_COVERAGE"
#: A fixed default makes certification runs reproducible (set PAYCERT_CONTRACT_SEED to explore others). Some
#: seeds make hypothesis-jsonschema fail to build negative data for POST /rest/payment ("result is not
#: supported in canonical form": a generator limitation, not an API finding); this one generates for every
#: operation of both documents.
DEFAULT_SEED: Final = 2447653004
#: Per operation and test kind. The simulator default gives >= 1,000 mandatory cases per API on a normal run;
#: the sandbox default keeps a whole contract run to a few hundred requests.
DEFAULT_MAX_EXAMPLES: Final = {"simulator": 40, "sandbox": 5}
#: Stateful: as many scenarios as examples per operation, each at most this many steps.
STATEFUL_MAX_STEPS: Final = 8


@dataclass
class RunOptions:
    """Resolved once per process (the suite's pytest_configure), read when the tests build schemas."""

    target: str = "simulator"
    max_examples: int = DEFAULT_MAX_EXAMPLES["simulator"]
    seed: int = DEFAULT_SEED
    merchant_id: str | None = None  # BetterCharge merchant for realistic requests (simulator default)
    coverage: bool = False  # PAYCERT_CONTRACT_COVERAGE=1: the coverage phase against a sandbox too
    cache_dir: Path | None = None  # PAYCERT_CACHE_DIR (harness.contract.cases.default_cache_dir)

    @property
    def coverage_phase(self) -> bool:
        """schemathesis' coverage phase: always against a simulator, on a sandbox only when asked for."""
        return self.target == "simulator" or self.coverage


RUN = RunOptions()


def configure(target: str, variables: Mapping[str, str]) -> RunOptions:
    """Fix the case budget and the seed for this process; a bad value is a usage error naming the variable."""
    raw = variables.get(MAX_EXAMPLES_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise pytest.UsageError(f"{MAX_EXAMPLES_ENV}: not an integer: {raw!r}") from None
        if not 1 <= value <= 100_000:
            raise pytest.UsageError(f"{MAX_EXAMPLES_ENV}: must be between 1 and 100000, got {value}")
    else:
        value = DEFAULT_MAX_EXAMPLES.get(target, DEFAULT_MAX_EXAMPLES["sandbox"])
    seed_raw = variables.get(SEED_ENV, "").strip()
    try:
        seed = int(seed_raw) if seed_raw else DEFAULT_SEED
    except ValueError:
        raise pytest.UsageError(f"{SEED_ENV}: not an integer: {seed_raw!r}") from None
    RUN.target, RUN.max_examples, RUN.seed = target, value, seed
    RUN.coverage = variables.get(COVERAGE_ENV, "").strip().lower() in ("1", "true", "yes")
    RUN.cache_dir = default_cache_dir(variables)
    RUN.merchant_id = variables.get("BETTERCHARGE_MERCHANT_ID") or (
        bettercharge().simulator.merchant_id if target == "simulator" else None)
    return RUN


def kind_of(node: Any) -> Kind:
    """The test kind a contract test's name carries (test_conformance, test_stateful_payments, ...)."""
    name = getattr(node, "originalname", None) or node.name
    for kind in KINDS:
        if kind in name:
            return kind
    raise pytest.UsageError(f"{node.nodeid}: contract test names must contain one of {KINDS}")
