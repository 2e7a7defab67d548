"""The schemathesis schema of each API's document per test kind, and the cases drawn from it.

Why schemathesis: it generates requests from the OpenAPI documents (fixtures/<api>/openapi.yaml), sends them
and runs its checks on every answer (no 5xx, status code, content type, headers and body as documented, auth
enforced, resources available after creation, ...). Hand-written suites prove documented behaviour row by row;
the contract suite proves that nothing outside those rows breaks the contract.

The data-acceptance pair of checks is advisory (the `data_validation` kind only) because it is known for false
positives: a schema cannot say "this card expired" or "this merchant does not exist", so schema-valid requests
are rightly refused (and some invalid ones accepted) by a correct API.

Cases of the stateless kinds are generated once per document, seed and settings and replayed from the case
cache after that (harness.contract.cases); the key covers everything they depend on, this package's source
and the catalog included.
"""

from __future__ import annotations

import copy
import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.config._output import DEFAULT_KEYS_TO_SANITIZE, DEFAULT_SENSITIVE_MARKERS

from harness import openapi
from harness.contract.cases import CaseCache, cache_key, default_cache_dir
from harness.contract.options import RUN, STATEFUL_MAX_STEPS, Kind
from harness.contract.realistic import REALISTIC, future_year
from harness.paths import fixtures_dir

__all__ = ["build_schema", "generated_cases", "operation_labels"]

#: Request fields holding card data, filtered out of schemathesis' failure reports.
CARD_KEYS: Final = ("number", "cvv", "card_number", "card_cvv", "pan")
#: schemathesis' advisory pair (see the module docstring).
ADVISORY_CHECKS: Final = ("negative_data_rejection", "positive_data_acceptance")


def _config(api: str, kind: Kind) -> SchemathesisConfig:
    checks: dict[str, Any]
    if kind == "data_validation":
        checks = {"enabled": False, **{name: {"enabled": True} for name in ADVISORY_CHECKS}}
    else:
        checks = {name: {"enabled": False} for name in ADVISORY_CHECKS}
    mode = {"conformance": "positive", "negative": "negative", "data_validation": "all", "stateful": "positive"}[kind]
    data: dict[str, Any] = {
        "seed": RUN.seed,
        "generation": {
            "mode": mode,
            "max-examples": RUN.max_examples,
            # Credentials are ours (explicit headers on every call), never generated: a generated x-api-key
            # overridden by the real one would turn a "negative" case into a valid one.
            "with-security-parameters": False,
            # No .hypothesis/ directory in the checkout.
            "database": "none",
        },
        "checks": checks,
        # The coverage phase (boundary values, missing required parts, undeclared methods) is not bounded by
        # max-examples: dozens of requests per operation. Against a sandbox it stays off unless asked for.
        "phases": {"stateful": {"max-steps": STATEFUL_MAX_STEPS},
                   "coverage": {"enabled": RUN.coverage_phase}},
        # Health checks guard pure-Python property tests; here slowness is the network, and the sender fixture
        # (function-scoped) is meant to live across all of an operation's cases.
        "suppress-health-check": ["all"],
        # Failure reports carry a curl line with the request body: keep card data out of them (the report's
        # leak audit would rightly fail the run on a full test PAN).
        "output": {"sanitization": {"keys-to-sanitize": [*DEFAULT_KEYS_TO_SANITIZE, *CARD_KEYS],
                                    "sensitive-markers": [*DEFAULT_SENSITIVE_MARKERS, "cvv"]}},
    }
    return SchemathesisConfig.from_dict(data)


HTTP_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operation_labels(api: str) -> list[str]:
    """The document's operations as schemathesis labels them ("POST /payments/authorize"), read from the YAML.

    Collection needs only these names; the schemas, their generators and the cases are built when a test runs,
    in the worker that runs it (schemathesis' own pytest plugin builds every operation's Hypothesis test, its
    coverage cases included, at collection, and again in every xdist worker: 46 s before the first result).
    """
    paths = openapi.document(api).get("paths") or {}
    return [f"{method.upper()} {path}" for path, item in paths.items() if isinstance(item, dict)
            for method in HTTP_METHODS if method in item]


@cache
def build_schema(api: str, kind: Kind) -> Any:
    """The schemathesis schema of one API's document, configured for one test kind (one per process).

    Positive kinds get the realistic-data hooks: half of their cases carry values the target can act on (a
    known merchant, a test card, a fresh order reference), so success answers are checked against the document
    too, not only the error answers random data provokes.
    """
    schema = schemathesis.openapi.from_dict(copy.deepcopy(openapi.document(api)), config=_config(api, kind))
    if kind in ("conformance", "stateful"):
        realistic = REALISTIC[api]

        # schemathesis tags hook functions with attributes, which bound methods cannot carry.
        def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
            return realistic.flatmap_body(context, body)

        def flatmap_path_parameters(context: schemathesis.HookContext,
                                    path_parameters: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
            return realistic.flatmap_path_parameters(context, path_parameters)

        def flatmap_headers(context: schemathesis.HookContext, headers: Any) -> st.SearchStrategy[Any]:
            return realistic.flatmap_headers(context, headers)

        schema.hook(flatmap_body)
        schema.hook(flatmap_path_parameters)
        schema.hook(flatmap_headers)
    return schema


@cache
def _generation_inputs() -> str:
    """A digest of what the cases depend on besides the document and the settings: the realistic-data hooks
    (this package, harness.contract), the catalog they draw test cards and merchants from, and the hash seed."""
    digest = hashlib.sha256()
    sources = sorted(Path(__file__).parent.glob("*.py"))
    for path in [*sources, *sorted((fixtures_dir() / "catalog").glob("*.yaml"))]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(os.environ.get("PYTHONHASHSEED", "random").encode())
    return digest.hexdigest()


def generated_cases(api: str, kind: Kind, label: str) -> tuple[list[Any], bool]:
    """The cases of one operation and kind: from the cache when the same inputs generated them before
    (True), else generated now and stored (False)."""
    from harness.contract.cases import generate

    schema = build_schema(api, kind)
    operation = schema.find_operation_by_label(label)
    if operation is None:
        raise pytest.UsageError(f"{api}: the document has no operation {label}")
    key = cache_key(api, kind, label, openapi.sha256(api), RUN.seed, RUN.max_examples, RUN.coverage_phase,
                    RUN.target, RUN.merchant_id, future_year(), _generation_inputs())
    store = CaseCache((RUN.cache_dir or default_cache_dir({})) / "contract")
    cases = store.load(key, operation)
    if cases is not None:
        return cases, True
    cases = generate(schema, label)
    store.store(key, cases)
    return cases, False
