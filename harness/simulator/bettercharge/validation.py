"""Reading and checking BetterCharge request bodies, field by field, into typed requests.

Every check names the dotted path of what is wrong, so a bad request always gets a 400 that says which
fields to fix and never reaches the domain code half-checked. Limits where the contract is silent (adopted):
strings up to 255 characters, amounts 1 .. 10^12 minor units, bodies up to 64 KiB, merchant ids of 1 to 64
path-safe characters, Idempotency-Key a UUID.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from harness.simulator import body
from harness.simulator.privacy import mask_pans

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT = 255
MAX_AMOUNT = 10**12
INITIATORS = ("CIT", "MIT")
DEFAULT_INITIATOR = "CIT"
_CURRENCY = re.compile(r"[A-Z]{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PAN = re.compile(r"[0-9]{12,19}")
_CVV = re.compile(r"[0-9]{3,4}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MERCHANT_ID = re.compile(r"[A-Za-z0-9._:~-]{1,64}")  # it is a path segment of /merchants/{merchantId}
IDEMPOTENCY_KEY = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")  # a UUID
BODY = "body"


class Invalid(Exception):
    """The named fields (dotted paths) are missing or invalid."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = sorted(set(fields))
        super().__init__(", ".join(self.fields))


async def read_body(request: Request) -> bytes:
    """The raw body (read at the edge, body.py), refusing more than MAX_BODY_BYTES or one that stalled."""
    try:
        return await body.read(request, MAX_BODY_BYTES)
    except body.BodyError:
        raise Invalid([BODY]) from None


def json_object(raw: bytes, content_type: str | None, *, empty_ok: bool) -> dict[str, Any]:
    """The body as a strict JSON object (body.py). An empty body is {} where the operation takes an optional
    body. A value the edge refuses (a control character, a lone surrogate) is named by its dotted path."""
    if not raw.strip():
        if empty_ok:
            return {}
        raise Invalid([BODY])
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise Invalid([BODY])
    try:
        return body.json_object(raw, empty_ok=False)
    except body.BodyError as exc:
        raise Invalid([exc.path[:255] if exc.kind == body.BAD_VALUE and exc.path else BODY]) from None


class Fields:
    """Reads typed values out of one JSON object, collecting the paths of what is wrong."""

    def __init__(self, body: dict[str, Any], prefix: str = "", errors: list[str] | None = None) -> None:
        self.body = body
        self.prefix = prefix
        self.errors: list[str] = [] if errors is None else errors

    def _path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def _fail(self, key: str) -> None:
        self.errors.append(self._path(key))

    def present(self, key: str) -> bool:
        return key in self.body

    def text(self, key: str, *, required: bool = True, pattern: re.Pattern[str] | None = None,
             max_len: int = MAX_TEXT, choices: tuple[str, ...] | None = None) -> str | None:
        if key not in self.body:
            if required:
                self._fail(key)
            return None
        value = self.body[key]
        if not isinstance(value, str) or not value.strip() or len(value) > max_len or not _encodable(value):
            self._fail(key)
            return None
        if (pattern is not None and not pattern.fullmatch(value)) or (choices is not None and value not in choices):
            self._fail(key)
            return None
        return value

    def integer(self, key: str, *, required: bool = True, low: int = 1, high: int = MAX_AMOUNT) -> int | None:
        if key not in self.body:
            if required:
                self._fail(key)
            return None
        value = self.body[key]
        if not is_int(value) or not low <= value <= high:
            self._fail(key)
            return None
        return int(value)

    def boolean(self, key: str) -> bool | None:
        if key not in self.body:
            return None
        value = self.body[key]
        if not isinstance(value, bool):
            self._fail(key)
            return None
        return value

    def text_list(self, key: str, *, max_items: int = 100) -> list[str] | None:
        if key not in self.body:
            return None
        value = self.body[key]
        if (not isinstance(value, list) or len(value) > max_items
                or not all(isinstance(v, str) and v.strip() and len(v) <= MAX_TEXT and _encodable(v)
                           for v in value)):
            self._fail(key)
            return None
        return list(dict.fromkeys(value))

    def nested(self, key: str, *, required: bool = True) -> Fields | None:
        if key not in self.body:
            if required:
                self._fail(key)
            return None
        value = self.body[key]
        if not isinstance(value, dict):
            self._fail(key)
            return None
        return Fields(value, f"{self._path(key)}.", self.errors)

    def check(self) -> None:
        if self.errors:
            raise Invalid(self.errors)


def is_int(value: object) -> bool:
    """A JSON integer: a bool is not one, nor is 10.0."""
    return isinstance(value, int) and not isinstance(value, bool)


def _encodable(value: str) -> bool:
    """One line of text: no control character (tab and line breaks included: every BetterCharge string is an
    identifier, a name or a reason) and no lone surrogate (a "\\ud800" escape)."""
    return _CONTROL.search(value) is None


@dataclass(frozen=True)
class CardInput:
    number: str
    exp_month: int
    exp_year: int
    holder: str


@dataclass(frozen=True)
class AuthorizeRequest:
    merchant_id: str
    account_id: str | None
    order_reference: str
    initiator: str
    amount: int
    currency: str
    email: str
    card: CardInput | None
    token: str | None


def authorize_request(body: dict[str, Any]) -> AuthorizeRequest:
    """POST /payments/authorize and /payments/charge. The CVV is checked, then dropped: it is never kept."""
    f = Fields(body)
    merchant_id = f.text("merchantId", pattern=MERCHANT_ID)
    account_id = f.text("accountId", required=False)
    order_reference = mask_pans(f.text("orderReference"))  # free text: never a card number at rest
    initiator = f.text("initiator", required=False, choices=INITIATORS) or DEFAULT_INITIATOR
    amount = f.integer("amount")
    currency = f.text("currency", pattern=_CURRENCY)
    customer = f.nested("customer")
    email = customer.text("email", pattern=_EMAIL, max_len=254) if customer else None
    card: CardInput | None = None
    token: str | None = None
    if f.present("card") == f.present("token"):
        f.errors.extend(["card", "token"])  # exactly one of them
    elif f.present("token"):
        token = f.text("token")
    else:
        c = f.nested("card")
        if c is not None:
            number = c.text("number", pattern=_PAN)
            exp_month = c.integer("expMonth", low=1, high=12)
            exp_year = c.integer("expYear", low=1000, high=9999)
            c.text("cvv", pattern=_CVV)
            holder = c.text("holder")
            if number and exp_month and exp_year and holder:
                card = CardInput(number, exp_month, exp_year, holder)
    f.check()
    assert merchant_id and order_reference and amount and currency and email  # f.check() proved them
    return AuthorizeRequest(merchant_id, account_id, order_reference, initiator, amount, currency, email,
                            card, token)


def capture_request(body: dict[str, Any]) -> int | None:
    """Capture {"amount"?: int}: the amount to capture (None = the whole authorization)."""
    f = Fields(body)
    amount = f.integer("amount", required=False)
    f.check()
    return amount


def refund_request(body: dict[str, Any]) -> int | None:
    """Refund {"amount"?: int, "reason"?: str}: the amount to refund (None = all that remains refundable)."""
    f = Fields(body)
    amount = f.integer("amount", required=False)
    f.text("reason", required=False)
    f.check()
    return amount


def void_request(body: dict[str, Any]) -> None:
    """Void {"reason"?: str}."""
    f = Fields(body)
    f.text("reason", required=False)
    f.check()


def stop_request(body: dict[str, Any]) -> None:
    """Stop {}: any JSON object (its keys are ignored)."""


@dataclass(frozen=True)
class MerchantChanges:
    """A merchant's settable fields; None = not given."""

    name: str | None = None
    account_ids: list[str] | None = None
    enabled: bool | None = None
    mit_allowed: bool | None = None
    refunds_allowed: bool | None = None
    voids_allowed: bool | None = None


def _merchant_changes(f: Fields, *, name_required: bool) -> MerchantChanges:
    return MerchantChanges(
        name=mask_pans(f.text("name", required=name_required)),
        account_ids=f.text_list("accountIds"),
        enabled=f.boolean("enabled"),
        mit_allowed=f.boolean("mitAllowed"),
        refunds_allowed=f.boolean("refundsAllowed"),
        voids_allowed=f.boolean("voidsAllowed"),
    )


def merchant_create(body: dict[str, Any]) -> tuple[str, MerchantChanges]:
    """POST /merchants: the new merchantId and its settings."""
    f = Fields(body)
    merchant_id = f.text("merchantId", pattern=MERCHANT_ID)
    changes = _merchant_changes(f, name_required=True)
    f.check()
    assert merchant_id is not None
    return merchant_id, changes


def merchant_patch(body: dict[str, Any]) -> MerchantChanges:
    """PATCH /merchants/{merchantId}: any subset of the settings; other keys are ignored."""
    f = Fields(body)
    changes = _merchant_changes(f, name_required=False)
    f.check()
    return changes
