"""The JSON answers of the BetterCharge simulator: error bodies from the catalog, and the plain HTTP ones.

Error rows are referenced by their stable catalog id; their code, status and message text live only in
fixtures/catalog/bettercharge.yaml. Answers with no row in the seed (unknown path, wrong method, 429) are
built from the HTTP status phrase in the same {code, error, message} shape (adopted).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from harness.catalog import bettercharge
from harness.catalog.bettercharge import ErrorRow

# Catalog error ids the simulator raises by name (the transition table names its own).
BAD_REQUEST = "BC-ERR-400-BAD-REQUEST"
CARD_EXPIRED = "BC-ERR-400-CARD-EXPIRED"
CARD_TOO_CLOSE = "BC-ERR-400-CARD-TOO-CLOSE"
PSP_VALIDATION = "BC-ERR-400-PSP-VALIDATION"
INVALID_ACCOUNT = "BC-ERR-400-INVALID-ACCOUNT"
INVALID_REFUND = "BC-ERR-400-INVALID-REFUND"
INVALID_VOID = "BC-ERR-400-INVALID-VOID"
REFUND_POLICY = "BC-ERR-400-REFUND-POLICY"
VOID_POLICY = "BC-ERR-400-VOID-POLICY"
UNAUTHORIZED = "BC-ERR-401-UNAUTHORIZED"
FORBIDDEN = "BC-ERR-403-FORBIDDEN"
MERCHANT_NOT_FOUND = "BC-ERR-404-MERCHANT"
PAYMENT_DOES_NOT_EXIST = "BC-ERR-404-PAYMENT"
PARTNER_NOT_FOUND = "BC-ERR-404-PARTNER"
PAYMENT_NOT_FOUND = "BC-ERR-422-PAYMENT-NOT-FOUND"
ALREADY_APPROVED = "BC-ERR-422-ALREADY-APPROVED"
NOT_AUTHORIZED = "BC-ERR-422-NOT-AUTHORIZED"
LOCKED = "BC-ERR-423-LOCKED"

NAMED_ERRORS = (
    BAD_REQUEST, CARD_EXPIRED, CARD_TOO_CLOSE, PSP_VALIDATION, INVALID_ACCOUNT, INVALID_REFUND, INVALID_VOID,
    REFUND_POLICY, VOID_POLICY, UNAUTHORIZED, FORBIDDEN, MERCHANT_NOT_FOUND, PAYMENT_DOES_NOT_EXIST,
    PARTNER_NOT_FOUND, PAYMENT_NOT_FOUND, ALREADY_APPROVED, NOT_AUTHORIZED, LOCKED,
)


def check_catalog() -> None:
    """Fail at start-up, naming the id, if the catalog lost a row the simulator answers with."""
    known = {row.id for row in bettercharge().errors}
    missing = [error_id for error_id in NAMED_ERRORS if error_id not in known]
    if missing:
        raise ValueError(f"catalog bettercharge.yaml lacks error rows the simulator needs: {', '.join(missing)}")


class JsonResponse(Response):
    """A JSON answer. `effect` marks an error that still changed state (e.g. a stored FAILED payment), so
    idempotency keeps it like a success. Text that cannot be UTF-8 encoded is replaced, never a 500."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200, *, effect: bool = False) -> None:
        self.effect = effect
        super().__init__(content, status_code)

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


class ApiError(Exception):
    """A catalog error row to answer with. `status` overrides the row's status (only a defect does that)."""

    def __init__(self, error_id: str, *, status: int | None = None, effect: bool = False, **values: object) -> None:
        super().__init__(error_id)
        self.row: ErrorRow = bettercharge().error(error_id)
        self.status = status if status is not None else self.row.status
        self.effect = effect
        self.values = values

    def body(self, *, fill: bool = True) -> dict[str, str]:
        if fill:
            try:
                return self.row.render(**self.values)
            except (KeyError, IndexError, ValueError):
                pass  # a value the template needs was not given: answer with the bare template, not a 500
        return {"code": self.row.code, "error": self.row.error, "message": self.row.message}


def http_error(status: HTTPStatus, message: str) -> JsonResponse:
    """An answer the seed has no row for, in the seed's error shape (adopted)."""
    return JsonResponse({"code": status.phrase.upper().replace(" ", "_"), "error": status.phrase,
                         "message": message}, status)


def fields_error(fields: list[str]) -> ApiError:
    """400 BAD_REQUEST naming the invalid fields, dotted and sorted."""
    return ApiError(BAD_REQUEST, fields=", ".join(sorted(set(fields))))
