"""The suites' view of the OpenAPI documents (harness.openapi): operation ids and a schema check that fails as
every check does (harness/suite/failure.py), naming each problem."""

from __future__ import annotations

from functools import cache
from typing import Any

from harness import openapi

from .failure import fail


@cache
def operation_id(api: str, method: str, path: str) -> str:
    """The OpenAPI operationId of the operation at this method and path (the catalog names operations; the
    document is the one table of ids, so none is written twice)."""
    return str(openapi.document(api)["paths"][path][method.lower()]["operationId"])


def expect_schema(api: str, target: openapi.SchemaTarget, instance: Any, where: str = "") -> None:
    """`instance` matches the document at `target`; otherwise fail listing every problem."""
    found = openapi.problems(api, target, instance)
    if found:
        fail(f"{target.describe()} does not match the OpenAPI document: {found}{where}")
