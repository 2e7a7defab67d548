"""The seed's own example requests (000 §3, §4), sent as printed, answered in the seed's 3DS-required shape.

The request files come from fixtures/betterpayment/examples (indexed by examples/index.yaml). Two things are
changed on purpose and nothing else: order_id is made unique (a test API keeps state between runs), and the
idempotency key is a fresh RFC 4122 v4 UUID, as the seed recommends, instead of the printed one (a printed key
would replay a previous run's answer). On the simulator the postback_url points at our receiver; against a real
test API the seed's https URL is kept.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harness import openapi
from harness.cards import random_text
from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.suite.betterpayment.checks import API, expect_payment, validate
from harness.suite.betterpayment.requests import Urls
from harness.suite.betterpayment.views import card_type

CAT = betterpayment()


def _request_examples() -> list[Any]:
    """The stored seed examples that are createPayment requests."""
    try:
        found = openapi.examples(API)
    except openapi.OpenAPIError:
        return []
    return [pytest.param(e, id=e.id.split(":", 1)[1]) for e in found
            if e.target.operation == "createPayment" and e.target.part == "request"]


REQUESTS = _request_examples()


def _as_sent(example: Any, urls: Urls) -> dict[str, Any]:
    body = dict(example.load())
    body["order_id"] = f"{body['order_id']}PC{random_text(12).upper()}"  # a letter first: no long digit run
    if urls.deliverable:
        body["postback_url"] = urls.postback
    return body


def _pending_shape_matches_seed(body: dict[str, Any], sent: dict[str, Any]) -> None:
    """Field for field like the seed's 3DS-required response: same keys, same JSON types, same constants."""
    seed = CAT.seed_examples.pending_response
    assert set(body) == set(seed), f"fields {sorted(body)} differ from the seed's {sorted(seed)}"
    for key, value in seed.items():
        if value is None and key == "additional_transaction_data" and "additional_transaction_data" in sent:
            continue  # echoed when sent (catalog note on the field); the seed's example sent none
        assert type(body[key]) is type(value), f"{key}: {type(body[key]).__name__}, seed {type(value).__name__}"
    for key in ("payment_type", "status_code", "status", "message", "included_fees", "error_code",
                "client_action"):
        assert body[key] == seed[key], f"{key}: {body[key]!r}, seed {seed[key]!r}"
    assert body["amount"] == seed["amount"]
    assert set(body["action_data"]) == set(seed["action_data"])
    assert set(body["action_data"]["fields"]) == set(seed["action_data"]["fields"])
    assert all(isinstance(v, str) and v for v in body["action_data"]["fields"].values())


@pytest.mark.requirement("BP-SEED-EXAMPLE", "BP-PAYMENT-3DS-PENDING", "BP-ACTION-POSTFORM", "BP-STATUS-PENDING",
             "BP-PT-CARDECOM", "BP-ERR-0-NONE", "BP-AMOUNT-FORMATS")
@pytest.mark.parametrize("example", REQUESTS)
def test_seed_example_request_is_answered_like_the_seed(client: BetterPaymentClient, urls: Urls, example: Any) -> None:
    assert REQUESTS, "no seed request examples in fixtures/betterpayment/examples"
    sent = _as_sent(example, urls)
    validate(example.target, sent)
    response = client.payment(sent, idempotency_key=str(uuid.uuid4()))
    flow_status = CAT.outcomes.step_status[card_type().flow]  # type: ignore[index]
    body = expect_payment(response, "payment", sent, status_code=flow_status, client_action="postForm")
    _pending_shape_matches_seed(body, sent)


@pytest.mark.requirement("BP-SEED-EXAMPLE")
def test_seed_examples_are_present() -> None:
    """The suite above must not silently pass with nothing to send."""
    assert REQUESTS, "no createPayment request example in fixtures/betterpayment/examples/index.yaml"
    stored = [e.load() for e in (p.values[0] for p in REQUESTS)]
    assert CAT.seed_examples.payment_request in [{k: v for k, v in s.items() if k in CAT.seed_examples.payment_request}
                                                 for s in stored]


@pytest.mark.requirement("BP-SEED-EXAMPLE", "BP-IDEM-HEADER")
def test_seed_idempotent_example_replays(client: BetterPaymentClient, urls: Urls) -> None:
    """The seed's idempotency example (000 §3): the same request with the same key twice, one transaction."""
    examples = [p.values[0] for p in REQUESTS if "additional_transaction_data" in p.values[0].load()]
    assert examples, "no seed example with additional_transaction_data (the 000 §3 request)"
    sent = _as_sent(examples[0], urls)
    key = str(uuid.uuid4())
    header = next(h for h in CAT.idempotency.headers if h.lower() == "idempotency-key")
    first = client.payment(sent, idempotency_key=key, idempotency_header=header)
    second = client.payment(sent, idempotency_key=key, idempotency_header=header)
    body = expect_payment(first, "payment", sent, status_code=CAT.outcomes.step_status["threeds"],
                          client_action="postForm")
    assert second.status_code == first.status_code
    assert second.content == first.content
    assert body["additional_transaction_data"] == sent["additional_transaction_data"]
