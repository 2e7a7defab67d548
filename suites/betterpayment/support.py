"""Builders and checks shared by the Better Payment certification suites.

Why one module: every request a suite sends and every expectation it checks comes from the catalog
(`harness.catalog.betterpayment`) or the seed examples, never from literals in a test. Keeping the builders here
means a catalog change (a new required field, a renamed status) changes every suite at once, and a test reads as
"what is being proven" rather than "how a body is assembled".

Nothing here talks to the simulator's code: the control interface is reached over HTTP only, so the same
suites run against the Better Payment test API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpx
import pytest

from harness import openapi
from harness.catalog import betterpayment
from harness.catalog.betterpayment import FieldSpec, PaymentType
from harness.plugin import NOT_VERIFIABLE
from harness.receiver import Delivery, PostbackReceiver
from harness.simulator_control import control_headers

API = "betterpayment"
CAT = betterpayment()
SEED_REQUEST: Mapping[str, Any] = CAT.seed_examples.payment_request
CENT = Decimal("0.01")

#: Why a postback test is skipped on a sandbox: the gateway cannot reach a loopback receiver.
POSTBACK_NOT_VERIFIABLE = (f"{NOT_VERIFIABLE}; or set PAYCERT_POSTBACK_URL to a public https URL that forwards "
                           "to the postback receiver (PAYCERT_POSTBACK_PORT)")

simulator_only = pytest.mark.simulator_only


def requirement(*ids: str) -> pytest.MarkDecorator:
    return pytest.mark.requirement(*ids)


# --- catalog look-ups -------------------------------------------------------------------------------------------

def payment_types(*, flow: str | None = None, operation: str | None = None) -> list[PaymentType]:
    """Payment types of the catalog, optionally only those with this customer-step flow or create operation."""
    return [pt for pt in CAT.payment_types
            if (flow is None or pt.flow == flow) and (operation is None or operation in pt.operations)]


def payment_type(name: str) -> PaymentType:
    pt = CAT.payment_type(name)
    if pt is None:
        raise KeyError(f"the catalog has no payment type {name!r}")
    return pt


def first_answer(pt: PaymentType, operation: str) -> tuple[int, str | None]:
    """(status, client_action) of the first answer to a create request of this type, by its flow: a customer
    step for redirect types; the type's own first status (status_path) for synchronous and wallet types; the
    operation's success status for cards answered directly (own-MPI values, card present)."""
    if pt.flow == "redirect":
        return CAT.outcomes.step_status["redirect"], CAT.client_action("redirect").name
    if pt.flow in ("synchronous", "wallet"):
        return CAT.status_named(pt.status_path[0]).code, None
    return CAT.outcomes.success_status[operation], None  # type: ignore[index]


def card_type() -> PaymentType:
    """The payment type the seed's example uses (the card type with the 3DS flow)."""
    return payment_type(str(SEED_REQUEST["payment_type"]))


def field_spec(name: str) -> FieldSpec:
    for block in CAT.field_blocks.values():
        for spec in block.fields:
            if spec.name == name:
                return spec
    raise KeyError(f"no field {name!r} in the catalog's field blocks")


def block_of(name: str) -> str:
    return next(b for b, block in CAT.field_blocks.items() if name in block.names)


def mpi_pair() -> tuple[str, str]:
    """The own-MPI 3DS values that must travel together (catalog `cardholder_data.pairs`)."""
    pair = CAT.field_blocks["cardholder_data"].pairs[0]
    return pair[0], pair[1]


def card_fields() -> list[str]:
    """The cardholder fields a card request requires."""
    return [f.name for f in CAT.field_blocks["cardholder_data"].fields if f.required]


def operation_id(operation: str) -> str:
    """The OpenAPI operationId of a catalog operation, found by its path and method."""
    op = CAT.operation(operation)
    return str(openapi.document(API)["paths"][op.path][op.method.lower()]["operationId"])


def status_name(code: int) -> str:
    return CAT.status(code).name


def code_of(name: str) -> int:
    return CAT.status_named(name).code


# --- values -----------------------------------------------------------------------------------------------------

def new_order_id() -> str:
    """A unique, alphanumeric order id (fits every method's limit); suites never rely on a fresh target."""
    limit = field_spec("order_id").max_length or 35
    return f"PC{uuid.uuid4().hex.upper()}"[: min(limit, 35)]


def money(value: Any) -> Decimal:
    """An amount as an exact Decimal with two places (responses use JSON numbers, postbacks strings)."""
    return Decimal(str(value)).quantize(CENT)


def money_text(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


SEED_AMOUNT = money(SEED_REQUEST["amount"])


def _card_expiry() -> tuple[str, str]:
    """The seed card's expiry, moved a year ahead if the calendar has passed it (the card itself stays)."""
    month, year = str(SEED_REQUEST["card_expiry_month"]), str(SEED_REQUEST["card_expiry_year"])
    today = date.today()
    if (int(year), int(month)) < (today.year, today.month):
        year = str(today.year + 1)
    return month, year


def sample_value(spec: FieldSpec) -> Any:
    """A valid value for a field of this type (seed values where the seed shows one)."""
    if spec.name in SEED_REQUEST and spec.type != "url":
        value = SEED_REQUEST[spec.name]
        if spec.name == "card_expiry_year":
            return _card_expiry()[1]
        return value
    by_type: dict[str, Any] = {
        "string": "paycert",
        "amount": money_text(SEED_AMOUNT),
        "decimal": "1.00",
        "currency": SEED_REQUEST["currency"],
        "date": date.today().isoformat(),
        "pan": CAT.seed_card_pan,
        "cvv": SEED_REQUEST["card_cvv"],
        "month": _card_expiry()[0],
        "year": _card_expiry()[1],
        "flag": 1,
        "country": CAT.seed_examples.postback_completed["payer_location"],
        "email": "buyer@example.com",
        "locale": "de",
        "ip": "192.0.2.10",
        "url": "https://example.com/paycert",
        "iban": "DE89370400440532013000",
    }
    if spec.name in WALLET_TOKENS:
        return WALLET_TOKENS[spec.name]
    return by_type[spec.type]


#: Wallet tokens in the plugins' shapes: Apple Pay's token JSON in base64 (apple-pay.plugin.js), Google Pay's
#: tokenizationData.token, itself a JSON string (google-pay.plugin.js). The simulator does not decrypt them.
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
    pan = CAT.seed_card_pan
    by_type: dict[str, Any] = {
        "string": ["not", "text"],
        "amount": "12,34x",
        "decimal": "-1",
        "currency": str(SEED_REQUEST["currency"]).lower(),
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


# --- URLs -------------------------------------------------------------------------------------------------------

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
    hosts = list(CAT.url_policy.loopback_hosts)
    for net in CAT.url_policy.loopback_networks:
        network = ipaddress.ip_network(net)
        candidates = [network.network_address if network.num_addresses == 1 else network.network_address + 1]
        if network.num_addresses > 256:
            candidates.append(network.broadcast_address - 1)
        for addr in candidates:
            hosts.append(f"[{addr}]" if addr.version == 6 else str(addr))
    return hosts


# --- request bodies ---------------------------------------------------------------------------------------------

def body_for(pt_name: str, urls: Urls, *, order_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid create request for this payment type: every required field, from the catalog's blocks.

    `overrides` set fields (None removes one). Card types use the seed's card.
    """
    pt = payment_type(pt_name)
    body: dict[str, Any] = {}
    for block_name, block in CAT.field_blocks.items():
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


# --- response checks --------------------------------------------------------------------------------------------

def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"{response.request.method} {response.request.url.path} answered HTTP "
                             f"{response.status_code} with a non-JSON body: {response.text[:300]!r}") from None


def describe(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url.path} -> HTTP {response.status_code}: {response.text[:400]}"


def validate(target: openapi.SchemaTarget, instance: Any) -> None:
    """Validate against the OpenAPI document; AssertionError listing every problem."""
    found = openapi.problems(API, target, instance)
    assert not found, f"{target.describe()} does not match the OpenAPI document: {found}"


def error_statuses(error_id: str) -> set[int]:
    """The HTTP statuses an error row may travel with under either error transport (catalog error_transport)."""
    return {CAT.error_status(error_id, mode) for mode in CAT.error_transport.modes}


def expect_error(response: httpx.Response, error_id: str, **values: object) -> dict[str, Any]:
    """The response is exactly the catalog error row {error_code, error_message}, what every official client
    reads. Its HTTP status may be either transport's (HTTP 200 in band, or the row's status); which one the
    target uses is the separate, adopted requirement BP-ERROR-HTTP-STATUS (test_error_transport.py)."""
    err = CAT.error(error_id)
    allowed = error_statuses(error_id)
    assert response.status_code in allowed, (
        f"expected HTTP {' or '.join(map(str, sorted(allowed)))} ({err.name}, error_code {err.code}); "
        f"got {describe(response)}")
    body = json_body(response)
    assert body == err.render(**values), f"error body mismatch for {err.name}: {describe(response)}"
    validate(openapi.SchemaTarget(component="Error"), body)
    return dict(body)


def expect_ok(response: httpx.Response, operation: str) -> Any:
    """The operation's documented success status, a body that matches its OpenAPI response schema."""
    op = CAT.operation(operation)
    assert response.status_code == op.success, f"{operation}: expected HTTP {op.success}; got {describe(response)}"
    body = json_body(response)
    validate(openapi.SchemaTarget(operation=operation_id(operation), part="response", status=str(op.success)), body)
    return body


def expect_status(body: Mapping[str, Any], code: int) -> None:
    """status_code and status are the catalog's pair for `code`."""
    got = (body.get("status_code"), body.get("status"))
    assert got == (code, status_name(code)), f"expected status {code} {status_name(code)!r}; got {got}"


def expect_shape(body: Mapping[str, Any], response: str, optional: Iterable[str] = ()) -> None:
    """Exactly the catalog's fields for this response kind (plus the named optional ones), nothing else."""
    shape = CAT.responses[response]
    expected = set(shape.fields) | set(optional)
    assert set(body) == expected, (f"{response} response fields: missing {sorted(expected - set(body))}, "
                                   f"unexpected {sorted(set(body) - expected)}")


def expect_amount(value: Any, expected: Decimal, what: str = "amount") -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    assert is_number, f"{what} must be a JSON number, got {value!r}"
    assert money(value) == expected, f"{what}: expected {expected}, got {value!r}"


def expect_payment(response: httpx.Response, operation: str, sent: Mapping[str, Any], *, status_code: int,
                   client_action: str | None = None) -> dict[str, Any]:
    """A create response: documented shape, status pair, echoed request values, error_code 0, the client action."""
    body = dict(expect_ok(response, operation))
    step = ("client_action", "action_data") if client_action else ()
    expect_shape(body, "payment", step)
    expect_status(body, status_code)
    assert body["error_code"] == CAT.error("BP-ERR-0-NONE").code
    assert body["payment_type"] == sent["payment_type"]
    assert body["order_id"] == sent["order_id"]
    expect_amount(body["amount"], money(sent["amount"]))
    assert body["included_fees"] == CAT.included_fees
    assert isinstance(body["transaction_id"], str) and uuid.UUID(body["transaction_id"])
    if "additional_transaction_data" in sent:
        assert body["additional_transaction_data"] == sent["additional_transaction_data"]
    if client_action:
        action = CAT.client_action(client_action)
        assert body["client_action"] == action.name
        data = body["action_data"]
        assert isinstance(data.get("url"), str) and urlsplit(data["url"]).scheme in ("http", "https")
        assert ("fields" in data) == action.has_fields, f"action_data of {action.name}: {data}"
    expect_no_card_data(body, sent)
    return body


def expect_no_card_data(payload: Any, sent: Mapping[str, Any] | None = None) -> None:
    """No PAN and no CVV anywhere in a body (PCI DSS; catalog rule BP-CARD-MASKED)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    pans = {CAT.seed_card_pan} | ({str(sent["card_number"])} if sent and sent.get("card_number") else set())
    for pan in pans:
        assert pan not in text, "a full card number appears in the payload"
    cvvs = {str(SEED_REQUEST["card_cvv"])} | ({str(sent["card_cvv"])} if sent and sent.get("card_cvv") else set())
    values = _leaf_values(payload) if not isinstance(payload, str) else []
    for key, value in values:
        assert "cvv" not in key.lower(), f"a CVV field ({key}) appears in the payload"
        assert str(value) not in cvvs or key in ("amount",), f"the CVV appears as the value of {key}"


def _leaf_values(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in node.items():
            out.extend(_leaf_values(v, str(k)))
        return out
    if isinstance(node, list):
        return [item for v in node for item in _leaf_values(v, prefix)]
    return [(prefix, node)]


def get_transaction(client: Any, transaction_id: str) -> dict[str, Any]:
    """GET the transaction: documented fields, no error_code, schema-valid."""
    response = client.get_transaction(transaction_id)
    body = dict(expect_ok(response, "get_transaction"))
    expect_shape(body, "transaction")
    assert "error_code" not in body
    return body


# --- postbacks --------------------------------------------------------------------------------------------------

def wait_postbacks(rx: PostbackReceiver, transaction_id: str, count: int = 1, timeout: float = 10.0,
                   where: Callable[[Delivery], bool] | None = None) -> list[Delivery]:
    """At least `count` deliveries for this transaction (optionally matching `where`), in arrival order."""
    def match(d: Delivery) -> bool:
        return d.fields.get("transaction_id") == transaction_id and (where is None or where(d))

    return rx.wait_for(count, timeout=timeout, where=match)


def settle(seconds: float = 0.5) -> None:
    """Give background deliveries time to (not) happen before a negative check."""
    time.sleep(seconds)


def independent_checksum(raw: bytes, incoming_key: str) -> str | None:
    """The checksum recomputed here, independently of harness.postback_signing (None: no trailing checksum)."""
    text = raw.decode("utf-8")
    head, sep, tail = text.rpartition(f"&{CAT.postbacks.checksum.field}=")
    if not sep or "&" in tail:
        return None
    expected = hashlib.sha1((head + incoming_key).encode("utf-8")).hexdigest()
    return expected if hmac.compare_digest(expected, unquote_plus(tail)) else None


def independent_signature(raw: bytes, webhook_key: str) -> str:
    """Gateway-Webhook-Signature recomputed here: HMAC-SHA256 with key = raw body, message = webhook key."""
    return base64.b64encode(hmac.new(raw, webhook_key.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def header(delivery: Delivery, name: str) -> str | None:
    return next((v for k, v in delivery.headers.items() if k.lower() == name.lower()), None)


def _parts(schema: Any, doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A schema and everything it pulls in through $ref and allOf (harness.openapi.schema_parts)."""
    return openapi.schema_parts(API, schema)


def _json_type(schema: Any, doc: Mapping[str, Any]) -> str | None:
    for part in _parts(schema, doc):
        kind = part.get("type")
        if isinstance(kind, str):
            return kind
    return None


def _property_types(schema: Any, doc: Mapping[str, Any]) -> dict[str, str]:
    """Declared JSON types of a schema's properties (through $ref and allOf), to read form values as JSON."""
    out: dict[str, str] = {}
    for part in _parts(schema, doc):
        for name, prop in (part.get("properties") or {}).items():
            kind = _json_type(prop, doc)
            if kind is not None:
                out.setdefault(name, kind)
    return out


def _webhook_schema(name: str) -> Any:
    post = openapi.document(API)["webhooks"][name]["post"]
    return post["requestBody"]["content"][CAT.postbacks.content_type]["schema"]


def _status_values(schema: Any, doc: Mapping[str, Any]) -> set[int] | None:
    """The status codes a postback schema allows (None: any)."""
    allowed: set[int] | None = None
    for part in _parts(schema, doc):
        prop = (part.get("properties") or {}).get("status_code")
        for sub in _parts(prop, doc):
            values = [sub["const"]] if "const" in sub else sub.get("enum")
            if isinstance(values, list) and values and all(isinstance(v, int) for v in values):
                allowed = set(values) if allowed is None else allowed & set(values)
    return allowed


def _requires(schema: Any, doc: Mapping[str, Any], field: str) -> bool:
    return any(field in part.get("required", []) for part in _parts(schema, doc))


def webhook_for(kind: str, status_code: int) -> str:
    """The OpenAPI webhook describing a postback of this kind and status: the refund one, else the one whose
    status_code admits the status (a narrower one first)."""
    doc = openapi.document(API)
    names = list(doc.get("webhooks") or {})
    refundish = [n for n in names if _requires(_webhook_schema(n), doc, "refund_id")]
    if kind == "refund":
        assert refundish, "the OpenAPI document has no refund postback webhook"
        return refundish[0]
    candidates = []
    for name in names:
        if name in refundish:
            continue
        allowed = _status_values(_webhook_schema(name), doc)
        if allowed is None or status_code in allowed:
            candidates.append((len(allowed) if allowed is not None else 10**6, name))
    assert candidates, f"the OpenAPI document has no postback webhook for status {status_code}"
    return min(candidates)[1]


def postback_as_json(delivery: Delivery, webhook: str) -> dict[str, Any]:
    """The form fields as JSON values of the types the webhook schema declares (forms carry only text)."""
    doc = openapi.document(API)
    types = _property_types(_webhook_schema(webhook), doc)
    out: dict[str, Any] = {}
    for key, value in delivery.fields.items():
        kind = types.get(key)
        try:
            if kind == "integer" and re.fullmatch(r"-?\d+", value):
                out[key] = int(value)
            elif kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
                out[key] = float(value)
            else:
                out[key] = value
        except ValueError:
            out[key] = value
    return out


def expect_postback(delivery: Delivery, kind: str, *, transaction_id: str, sent: Mapping[str, Any],
                    status_code: int, keys: tuple[str, str], reason_code: str | None = None,
                    message: str | None = None, amount: Decimal | None = None) -> dict[str, str]:
    """A delivered postback of this kind: exact field list in order, checksum last, both signatures valid
    (by the receiver and recomputed here), values matching the transaction, schema-valid, no card data."""
    incoming_key, webhook_key = keys
    fields = delivery.fields
    expected_names = CAT.postbacks.kinds[kind].names  # type: ignore[index]
    assert list(fields) == expected_names, (f"{kind} postback fields differ from the catalog: got {list(fields)}, "
                                            f"expected {expected_names}")
    content_type = header(delivery, "Content-Type") or ""
    assert content_type.split(";")[0].strip() == CAT.postbacks.content_type, f"postback Content-Type {content_type!r}"
    assert delivery.checksum_last, "the checksum is not the last parameter"
    assert delivery.checksum_ok, "the postback checksum does not verify with the incoming key (raw body)"
    assert delivery.checksum_rebuilt_ok, (
        "the postback checksum does not verify when rebuilt from the parsed fields "
        "with PHP http_build_query, as the Shopware, WooCommerce and Magento plugins do")
    assert independent_checksum(delivery.raw_body, incoming_key) is not None, "checksum fails the independent check"
    signature = header(delivery, CAT.postbacks.signature.header)
    assert signature is not None, f"no {CAT.postbacks.signature.header} header"
    assert delivery.signature_ok, f"{CAT.postbacks.signature.header} does not verify with the webhook key"
    assert hmac.compare_digest(signature, independent_signature(delivery.raw_body, webhook_key))
    assert fields["transaction_id"] == transaction_id
    assert fields["order_id"] == sent["order_id"]
    assert fields["payment_type"] == sent["payment_type"]
    assert (fields["status_code"], fields["status"]) == (str(status_code), status_name(status_code))
    if "amount" in fields:
        assert money(fields["amount"]) == (amount if amount is not None else money(sent["amount"]))
    if "included_fees" in fields:
        assert fields["included_fees"] == CAT.included_fees
    if "additional_transaction_data" in fields:
        assert fields["additional_transaction_data"] == str(sent.get("additional_transaction_data") or "")
    if reason_code is not None:
        assert fields.get("reason_code") == reason_code
    if message is not None:
        assert fields.get("message") == message
    validate(openapi.SchemaTarget(webhook=webhook_for(kind, status_code), part="request"),
             postback_as_json(delivery, webhook_for(kind, status_code)))
    expect_no_card_data(delivery.raw_body.decode("utf-8"), sent)
    return dict(fields)


# --- simulator control (HTTP only) ------------------------------------------------------------------------------

def deliveries_log(control: Any, transaction_id: str) -> list[dict[str, Any]]:
    """The simulator's delivery attempts for one transaction, in order."""
    return [d for d in control.bp_postbacks() if d.get("transaction_id") == transaction_id]


def wait_log(control: Any, transaction_id: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The delivery log once it records at least `count` attempts (it is written after each answer arrives)."""
    deadline = time.monotonic() + timeout
    while True:
        log = deliveries_log(control, transaction_id)
        if len(log) >= count or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def force_status(simulator_url: str, transaction_id: str, code: int) -> dict[str, Any]:
    """Set a status the API cannot reach by itself (debt collection, chargeback) through the control interface."""
    response = httpx.post(f"{simulator_url}/_simulator/betterpayment/transactions/{transaction_id}/status",
                          json={"status_code": code}, timeout=10, headers=control_headers())
    assert response.status_code == 200, f"control interface refused status {code}: {response.text[:300]}"
    return dict(response.json())


def iso_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp without a zone: {value}"
    return parsed.astimezone(UTC)


# --- transactions in a given state ------------------------------------------------------------------------------

def authorized(client: Any, urls: Urls, **overrides: Any) -> tuple[dict[str, Any], str]:
    """An authorization with own-MPI values: (request, transaction id), status authorized."""
    sent = mpi_body(urls, **overrides)
    body = expect_payment(client.authorize(sent), "authorize", sent,
                          status_code=CAT.outcomes.success_status["authorize"])
    return sent, str(body["transaction_id"])


def completed(client: Any, urls: Urls, **overrides: Any) -> tuple[dict[str, Any], str]:
    """A one-step own-MPI card payment: (request, transaction id), status completed."""
    sent = mpi_body(urls, **overrides)
    body = expect_payment(client.payment(sent), "payment", sent, status_code=CAT.outcomes.success_status["payment"])
    return sent, str(body["transaction_id"])


def pending(client: Any, urls: Urls, operation: str = "payment") -> tuple[dict[str, Any], str]:
    """A card request without own-MPI values, waiting for the 3DS step: status pending."""
    sent = card_body(urls)
    body = expect_payment(create(client, operation, sent), operation, sent,
                          status_code=CAT.outcomes.step_status["threeds"], client_action="postForm")
    return sent, str(body["transaction_id"])


def declining_holder() -> Any:
    """The simulator's card holder that ends declined (test data, simulator only)."""
    return next(o for o in CAT.outcomes.card_holders if o.status_code == code_of("declined"))


def expect_operation(response: httpx.Response, operation: str, status_code: int | None = None) -> dict[str, Any]:
    """A capture/reverse/refund answer: documented shape, schema, error_code 0, the status pair."""
    body = dict(expect_ok(response, operation))
    expect_shape(body, operation)
    assert body["error_code"] == CAT.error("BP-ERR-0-NONE").code
    if status_code is not None:
        expect_status(body, status_code)
    return body


# --- error transport ------------------------------------------------------------------------------------------

def declared_error_transport(target: Any) -> str:
    """The error transport the target is expected to use: the simulator says which one it runs with; a sandbox
    is expected to follow the catalog's default (in_band, the evidence's choice), which its run confirms."""
    if target.is_simulator:
        response = httpx.get(f"{target.simulator_url}/_simulator/betterpayment/settings", timeout=10,
                             headers=control_headers())
        assert response.status_code == 200, f"simulator settings: {response.text[:200]}"
        return str(response.json()["error_transport"])
    return CAT.error_transport.default


# --- PHP's encoding, restated here (independent of harness.postback_signing) --------------------------------

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
    from urllib.parse import parse_qsl

    pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    given = [v for k, v in pairs if k == CAT.postbacks.checksum.field]
    rest = [(k, v) for k, v in pairs if k != CAT.postbacks.checksum.field]
    if len(given) != 1:
        return False
    expected = hashlib.sha1((php_style_query(rest) + incoming_key).encode("utf-8")).hexdigest()
    return hmac.compare_digest(expected, given[0])
