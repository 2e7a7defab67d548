"""Request builders of the Better Payment suites: a valid create request of any payment type, field by field
from the catalog's blocks and the seed's example; values valid or invalid per field type; the merchant URLs.

Keeping the builders here means a catalog change (a new required field, a renamed status) changes every suite at
once, and a test reads as "what is being proven" rather than "how a body is assembled".
"""

from __future__ import annotations

import base64
import ipaddress
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from harness.cards import random_text
from harness.catalog import betterpayment
from harness.catalog.betterpayment import FieldSpec, PaymentType

from .views import card_type, field_spec, money_text, mpi_pair, payment_type, seed_amount, seed_request


def new_order_id() -> str:
    """A unique, alphanumeric order id (fits every method's limit); suites never rely on a fresh target."""
    limit = field_spec("order_id").max_length or 35
    return f"PC{random_text(32).upper()}"[: min(limit, 35)]


def _card_expiry() -> tuple[str, str]:
    """The seed card's expiry, moved a year ahead if the calendar has passed it (the card itself stays)."""
    month, year = str(seed_request()["card_expiry_month"]), str(seed_request()["card_expiry_year"])
    today = date.today()
    if (int(year), int(month)) < (today.year, today.month):
        year = str(today.year + 1)
    return month, year


def sample_value(spec: FieldSpec) -> Any:
    """A valid value for a field of this type (seed values where the seed shows one)."""
    if spec.name in seed_request() and spec.type != "url":
        value = seed_request()[spec.name]
        if spec.name == "card_expiry_year":
            return _card_expiry()[1]
        return value
    by_type: dict[str, Any] = {
        "string": "paycert",
        "amount": money_text(seed_amount()),
        "decimal": "1.00",
        "currency": seed_request()["currency"],
        "date": date.today().isoformat(),
        "pan": betterpayment().seed_card_pan,
        "cvv": seed_request()["card_cvv"],
        "month": _card_expiry()[0],
        "year": _card_expiry()[1],
        "flag": 1,
        "country": betterpayment().seed_examples.postback_completed["payer_location"],
        "email": "buyer@example.com",
        "locale": "de",
        "ip": "192.0.2.10",
        "url": "https://example.com/paycert",
        "iban": "DE89370400440532013000",
    }
    if spec.name in WALLET_TOKENS:
        return WALLET_TOKENS[spec.name]
    return by_type[spec.type]


#: Wallet tokens in the plugins' shapes: Apple Pay's token JSON in base64, Google Pay's tokenizationData.token,
#: itself a JSON string (better-payment/bp-plugin-shopware6-api2, src/Resources/app/storefront/src/betterpayment/
#: apple-pay.plugin.js and google-pay.plugin.js). The simulator does not decrypt them.
WALLET_TOKENS = {
    "applepay_token": base64.b64encode(json.dumps({
        "paymentData": {"version": "EC_v1", "data": "cGF5Y2VydA==", "signature": "cGF5Y2VydA==",
                        "header": {"ephemeralPublicKey": "cGF5Y2VydA==", "publicKeyHash": "cGF5Y2VydA==",
                                   "transactionId": "7061796365727400"}},
        "paymentMethod": {"displayName": "Visa 0509", "network": "Visa", "type": "debit"},
        "transactionIdentifier": "7061796365727400"}).encode()).decode(),
    "googlepay_token": json.dumps({"signature": "MEUCIQ", "intermediateSigningKey": {"signedKey": "{}",
                                   "signatures": ["MEUC"]}, "protocolVersion": "ECv2",
                                   "signedMessage": "{\"encryptedMessage\":\"cGF5Y2VydA==\"}"}),
}


def invalid_value(spec: FieldSpec) -> Any:
    """A value of the wrong type or format for this field's type (what error 205 must name)."""
    pan = betterpayment().seed_card_pan
    by_type: dict[str, Any] = {
        "string": ["not", "text"],
        "amount": "12,34x",
        "decimal": "-1",
        "currency": str(seed_request()["currency"]).lower(),
        "date": "2026-13-45",
        "pan": pan[:-1] + str((int(pan[-1]) + 1) % 10),  # one digit off: fails the Luhn check
        "cvv": "1",
        "month": "13",
        "year": "26",
        "flag": "2",
        "country": "D",
        "email": "no-at-sign",
        "locale": "DEU",
        "ip": "999.1.1.1",
        "iban": "DE00",
    }
    return by_type[spec.type]


def mpi_values() -> dict[str, str]:
    """Own-MPI 3DS results: an authentication value (CAVV-like base64) and a directory server transaction id."""
    auth, ds = mpi_pair()
    return {auth: base64.b64encode(uuid.uuid4().bytes + b"paycert!").decode(), ds: str(uuid.uuid4())}


@dataclass(frozen=True)
class Urls:
    """The merchant URLs a request carries; `deliverable` says whether postbacks reach our receiver."""

    postback: str
    success: str
    error: str
    deliverable: bool

    def for_field(self, name: str) -> str:
        if name == "postback_url":
            return self.postback
        if name == "error_url":
            return self.error
        return self.success  # success_url, wero_checkout_url


def http_variant(url: str) -> str:
    """The same URL with the plain http:// scheme (what error 149 refuses)."""
    parts = urlsplit(url)
    return urlunsplit(("http", parts.netloc, parts.path or "/", parts.query, parts.fragment))


def loopback_hosts() -> list[str]:
    """Host names of the simulator's loopback exception: the named hosts plus two addresses of each network."""
    hosts = list(betterpayment().url_policy.loopback_hosts)
    for net in betterpayment().url_policy.loopback_networks:
        network = ipaddress.ip_network(net)
        candidates = [network.network_address if network.num_addresses == 1 else network.network_address + 1]
        if network.num_addresses > 256:
            candidates.append(network.broadcast_address - 1)
        for addr in candidates:
            hosts.append(f"[{addr}]" if addr.version == 6 else str(addr))
    return hosts


def body_for(pt_name: str, urls: Urls, *, order_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid create request for this payment type: every required field, from the catalog's blocks.

    `overrides` set fields (None removes one). Card types use the seed's card.
    """
    pt = payment_type(pt_name)
    body: dict[str, Any] = {}
    for block_name, block in betterpayment().field_blocks.items():
        if pt.blocks[block_name] != "required":
            continue
        for spec in block.fields:
            if spec.required or spec.default is not None:  # a field with a default is sent as merchants do
                body[spec.name] = _value(spec, pt, urls, order_id)
    for name in pt.also_required:
        body[name] = _value(field_spec(name), pt, urls, order_id)
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def _value(spec: FieldSpec, pt: PaymentType, urls: Urls, order_id: str | None) -> Any:
    if spec.name == "payment_type":
        return pt.name
    if spec.name == "order_id":
        return order_id or new_order_id()
    if spec.type == "url":
        return urls.for_field(spec.name)
    return sample_value(spec)


def card_body(urls: Urls, **overrides: Any) -> dict[str, Any]:
    """The seed's card request with our URLs and a unique order id."""
    return body_for(card_type().name, urls, **overrides)


def mpi_body(urls: Urls, **overrides: Any) -> dict[str, Any]:
    """A card request with own-MPI 3DS values: answered directly, no customer step."""
    return card_body(urls, **mpi_values(), **overrides)


def create(client: Any, operation: str, body: Mapping[str, Any], **kwargs: Any) -> httpx.Response:
    """POST a create request (payment, authorize or register) through the client."""
    if operation not in ("payment", "authorize", "register"):
        raise ValueError(f"not a create operation: {operation}")
    return getattr(client, operation)(body, **kwargs)
