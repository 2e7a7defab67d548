"""Card registration and payments on a registered card (Better Payment Registrations API reference).

Proves that a registration with own-MPI values is registered (9) at once (the 3DS variant is in
test_threeds.py); that a payment naming it in original_transaction_id, with recurring=1 and without card data,
completes directly; that an earlier card payment can be charged again the same way; and that an unknown, foreign,
declined or non-card original is refused, as is card data sent together with original_transaction_id.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_error, expect_payment, get_transaction
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls, body_for, mpi_body
from harness.suite.betterpayment.scenarios import completed
from harness.suite.betterpayment.views import card_fields, card_type, code_of, declining_holder, payment_types

CAT = betterpayment()

REGISTERED = CAT.outcomes.success_status["register"]
SUCCESS = CAT.outcomes.success_status["payment"]
RECURRING_FLAG = 1


def _registered(client: BetterPaymentClient, urls: Urls) -> str:
    sent = mpi_body(urls)
    body = expect_payment(client.register(sent), "register", sent, status_code=REGISTERED)
    return str(body["transaction_id"])


def _recurring_body(urls: Urls, original: str, **overrides: Any) -> dict[str, Any]:
    """A card payment on a stored card: no card data, original_transaction_id and recurring=1."""
    no_card = {name: None for name in card_fields()}
    return body_for(card_type().name, urls, original_transaction_id=original, recurring=RECURRING_FLAG,
                    **(no_card | overrides))


@pytest.mark.requirement("BP-REGISTER", "BP-STATUS-REGISTERED", "BP-ERR-0-NONE")
def test_register_with_own_mpi_is_registered(client: BetterPaymentClient, urls: Urls) -> None:
    tid = _registered(client, urls)
    stored = get_transaction(client, tid)
    assert (stored["status_code"], stored["status"]) == (REGISTERED, CAT.status(REGISTERED).name)


def _earlier_payment(client: BetterPaymentClient, urls: Urls) -> str:
    return completed(client, urls)[1]


ORIGINALS = [pytest.param(_registered, id="registration"), pytest.param(_earlier_payment, id="earlier-payment")]


@pytest.mark.requirement("BP-RECURRING")
@pytest.mark.parametrize("make_original", ORIGINALS)
def test_recurring_payment_completes_on_the_stored_card(client: BetterPaymentClient, urls: Urls,
                                                        make_original: Any) -> None:
    original = make_original(client, urls)
    before = get_transaction(client, original)
    sent = _recurring_body(urls, original)
    assert not set(card_fields()) & set(sent)
    body = expect_payment(client.payment(sent), "payment", sent, status_code=SUCCESS)
    assert "client_action" not in body
    assert body["transaction_id"] != original
    stored = get_transaction(client, body["transaction_id"])
    assert (stored["status_code"], stored["order_id"]) == (SUCCESS, sent["order_id"])
    assert get_transaction(client, original) == before, "charging a stored card changed the original"


@pytest.mark.requirement("BP-RECURRING", "BP-PB-COMPLETED-FIELDS")
def test_recurring_payment_is_posted(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                     bp_keys: tuple[str, str]) -> None:
    sent = _recurring_body(urls, _registered(client, urls))
    body = expect_payment(client.payment(sent), "payment", sent, status_code=SUCCESS)
    [delivery] = wait_postbacks(postbacks, body["transaction_id"])
    expect_postback(delivery, CAT.postbacks.kind_for_status(SUCCESS), transaction_id=body["transaction_id"],
                    sent=sent, status_code=SUCCESS, keys=bp_keys)


@pytest.mark.requirement("BP-RECURRING-UNKNOWN", "BP-ERR-207-UNKNOWN-TRANSACTION")
def test_unknown_original_is_refused(client: BetterPaymentClient, urls: Urls) -> None:
    unknown = str(uuid.uuid4())
    expect_error(client.payment(_recurring_body(urls, unknown)), "BP-ERR-207-UNKNOWN-TRANSACTION",
                 transaction_id=unknown)


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-RECURRING-UNKNOWN", "BP-TX-OTHER-KEY")
def test_another_merchants_original_is_unknown(client: BetterPaymentClient, other_client: Any, urls: Urls) -> None:
    foreign = _registered(other_client, urls)
    expect_error(client.payment(_recurring_body(urls, foreign)), "BP-ERR-207-UNKNOWN-TRANSACTION",
                 transaction_id=foreign)


def _declined(client: BetterPaymentClient, urls: Urls) -> tuple[str, str]:
    holder = declining_holder()
    sent = mpi_body(urls, card_holder=holder.card_holder)
    body = expect_payment(client.payment(sent), "payment", sent, status_code=holder.status_code)
    return str(body["transaction_id"]), CAT.status(holder.status_code).name


def _non_card(client: BetterPaymentClient, urls: Urls) -> tuple[str, str]:
    pt = payment_types(flow="redirect")[0]
    sent = body_for(pt.name, urls)
    status = CAT.outcomes.step_status["redirect"]
    body = expect_payment(client.payment(sent), "payment", sent, status_code=status, client_action="redirect")
    return str(body["transaction_id"]), CAT.status(status).name


UNUSABLE = [pytest.param(_declined, id="declined", marks=pytest.mark.simulator_only),
            pytest.param(_non_card, id="non-card")]


@pytest.mark.requirement("BP-RECURRING-UNUSABLE", "BP-ERR-214-ORIGINAL-UNUSABLE")
@pytest.mark.parametrize("make_original", UNUSABLE)
def test_unusable_original_is_refused(client: BetterPaymentClient, urls: Urls, make_original: Any) -> None:
    original, status = make_original(client, urls)
    expect_error(client.payment(_recurring_body(urls, original)), "BP-ERR-214-ORIGINAL-UNUSABLE",
                 transaction_id=original, status=status)


@pytest.mark.requirement("BP-RECURRING-NO-CARD-DATA", "BP-ERR-212-FIELDS-NOT-ALLOWED")
@pytest.mark.parametrize("extra", [pytest.param("all", id="all-card-data"),
                                   *[pytest.param(name, id=name) for name in card_fields()]])
def test_card_data_with_an_original_is_refused(client: BetterPaymentClient, urls: Urls, extra: str) -> None:
    original = _registered(client, urls)
    card = {name: mpi_body(urls)[name] for name in card_fields()}
    chosen = card if extra == "all" else {extra: card[extra]}
    sent = _recurring_body(urls, original, **chosen)
    expect_error(client.payment(sent), "BP-ERR-212-FIELDS-NOT-ALLOWED", fields=", ".join(sorted(chosen)))


@pytest.mark.requirement("BP-REGISTER", "BP-STATUS-REGISTERED")
def test_registration_cannot_be_captured_or_refunded(client: BetterPaymentClient, urls: Urls) -> None:
    """A registration reserves nothing: there is nothing to capture or refund."""
    tid = _registered(client, urls)
    status = CAT.status(code_of("registered")).name
    expect_error(client.capture(tid), "BP-ERR-210-STATUS", operation="capture", status=status)
    expect_error(client.refund(tid), "BP-ERR-210-STATUS", operation="refund", status=status)
