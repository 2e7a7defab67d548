"""Postbacks of the Better Payment suites: waiting for deliveries (the receiver and the simulator's delivery log),
the checksum and signature recomputed here independently of harness.postback_signing, the PHP plugins' own
verification restated, and the exact check of a delivered postback against the catalog and the OpenAPI webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from harness import openapi
from harness.catalog import betterpayment
from harness.receiver import Delivery, PostbackReceiver
from harness.simulator_control import SimulatorControl
from harness.suite.failure import ensure, fail, same

from .checks import API, expect_no_card_data, validate
from .views import money, status_name


def wait_postbacks(rx: PostbackReceiver, transaction_id: str, count: int = 1, timeout: float = 10.0,
                   where: Callable[[Delivery], bool] | None = None) -> list[Delivery]:
    """At least `count` deliveries for this transaction (optionally matching `where`), in arrival order."""
    def match(d: Delivery) -> bool:
        return d.fields.get("transaction_id") == transaction_id and (where is None or where(d))

    return rx.wait_for(count, timeout=timeout, where=match)


def deliveries_log(control: SimulatorControl, transaction_id: str) -> list[dict[str, Any]]:
    """The simulator's delivery attempts for one transaction, in order."""
    return [d for d in control.bp_postbacks() if d.get("transaction_id") == transaction_id]


def wait_log(control: SimulatorControl, transaction_id: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The delivery log once it records at least `count` attempts (it is written after each answer arrives)."""
    deadline = time.monotonic() + timeout
    while True:
        log = deliveries_log(control, transaction_id)
        if len(log) >= count or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def header(delivery: Delivery, name: str) -> str | None:
    return next((v for k, v in delivery.headers.items() if k.lower() == name.lower()), None)


def independent_checksum(raw: bytes, incoming_key: str) -> str | None:
    """The checksum recomputed here, independently of harness.postback_signing (None: no trailing checksum)."""
    text = raw.decode("utf-8")
    head, sep, tail = text.rpartition(f"&{betterpayment().postbacks.checksum.field}=")
    if not sep or "&" in tail:
        return None
    expected = hashlib.sha1((head + incoming_key).encode("utf-8")).hexdigest()
    return expected if hmac.compare_digest(expected, unquote_plus(tail)) else None


def independent_signature(raw: bytes, webhook_key: str) -> str:
    """Gateway-Webhook-Signature recomputed here: HMAC-SHA256 with key = raw body, message = webhook key."""
    return base64.b64encode(hmac.new(raw, webhook_key.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


_PHP_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def php_style_query(fields: Iterable[tuple[str, str]]) -> str:
    """What PHP's http_build_query(..., PHP_QUERY_RFC1738) makes of flat text fields: per UTF-8 byte, letters,
    digits and -_. stay, space becomes '+', anything else %XX upper case."""
    def enc(text: str) -> str:
        return "".join(chr(b) if b in _PHP_KEPT else "+" if b == 0x20 else f"%{b:02X}" for b in text.encode("utf-8"))

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in fields)


def plugin_style_checksum_ok(raw: bytes, incoming_key: str) -> bool:
    """The PHP plugins' verification, restated: parse the form, drop checksum, rebuild the rest PHP's way in
    the order received, SHA-1 with the incoming key, compare with the checksum field."""
    pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    given = [v for k, v in pairs if k == betterpayment().postbacks.checksum.field]
    rest = [(k, v) for k, v in pairs if k != betterpayment().postbacks.checksum.field]
    if len(given) != 1:
        return False
    expected = hashlib.sha1((php_style_query(rest) + incoming_key).encode("utf-8")).hexdigest()
    return hmac.compare_digest(expected, given[0])


def _parts(schema: Any) -> list[Mapping[str, Any]]:
    """A schema and everything it pulls in through $ref and allOf (harness.openapi.schema_parts)."""
    return openapi.schema_parts(API, schema)


def _json_type(schema: Any) -> str | None:
    for part in _parts(schema):
        kind = part.get("type")
        if isinstance(kind, str):
            return kind
    return None


def _property_types(schema: Any) -> dict[str, str]:
    """Declared JSON types of a schema's properties (through $ref and allOf), to read form values as JSON."""
    out: dict[str, str] = {}
    for part in _parts(schema):
        for name, prop in (part.get("properties") or {}).items():
            kind = _json_type(prop)
            if kind is not None:
                out.setdefault(name, kind)
    return out


def _webhook_schema(name: str) -> Any:
    post = openapi.document(API)["webhooks"][name]["post"]
    return post["requestBody"]["content"][betterpayment().postbacks.content_type]["schema"]


def _status_values(schema: Any) -> set[int] | None:
    """The status codes a postback schema allows (None: any)."""
    allowed: set[int] | None = None
    for part in _parts(schema):
        prop = (part.get("properties") or {}).get("status_code")
        for sub in _parts(prop):
            values = [sub["const"]] if "const" in sub else sub.get("enum")
            if isinstance(values, list) and values and all(isinstance(v, int) for v in values):
                allowed = set(values) if allowed is None else allowed & set(values)
    return allowed


def _requires(schema: Any, field: str) -> bool:
    return any(field in part.get("required", []) for part in _parts(schema))


def webhook_for(kind: str, status_code: int) -> str:
    """The OpenAPI webhook describing a postback of this kind and status: the refund one, else the one whose
    status_code admits the status (a narrower one first)."""
    names = list(openapi.document(API).get("webhooks") or {})
    refundish = [n for n in names if _requires(_webhook_schema(n), "refund_id")]
    if kind == "refund":
        ensure(refundish, "the OpenAPI document has no refund postback webhook")
        return refundish[0]
    candidates = []
    for name in names:
        if name in refundish:
            continue
        allowed = _status_values(_webhook_schema(name))
        if allowed is None or status_code in allowed:
            candidates.append((len(allowed) if allowed is not None else 10**6, name))
    ensure(candidates, f"the OpenAPI document has no postback webhook for status {status_code}")
    return min(candidates)[1]


def postback_as_json(delivery: Delivery, webhook: str) -> dict[str, Any]:
    """The form fields as JSON values of the types the webhook schema declares (forms carry only text)."""
    types = _property_types(_webhook_schema(webhook))
    out: dict[str, Any] = {}
    for key, value in delivery.fields.items():
        kind = types.get(key)
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            out[key] = int(value)
        elif kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def expect_postback(delivery: Delivery, kind: str, *, transaction_id: str, sent: Mapping[str, Any],
                    status_code: int, keys: tuple[str, str], reason_code: str | None = None,
                    message: str | None = None, amount: Decimal | None = None) -> dict[str, str]:
    """A delivered postback of this kind: exact field list in order, checksum last, both signatures valid
    (by the receiver and recomputed here), values matching the transaction, schema-valid, no card data."""
    postbacks = betterpayment().postbacks
    incoming_key, webhook_key = keys
    fields = delivery.fields
    same(list(fields), postbacks.kinds[kind].names, f"{kind} postback fields (the catalog's, in order)")  # type: ignore[index]
    content_type = header(delivery, "Content-Type") or ""
    same(content_type.split(";")[0].strip(), postbacks.content_type, "postback Content-Type")
    ensure(delivery.checksum_last, "the checksum is not the last parameter")
    ensure(delivery.checksum_ok, "the postback checksum does not verify with the incoming key (raw body)")
    ensure(delivery.checksum_rebuilt_ok,
           "the postback checksum does not verify when rebuilt from the parsed fields "
           "with PHP http_build_query, as the Shopware, WooCommerce and Magento plugins do")
    ensure(independent_checksum(delivery.raw_body, incoming_key) is not None,
           "the postback checksum fails the independent check")
    signature = header(delivery, postbacks.signature.header)
    if signature is None:
        fail(f"no {postbacks.signature.header} header")
    ensure(delivery.signature_ok, f"{postbacks.signature.header} does not verify with the webhook key")
    ensure(hmac.compare_digest(signature, independent_signature(delivery.raw_body, webhook_key)),
           f"{postbacks.signature.header} fails the independent check")
    same(fields["transaction_id"], transaction_id, "postback transaction_id")
    same(fields["order_id"], sent["order_id"], "postback order_id")
    same(fields["payment_type"], sent["payment_type"], "postback payment_type")
    same((fields["status_code"], fields["status"]), (str(status_code), status_name(status_code)),
         "postback status_code and status")
    if "amount" in fields:
        same(money(fields["amount"]), amount if amount is not None else money(sent["amount"]), "postback amount")
    if "included_fees" in fields:
        same(fields["included_fees"], betterpayment().included_fees, "postback included_fees")
    if "additional_transaction_data" in fields:
        same(fields["additional_transaction_data"], str(sent.get("additional_transaction_data") or ""),
             "postback additional_transaction_data")
    if reason_code is not None:
        same(fields.get("reason_code"), reason_code, "postback reason_code")
    if message is not None:
        same(fields.get("message"), message, "postback message")
    webhook = webhook_for(kind, status_code)
    validate(openapi.SchemaTarget(webhook=webhook, part="request"), postback_as_json(delivery, webhook))
    expect_no_card_data(delivery.raw_body.decode("utf-8"), sent)
    return dict(fields)
