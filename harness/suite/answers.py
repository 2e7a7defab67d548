"""The checks every API's answers share: a JSON body, an HTTP status (both APIs' checks modules use these and
offer them under the same names, harness/suite/checks.py)."""

from __future__ import annotations

from typing import Any

import httpx

from .failure import fail, show


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        fail(f"the body is not JSON: {show(response)}")


def expect_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        fail(f"expected HTTP {status}: {show(response)}")
