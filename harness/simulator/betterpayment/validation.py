"""Request validation driven by the catalog's field blocks: which fields a payment type needs, which it must
not carry, and what each field's value may look like, as lenient as the real gateway evidently is.

Leniency (catalog `leniencies`, each with the vendor plugin that sends it): before any check, an optional field
that is null or blank counts as absent, a JSON number in a text field is its text (customer_id 42), a locale
may carry a region (de_DE, de-DE), a date may be a date-time (its date counts), and a float a hair off a cent is
that cent. What the documents make explicit stays strict: a blank required field is missing (204), a list, an
object or a boolean in a text field, or a locale like "DEU", is invalid (205).

Why catalog-driven: the suites derive their negative tests from the same blocks, so the simulator and the
suites cannot drift apart on what "required" means. Order of checks (each raises the first that applies):
payment_type (204/205/206), operation support (213), missing fields (204), fields of absent blocks (212),
invalid values (205), https URLs (149). Every error names all offending fields, sorted.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from harness.cards import luhn_valid
from harness.catalog.betterpayment import BLOCK_NAMES, FieldBlock, FieldSpec, PaymentType
from harness.simulator.betterpayment import defects
from harness.simulator.betterpayment.context import Context
from harness.simulator.betterpayment.errors import BPError
from harness.simulator.betterpayment.money import parse_cents

_DEFAULT_MAX_LENGTH = 255
_MAX_URL_LENGTH = 2048
# ASCII only and anchored at the very end (`$` would let "EUR\n" through, `\d` would take "١٥").
_PATTERNS = {
    "currency": re.compile(r"^[A-Z]{3}\Z", re.ASCII),
    "country": re.compile(r"^[A-Z]{2}\Z", re.ASCII),
    "locale": re.compile(r"^[a-z]{2}(?:[_-][A-Za-z]{2})?\Z", re.ASCII),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?\Z",
                       re.ASCII),
    "iban": re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}\Z", re.ASCII),
    "pan": re.compile(r"^\d{12,19}\Z", re.ASCII),
    "cvv": re.compile(r"^\d{3,4}\Z", re.ASCII),
    "month": re.compile(r"^\d{1,2}\Z", re.ASCII),
    "year": re.compile(r"^\d{4}\Z", re.ASCII),
    "email": re.compile(r"^[^@\s]+@[^@\s]+\Z", re.ASCII),
}


@dataclass
class CardData:
    """The card of one request. `pan` stays in memory for the request only and is never stored."""

    pan: str
    holder: str
    expiry_month: str
    expiry_year: str


@dataclass
class CreateRequest:
    operation: str
    payment_type: PaymentType
    fields: dict[str, Any]
    amount: int
    currency: str
    card: CardData | None
    own_mpi: bool
    original_transaction_id: str | None
    recurring: bool


@dataclass
class FollowUpRequest:
    operation: str
    transaction_id: str
    amount: int | None
    fields: dict[str, Any]


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text_ok(value: object, max_length: int) -> bool:
    return isinstance(value, str) and len(value) <= max_length and "\x00" not in value


def value_ok(spec: FieldSpec, value: object, *, allow_zero_amount: bool = False) -> bool:
    """Whether `value` is a valid `spec.type` (the types are described at the top of the catalog's blocks)."""
    t = spec.type
    if t == "string":
        return _text_ok(value, spec.max_length or _DEFAULT_MAX_LENGTH)
    if t == "amount":
        return parse_cents(value, allow_zero=allow_zero_amount) is not None
    if t == "decimal":
        return parse_cents(value, allow_zero=True) is not None
    if t == "url":
        return _text_ok(value, _MAX_URL_LENGTH)
    if t == "flag":
        return value in (0, 1, "0", "1") or isinstance(value, bool)
    if t == "ip":
        if not _text_ok(value, 64):
            return False
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            return False
        return True
    if t in ("month", "year") and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if t == "iban" and isinstance(value, str):
        value = value.replace(" ", "").upper()
    if not isinstance(value, str) or not _PATTERNS[t].match(value):
        return False
    if t == "date":
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return False
    if t == "pan":
        return luhn_valid(value)
    if t == "month":
        return 1 <= int(value) <= 12
    if t == "email":
        return len(value) <= 254
    return True


def flag_on(value: object) -> bool:
    return value in (1, "1", True)


def check_urls(ctx: Context, fields: dict[str, Any]) -> None:
    """Error 149 for a URL that is not https:// (loopback http:// passes unless the profile is strict)."""
    policy = ctx.catalog.url_policy
    for name in policy.fields:
        value = fields.get(name)
        if not _present(value):
            continue
        parts = urlsplit(str(value).strip())
        host = parts.hostname or ""
        if parts.scheme.lower() == policy.required_scheme and host:
            continue
        if parts.scheme.lower() == "http" and host:
            if ctx.defect(defects.URL_HTTP_ACCEPTED):
                continue
            loopback_hosts = {h.lower() for h in policy.loopback_hosts}
            networks = [ipaddress.ip_network(n) for n in policy.loopback_networks]
            if not ctx.state.config.strict and _loopback(host, loopback_hosts, networks):
                continue
        raise BPError(policy.error, field=name)


def _loopback(host: str, names: set[str], networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if host.lower() in names:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in networks)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_text(value: object) -> object:
    """A JSON number in a text field is its text (42 -> "42", 1001.0 -> "1001"); anything else is left alone."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
    return str(value)


def lenient(ctx: Context, body: dict[str, Any], specs: list[FieldSpec], required: set[str]) -> dict[str, Any]:
    """The body as the gateway evidently reads it (catalog `leniencies`): optional null or blank fields dropped,
    numbers in text fields turned into text. Fields the catalog does not list pass through untouched."""
    by_name = {spec.name: spec for spec in specs}
    out: dict[str, Any] = {}
    for name, value in body.items():
        spec = by_name.get(name)
        if spec is None:
            out[name] = value
            continue
        if _blank(value) and name not in required and not ctx.defect(defects.LENIENCY_EMPTY_DROPPED):
            continue
        if spec.type == "string" and not ctx.defect(defects.LENIENCY_NUMBER_DROPPED):
            value = _as_text(value)
        out[name] = value
    return out


def _missing_error(names: list[str]) -> BPError:
    return BPError("BP-ERR-204-MISSING-FIELDS", fields=", ".join(sorted(set(names))))


def _invalid_error(names: list[str]) -> BPError:
    return BPError("BP-ERR-205-INVALID-FIELDS", fields=", ".join(sorted(set(names))))


def _check_blocks(
    body: dict[str, Any], blocks: list[FieldBlock], *, allow_zero_amount: bool = False
) -> list[str]:
    """Names of present fields with invalid values."""
    bad: list[str] = []
    for block in blocks:
        for spec in block.fields:
            value = body.get(spec.name)
            if value is None:
                continue
            if spec.required and isinstance(value, str) and not value.strip():
                continue  # blank required fields are reported as missing
            if not value_ok(spec, value, allow_zero_amount=allow_zero_amount):
                bad.append(spec.name)
    return bad


def validate_create(ctx: Context, body: dict[str, Any], operation: str) -> CreateRequest:
    """Validate a payment/authorize/register body against its payment type's blocks."""
    cat = ctx.catalog
    common = cat.field_blocks["common"]
    raw_type = body.get("payment_type")
    if not _present(raw_type):
        missing = [f.name for f in common.fields if f.required and not _present(body.get(f.name))]
        raise _missing_error(missing)
    if not isinstance(raw_type, str) or not value_ok(common.field("payment_type"), raw_type):
        raise _invalid_error(["payment_type"])
    pt = cat.payment_type(raw_type)
    if pt is not None and pt.flow == "wallet" and ctx.defect(defects.WALLET_REFUSED):
        pt = None
    locale = body.get("locale")
    if ctx.defect(defects.LENIENCY_LOCALE_STRICT) and isinstance(locale, str) and len(locale.strip()) > 2:
        raise _invalid_error(["locale"])  # the defect: only bare ISO 639-1 languages
    if pt is None:
        raise BPError("BP-ERR-206-PAYMENT-TYPE", payment_type=raw_type[:32])
    if operation not in pt.operations:
        raise BPError("BP-ERR-213-OPERATION-UNSUPPORTED", payment_type=pt.name, operation=operation)

    presence = dict(pt.blocks)
    original = body.get("original_transaction_id")
    if _present(original):
        # A charge of a stored card: no card data, no customer present (D-reg).
        if operation == "register" or not pt.is_card:
            raise BPError("BP-ERR-212-FIELDS-NOT-ALLOWED", fields="original_transaction_id")
        presence["cardholder_data"] = "absent"
        if presence["redirection_urls"] == "required":
            presence["redirection_urls"] = "optional"

    applicable = [cat.field_blocks[b] for b in BLOCK_NAMES if presence[b] != "absent"]
    required = {f.name for b in BLOCK_NAMES if presence[b] == "required"
                for f in cat.field_blocks[b].fields if f.required}
    required |= set(pt.also_required)
    required -= set(pt.also_optional)
    body = lenient(ctx, body, [f for b in cat.field_blocks.values() for f in b.fields], required)
    missing = [n for n in required if not _present(body.get(n))]
    for block in applicable:
        for pair in block.pairs:
            given = [n for n in pair if _present(body.get(n))]
            if given:
                missing.extend(n for n in pair if n not in given)
    if missing:
        raise _missing_error(missing)

    not_allowed = [f.name for b in BLOCK_NAMES if presence[b] == "absent"
                   for f in cat.field_blocks[b].fields if body.get(f.name) is not None]
    if not_allowed:
        raise BPError("BP-ERR-212-FIELDS-NOT-ALLOWED", fields=", ".join(sorted(set(not_allowed))))

    bad = _check_blocks(body, applicable, allow_zero_amount=operation == "register")
    if bad:
        raise _invalid_error(bad)
    check_urls(ctx, body)

    amount = parse_cents(body["amount"], allow_zero=operation == "register")
    assert amount is not None  # checked above
    card: CardData | None = None
    if presence["cardholder_data"] != "absent" and _present(body.get("card_number")):
        card = CardData(pan=str(body["card_number"]), holder=str(body["card_holder"]),
                        expiry_month=f"{int(str(body['card_expiry_month'])):02d}",
                        expiry_year=str(body["card_expiry_year"]))
    return CreateRequest(
        operation=operation,
        payment_type=pt,
        fields=body,
        amount=amount,
        currency=str(body.get("currency") or cat.field_blocks["common"].field("currency").default),
        card=card,
        own_mpi=_present(body.get("threeds_authentication_value")),
        original_transaction_id=str(original) if _present(original) else None,
        recurring=flag_on(body.get("recurring")),
    )


def validate_follow_up(ctx: Context, body: dict[str, Any], operation: str) -> FollowUpRequest:
    """Validate a capture/reverse/refund body against the catalog's request_fields."""
    block = ctx.catalog.request_fields[operation]  # type: ignore[index]
    body = lenient(ctx, body, block.fields, {f.name for f in block.fields if f.required})
    missing = [f.name for f in block.fields if f.required and not _present(body.get(f.name))]
    if missing:
        raise _missing_error(missing)
    bad = _check_blocks(body, [block])
    if operation == "capture" and body.get("VAT") is not None and not value_ok(block.field("vat"), body["VAT"]):
        bad.append("VAT")
    if bad:
        raise _invalid_error(bad)
    amount = parse_cents(body["amount"]) if body.get("amount") is not None else None
    return FollowUpRequest(operation=operation, transaction_id=str(body["transaction_id"]), amount=amount,
                           fields=body)
