"""Better Payment postback signing: the two schemes, as pure functions shared by the simulator and the receiver.

Why one module for both sides: the simulator signs and the receiver verifies; if each had its own copy, a bug
in one would be mirrored rather than caught. Both schemes are described in the catalog
(``postbacks.checksum`` and ``postbacks.signature``):

- legacy ``checksum`` field: lower-hex SHA-1 of (the body without the checksum parameter + incoming key),
  sent as the last parameter (the official plugins: better-payment/bp-plugin-shopware6-api2
  src/Controller/WebhookController.php, bp-plugin-woocommerce-api2 includes/api/webhook.php);
- ``Gateway-Webhook-Signature`` header: base64 HMAC-SHA256 with key = raw body and message = webhook key.
  That argument order is unusual, but it is the only one that reproduces the vector on the vendor's doc page
  (Better Payment's postback documentation, its example vector); ``signature_conventional`` gives the usual
  order for comparison.

Encoding is PHP's, byte for byte: the official PHP plugins verify a postback by parsing it and rebuilding the
string with ``http_build_query`` (RFC 1738, i.e. PHP ``urlencode``: letters, digits and ``-_.`` stay, space is
``+``, every other byte ``%XX`` upper case, so ``~`` is ``%7E`` where Python's ``urlencode`` leaves it), while
the CiviCRM extension hashes the raw body. A sender that encodes any other way verifies one way and fails the
other. ``verify_checksum`` is the raw-body style, ``verify_checksum_rebuilt`` the plugins' style.

Every verification uses ``hmac.compare_digest``. Nothing here logs or keeps a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote_plus, unquote_plus

__all__ = [
    "CHECKSUM_FIELD",
    "SIGNATURE_HEADER",
    "checksum",
    "checksum_is_last",
    "encode_fields",
    "encode_postback",
    "parse_postback",
    "php_http_build_query",
    "php_urlencode",
    "signature",
    "signature_conventional",
    "split_checksum",
    "verify_checksum",
    "verify_checksum_rebuilt",
    "verify_signature",
]

CHECKSUM_FIELD = "checksum"
SIGNATURE_HEADER = "Gateway-Webhook-Signature"

FieldValue = str | int | float | None
Fields = Mapping[str, FieldValue] | Iterable[tuple[str, FieldValue]]


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _text(value: FieldValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _pairs(fields: Fields) -> list[tuple[str, str]]:
    items = fields.items() if isinstance(fields, Mapping) else fields
    return [(str(k), _text(v)) for k, v in items]


def checksum(body_without_checksum: str | bytes, incoming_key: str | bytes) -> str:
    """Lower-hex SHA-1 of the body (without its checksum parameter) followed by the incoming key."""
    return hashlib.sha1(_bytes(body_without_checksum) + _bytes(incoming_key)).hexdigest()


def signature(raw_body: str | bytes, webhook_key: str | bytes) -> str:
    """Gateway-Webhook-Signature: base64(HMAC-SHA256(key=raw_body, msg=webhook_key)), the doc vector's order."""
    return base64.b64encode(hmac.digest(_bytes(raw_body), _bytes(webhook_key), "sha256")).decode("ascii")


def signature_conventional(raw_body: str | bytes, webhook_key: str | bytes) -> str:
    """The usual order (key = webhook key, msg = body); does NOT reproduce the doc vector. For comparison only."""
    digest = hmac.new(_bytes(webhook_key), _bytes(raw_body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


_UNRESERVED = re.compile(r"[A-Za-z0-9_.\-]*\Z", re.ASCII)


def php_urlencode(text: str) -> str:
    """PHP ``urlencode``: only ASCII letters, digits and ``-_.`` stay; space is ``+``; every other UTF-8 byte is
    ``%XX`` in upper case. Python's ``quote_plus`` differs only in keeping ``~``. Text of those characters only
    (ids, amounts, codes: most of a postback) is its own encoding and skips ``quote_plus``."""
    if _UNRESERVED.match(text):
        return text
    return quote_plus(text, safe="", encoding="utf-8", errors="strict").replace("~", "%7E")


def php_http_build_query(fields: Fields) -> str:
    """PHP ``http_build_query($fields, '', '&', PHP_QUERY_RFC1738)`` for flat string fields, in order; a None
    value is left out, as PHP leaves out null."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    return "&".join(f"{php_urlencode(str(k))}={php_urlencode(_text(v))}" for k, v in items if v is not None)


def encode_fields(fields: Fields) -> str:
    """Form-encode in the given order exactly as PHP http_build_query does; None becomes ''."""
    return _encode_pairs(_pairs(fields))


def _encode_pairs(pairs: list[tuple[str, str]]) -> str:
    match = _UNRESERVED.match
    return "&".join([f"{k}={v}" if match(k + v) else f"{php_urlencode(k)}={php_urlencode(v)}" for k, v in pairs])


def encode_postback(fields: Fields, incoming_key: str | bytes | None = None) -> str:
    """The postback body, checksum last.

    With `incoming_key` the checksum is computed over the other fields (any checksum given is dropped);
    without it, `fields` must already hold a checksum, which is moved to the end.
    """
    pairs = _pairs(fields)
    rest = [(k, v) for k, v in pairs if k != CHECKSUM_FIELD]
    body = _encode_pairs(rest)
    if incoming_key is not None:
        value = checksum(body, incoming_key)
    else:
        given = [v for k, v in pairs if k == CHECKSUM_FIELD]
        if not given:
            raise ValueError("encode_postback: no checksum field and no incoming_key to compute one")
        value = given[-1]
    tail = f"{CHECKSUM_FIELD}={php_urlencode(value)}"
    return f"{body}&{tail}" if body else tail


def parse_postback(raw_body: str | bytes) -> dict[str, str]:
    """The fields of a form-encoded body, in order (a repeated name keeps its last value)."""
    text = raw_body.decode("utf-8", errors="replace") if isinstance(raw_body, bytes) else raw_body
    return dict(parse_qsl(text, keep_blank_values=True))


def _params(raw_body: str | bytes) -> list[str]:
    text = raw_body.decode("utf-8", errors="replace") if isinstance(raw_body, bytes) else raw_body
    return [p for p in text.split("&") if p]


def _param_name(param: str) -> str:
    return unquote_plus(param.split("=", 1)[0])


def split_checksum(raw_body: str | bytes) -> tuple[str, str | None]:
    """(the raw body without its checksum parameter, the checksum value or None), other bytes untouched.

    The body is cut at the raw parameter level, so it is hashed exactly as received, whatever encoder the
    sender used (as systopia/de.systopia.betterpayment does: hashing the raw body is the safe way to match).
    """
    params = _params(raw_body)
    value: str | None = None
    kept: list[str] = []
    for p in params:
        if _param_name(p) == CHECKSUM_FIELD:
            value = unquote_plus(p.split("=", 1)[1]) if "=" in p else ""
        else:
            kept.append(p)
    return "&".join(kept), value


def checksum_is_last(raw_body: str | bytes) -> bool:
    """True when the checksum is the body's last parameter, as the scheme requires."""
    params = _params(raw_body)
    return bool(params) and _param_name(params[-1]) == CHECKSUM_FIELD


def verify_checksum(raw_body: str | bytes, incoming_key: str | bytes) -> bool:
    """True only when a checksum is present, is the last parameter, and matches body + incoming key."""
    body, given = split_checksum(raw_body)
    if given is None or not checksum_is_last(raw_body):
        return False
    return hmac.compare_digest(checksum(body, incoming_key), given.strip().lower())


def verify_checksum_rebuilt(raw_body: str | bytes, incoming_key: str | bytes) -> bool:
    """The official PHP plugins' check: parse the body, drop `checksum`, rebuild the rest with PHP's
    http_build_query in received order, and compare SHA-1(rebuilt + incoming key) with the checksum field."""
    text = raw_body.decode("utf-8", errors="replace") if isinstance(raw_body, bytes) else raw_body
    fields = parse_qsl(text, keep_blank_values=True)
    given = [v for k, v in fields if k == CHECKSUM_FIELD]
    if not given:
        return False
    rest: dict[str, str] = {}
    for k, v in fields:
        if k != CHECKSUM_FIELD:
            rest[k] = v  # PHP's $_POST: a repeated name keeps its last value, at its first position
    return hmac.compare_digest(checksum(php_http_build_query(rest), incoming_key), given[-1].strip().lower())


def verify_signature(raw_body: str | bytes, header_value: str | None, webhook_key: str | bytes) -> bool:
    """True only when the Gateway-Webhook-Signature header is present and matches the raw body."""
    if not header_value:
        return False
    return hmac.compare_digest(signature(raw_body, webhook_key).encode("ascii"),
                               header_value.strip().encode("ascii", errors="replace"))
