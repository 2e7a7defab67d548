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

import functools
import ipaddress
import math
import re
from collections.abc import Collection, Iterable, Mapping
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
        scheme, host = scheme_and_host(str(value).strip())
        if scheme == policy.required_scheme and host:
            continue
        if scheme == "http" and host:
            if ctx.defect(defects.URL_HTTP_ACCEPTED):
                continue
            loopback_hosts, networks = loopback_policy(tuple(policy.loopback_hosts), tuple(policy.loopback_networks))
            if not ctx.state.config.strict and _loopback(host, loopback_hosts, networks):
                continue
        raise BPError(policy.error, field=name)


@functools.lru_cache(maxsize=1024)
def scheme_and_host(url: str) -> tuple[str, str]:
    """urlsplit's scheme (lower case) and host name ("" for none). Kept per URL: a merchant sends the same
    postback and redirect URLs again and again, and urlsplit's hostname is slow Python."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.hostname or ""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def loopback_policy(hosts: tuple[str, ...], networks: tuple[str, ...]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """The catalog's loopback hosts (lower case) and networks, parsed once: the postback dispatcher asks for
    every delivery attempt, and parsing the networks anew was about 2% of a POST's time (benchmarks/README.md)."""
    return frozenset(h.lower() for h in hosts), tuple(ipaddress.ip_network(n) for n in networks)


@functools.lru_cache(maxsize=1024)
def _loopback(host: str, names: frozenset[str], networks: tuple[Network, ...]) -> bool:
    """Whether `host` is a loopback name or address. Kept per host: a name that is no address costs ipaddress two
    exceptions, and the dispatcher asks for every delivery attempt."""
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


def lenient(ctx: Context, body: dict[str, Any], by_name: Mapping[str, FieldSpec],
            required: Collection[str]) -> dict[str, Any]:
    """The body as the gateway evidently reads it (catalog `leniencies`): optional null or blank fields dropped,
    numbers in text fields turned into text. Fields the catalog does not list pass through untouched.
    `by_name`: the field specs by name (of two with one name, the later)."""
    drop_blank = not ctx.defect(defects.LENIENCY_EMPTY_DROPPED)  # asked once, not per field
    numbers_as_text = not ctx.defect(defects.LENIENCY_NUMBER_DROPPED)
    out: dict[str, Any] = {}
    for name, value in body.items():
        spec = by_name.get(name)
        if spec is None:
            out[name] = value
            continue
        if drop_blank and _blank(value) and name not in required:
            continue
        if numbers_as_text and spec.type == "string":
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
    return _check_specs(body, _by_name(spec for block in blocks for spec in block.fields),
                        allow_zero_amount=allow_zero_amount)


def _by_name(specs: Iterable[FieldSpec]) -> dict[str, tuple[FieldSpec, ...]]:
    """The specs by field name, every spec of a name kept (two blocks may list one field), in block order."""
    out: dict[str, tuple[FieldSpec, ...]] = {}
    for spec in specs:
        out[spec.name] = (*out.get(spec.name, ()), spec)
    return out


def _check_specs(body: dict[str, Any], specs: Mapping[str, tuple[FieldSpec, ...]], *,
                 allow_zero_amount: bool = False) -> list[str]:
    """Names of present fields with invalid values. It walks the body's fields rather than the specs: a request
    carries a dozen of the forty-odd fields a payment type's blocks list (benchmarks/README.md)."""
    bad: list[str] = []
    for name, value in body.items():
        if value is None:
            continue
        for spec in specs.get(name, ()):
            if spec.required and isinstance(value, str) and not value.strip():
                continue  # blank required fields are reported as missing
            if not value_ok(spec, value, allow_zero_amount=allow_zero_amount):
                bad.append(spec.name)
    return bad


@dataclass(frozen=True)
class _Plan:
    """What a payment type's blocks ask of a create request (with or without original_transaction_id)."""

    required: frozenset[str]
    pairs: tuple[tuple[str, ...], ...]  # of the applicable blocks: all or none
    absent_fields: tuple[str, ...]  # fields of the blocks that must be absent
    specs: dict[str, tuple[FieldSpec, ...]]  # of the applicable blocks, by name
    card_allowed: bool


def _plan(ctx: Context, pt: PaymentType, has_original: bool) -> _Plan:
    """The plan of a payment type, derived from the catalog once per simulator (Context.memo): deriving it
    for every request was about a tenth of a POST's time (benchmarks/README.md)."""
    key = ("create-plan", pt.name, has_original)
    plan = ctx.memo.get(key)
    if plan is None:
        cat = ctx.catalog
        presence = dict(pt.blocks)
        if has_original:
            presence["cardholder_data"] = "absent"
            if presence["redirection_urls"] == "required":
                presence["redirection_urls"] = "optional"
        applicable = [cat.field_blocks[b] for b in BLOCK_NAMES if presence[b] != "absent"]
        required = {f.name for b in BLOCK_NAMES if presence[b] == "required"
                    for f in cat.field_blocks[b].fields if f.required}
        required |= set(pt.also_required)
        required -= set(pt.also_optional)
        plan = ctx.memo[key] = _Plan(
            required=frozenset(required),
            pairs=tuple(tuple(pair) for block in applicable for pair in block.pairs),
            absent_fields=tuple(f.name for b in BLOCK_NAMES if presence[b] == "absent"
                                for f in cat.field_blocks[b].fields),
            specs=_by_name(spec for block in applicable for spec in block.fields),
            card_allowed=presence["cardholder_data"] != "absent",
        )
    return plan


def _payment_types(ctx: Context) -> dict[str, PaymentType]:
    """The catalog's payment types by name (of two with one name, the later, as BetterPaymentCatalog.payment_type
    gives), once per simulator: the catalog keeps its own index as a pydantic private attribute, slow to reach."""
    by_name = ctx.memo.get("payment-types")
    if by_name is None:
        by_name = ctx.memo["payment-types"] = {p.name: p for p in ctx.catalog.payment_types}
    return by_name


def _specs_by_name(ctx: Context) -> dict[str, FieldSpec]:
    """Every field spec of the catalog's blocks by name (of two with one name, the later), once per simulator."""
    by_name = ctx.memo.get("specs-by-name")
    if by_name is None:
        by_name = ctx.memo["specs-by-name"] = {f.name: f for b in ctx.catalog.field_blocks.values() for f in b.fields}
    return by_name


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
    pt = _payment_types(ctx).get(raw_type)
    if pt is not None and pt.flow == "wallet" and ctx.defect(defects.WALLET_REFUSED):
        pt = None
    locale = body.get("locale")
    if ctx.defect(defects.LENIENCY_LOCALE_STRICT) and isinstance(locale, str) and len(locale.strip()) > 2:
        raise _invalid_error(["locale"])  # the defect: only bare ISO 639-1 languages
    if pt is None:
        raise BPError("BP-ERR-206-PAYMENT-TYPE", payment_type=raw_type[:32])
    if operation not in pt.operations:
        raise BPError("BP-ERR-213-OPERATION-UNSUPPORTED", payment_type=pt.name, operation=operation)

    original = body.get("original_transaction_id")
    has_original = _present(original)
    # A charge of a stored card: no card data, no customer present (D-reg).
    if has_original and (operation == "register" or not pt.is_card):
        raise BPError("BP-ERR-212-FIELDS-NOT-ALLOWED", fields="original_transaction_id")
    plan = _plan(ctx, pt, has_original)
    body = lenient(ctx, body, _specs_by_name(ctx), plan.required)
    missing = [n for n in plan.required if not _present(body.get(n))]
    for pair in plan.pairs:
        given = [n for n in pair if _present(body.get(n))]
        if given:
            missing.extend(n for n in pair if n not in given)
    if missing:
        raise _missing_error(missing)

    not_allowed = [n for n in plan.absent_fields if body.get(n) is not None]
    if not_allowed:
        raise BPError("BP-ERR-212-FIELDS-NOT-ALLOWED", fields=", ".join(sorted(set(not_allowed))))

    bad = _check_specs(body, plan.specs, allow_zero_amount=operation == "register")
    if bad:
        raise _invalid_error(bad)
    check_urls(ctx, body)

    amount = parse_cents(body["amount"], allow_zero=operation == "register")
    assert amount is not None  # checked above
    card: CardData | None = None
    if plan.card_allowed and _present(body.get("card_number")):
        card = CardData(pan=str(body["card_number"]), holder=str(body["card_holder"]),
                        expiry_month=f"{int(str(body['card_expiry_month'])):02d}",
                        expiry_year=str(body["card_expiry_year"]))
    return CreateRequest(
        operation=operation,
        payment_type=pt,
        fields=body,
        amount=amount,
        currency=str(body.get("currency") or common.field("currency").default),
        card=card,
        own_mpi=_present(body.get("threeds_authentication_value")),
        original_transaction_id=str(original) if has_original else None,
        recurring=flag_on(body.get("recurring")),
    )


def validate_follow_up(ctx: Context, body: dict[str, Any], operation: str) -> FollowUpRequest:
    """Validate a capture/reverse/refund body against the catalog's request_fields."""
    block = ctx.catalog.request_fields[operation]  # type: ignore[index]
    body = lenient(ctx, body, {spec.name: spec for spec in block.fields}, {f.name for f in block.fields if f.required})
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
