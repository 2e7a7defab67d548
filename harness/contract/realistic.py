"""Realistic variants of generated requests: half of the positive cases carry values the target can act on.

Why: a schema says "12-19 digits" and "a string", so purely random data is refused by a correct API and only
its error answers get checked. The hooks here (registered on the positive kinds' schemas by
harness.contract.schemas) draw, with probability 1/2, a request built from the catalog's facts: a known
merchant, an approving test card (Luhn-valid, as the API demands), a fresh order reference, an idempotency key
of its own, this run's receiver for Better Payment's postbacks and redirects. Values unique to one case are
minted with harness.contract.cases.fresh_value, so a case replayed from the cache gets fresh ones.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import schemathesis
from hypothesis import strategies as st

from harness.cards import luhn_complete
from harness.catalog import bettercharge, betterpayment
from harness.contract.cases import RECEIVER_PLACEHOLDER, fresh_value
from harness.contract.options import RUN

__all__ = ["REALISTIC", "future_year", "receiver_urls"]

HOLDER = "Contract Test"
_CVV = st.from_regex(r"\A[0-9]{3}\Z")


def future_year() -> int:
    return datetime.now(UTC).year + 3


def _unique(prefix: str) -> str:
    """A value unique to one case; minted again when a cached case is replayed (harness.contract.cases)."""
    return f"{prefix}{fresh_value()}"


def _plain_amount(value: Any, cap: float) -> Any:
    """A generated amount kept in the form it came in (number or decimal string), between 0.01 and cap."""
    if isinstance(value, str):
        try:
            return f"{min(max(float(value), 0.01), cap):.2f}"
        except ValueError:
            return "10.00"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(min(max(float(value), 0.01), cap), 2)
    return "10.00"


class _Realistic:
    """Per-API realistic variants of generated requests, drawn with probability 1/2 by Hypothesis."""

    api: str = ""

    def body_variant(self, label: str, body: Any) -> st.SearchStrategy[Any] | None:
        return None

    def path_variant(self, label: str, params: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]] | None:
        return None

    def flatmap_body(self, context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        variant = self.body_variant(context.operation.label, body) if context.operation else None
        return st.just(body) if variant is None else st.one_of(st.just(body), variant)

    def flatmap_path_parameters(self, context: schemathesis.HookContext,
                                path_parameters: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        if not isinstance(path_parameters, dict) or context.operation is None:
            return st.just(path_parameters)
        variant = self.path_variant(context.operation.label, path_parameters)
        return st.just(path_parameters) if variant is None else st.one_of(st.just(path_parameters), variant)

    def flatmap_headers(self, context: schemathesis.HookContext, headers: Any) -> st.SearchStrategy[Any]:
        """Half the time a fresh idempotency key: Hypothesis repeats small UUIDs, and a repeated key replays
        the first answer, so realistic chains would keep getting the same payment back."""
        if not isinstance(headers, dict) or not any("idempotency" in name.lower() for name in headers):
            return st.just(headers)

        def fresh() -> dict[str, Any]:
            return {name: fresh_value("uuid") if "idempotency" in name.lower() else value
                    for name, value in headers.items()}

        return st.one_of(st.just(headers), st.builds(fresh))


class _BetterChargeRealistic(_Realistic):
    api = "bettercharge"

    def body_variant(self, label: str, body: Any) -> st.SearchStrategy[Any] | None:
        if not isinstance(body, dict):
            return None
        catalog = bettercharge()
        if label in ("POST /payments/authorize", "POST /payments/charge"):
            cards = [c for c in catalog.cards if c.outcome == "approve"]
            currencies = catalog.simulator.supported_currencies if RUN.target == "simulator" else ["EUR"]
            merchant = RUN.merchant_id
            if merchant is None:
                return None

            def build(card_index: int, currency: str, use_token: bool, cvv: str) -> dict[str, Any]:
                amount = body.get("amount")
                request: dict[str, Any] = {
                    "merchantId": merchant,
                    "orderReference": _unique("contract-"),
                    "initiator": "CIT",
                    "amount": amount if isinstance(amount, int) and 1 <= amount <= 10_000_000 else 1000,
                    "currency": currency,
                    "customer": body.get("customer") if isinstance(body.get("customer"), dict) else {},
                }
                if use_token and catalog.tokens:
                    request["token"] = catalog.tokens[0].token
                else:
                    card = cards[card_index]
                    given: dict[str, Any] = body["card"] if isinstance(body.get("card"), dict) else {}
                    holder = given.get("holder") if isinstance(given.get("holder"), str) else None
                    request["card"] = {"number": card.pan, "expMonth": 12, "expYear": future_year(),
                                       "cvv": cvv, "holder": holder or HOLDER}
                if not request["customer"].get("email"):
                    request["customer"] = {"email": f"{_unique('contract')}@example.com"}
                return request

            return st.builds(build, st.integers(0, len(cards) - 1), st.sampled_from(currencies), st.booleans(), _CVV)
        if label in ("POST /payments/{bcId}/capture", "POST /payments/{bcId}/refund"):
            return st.just({})
        if label == "POST /merchants":
            return st.builds(lambda: {"merchantId": _unique("m-"), "name": "Contract Test Merchant"})
        return None

    def path_variant(self, label: str, params: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]] | None:
        if isinstance(params, dict) and "merchantId" in params and RUN.merchant_id is not None:
            return st.just({**params, "merchantId": RUN.merchant_id})
        return None


class _BetterPaymentRealistic(_Realistic):
    api = "betterpayment"

    def body_variant(self, label: str, body: Any) -> st.SearchStrategy[Any] | None:
        if not isinstance(body, dict):
            return None
        if label in ("POST /rest/payment", "POST /rest/authorize", "POST /rest/register"):
            catalog = betterpayment()
            card_types = [t.name for t in catalog.payment_types if t.is_card and label.rsplit("/", 1)[1] in t.operations
                          and t.blocks.get("redirection_urls") != "absent"]
            if not card_types:
                return None
            urls = _receiver_urls()

            def build(payment_type: str, cvv: str) -> dict[str, Any]:
                number = body.get("card_number")
                digits = number if isinstance(number, str) and number.isdigit() and 12 <= len(number) <= 19 \
                    else "4" + "0" * 14 + "0"
                holder = body.get("card_holder")
                request: dict[str, Any] = {
                    "payment_type": payment_type,
                    "order_id": _unique("ct"),
                    "amount": _plain_amount(body.get("amount"), 9999.0),
                    "currency": "EUR",
                    **urls,
                    "card_number": luhn_complete(digits[:-1]),  # the schema only says 12-19 digits
                    "card_holder": holder.strip()[:40] if isinstance(holder, str) and holder.strip() else HOLDER,
                    "card_cvv": cvv,
                    "card_expiry_month": "12",
                    "card_expiry_year": str(future_year()),
                    "threeds_authentication_value": uuid.uuid4().hex,
                    "threeds_directory_server_trans_id": str(uuid.uuid4()),
                }
                outcomes = {o.card_holder.lower() for o in catalog.outcomes.card_holders}
                if request["card_holder"].lower() in outcomes:
                    request["card_holder"] = HOLDER
                return request

            return st.builds(build, st.sampled_from(card_types), _CVV)
        if label in ("POST /rest/capture", "POST /rest/refund", "POST /rest/reverse"):
            transaction_id = body.get("transaction_id")
            return st.just({"transaction_id": transaction_id} if transaction_id is not None else body)
        return None


REALISTIC: dict[str, _Realistic] = {"bettercharge": _BetterChargeRealistic(),
                                    "betterpayment": _BetterPaymentRealistic()}


def _receiver_urls() -> dict[str, str]:
    """Placeholders at generation; the sender points them at the run's receiver when it sends (receiver_urls)."""
    base = RECEIVER_PLACEHOLDER
    return {"postback_url": f"{base}/postback", "success_url": f"{base}/success", "error_url": f"{base}/error"}


def receiver_urls(base: str | None, postback_url: str | None) -> dict[str, str]:
    """Placeholder -> real URL: where the simulator (or the tester) receives Better Payment's postbacks and
    redirects. On a sandbox they must be reachable https URLs of the merchant; there PAYCERT_POSTBACK_URL
    (`postback_url`) wins."""
    real = (base or "https://example.invalid/paycert").rstrip("/")
    urls = {f"{RECEIVER_PLACEHOLDER}/{name}": f"{real}/{name}" for name in ("success", "error", "postback")}
    postback = postback_url
    if postback:
        urls[f"{RECEIVER_PLACEHOLDER}/postback"] = postback
    return urls
