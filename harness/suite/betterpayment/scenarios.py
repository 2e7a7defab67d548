"""Scenarios of the Better Payment suites: a transaction in a given state, reached through the API and checked
at each step (an authorization, a completed payment, one waiting for its 3DS step, a declined or a reversed
authorization)."""

from __future__ import annotations

from typing import Any

from harness.catalog import betterpayment

from .checks import expect_operation, expect_payment
from .requests import Urls, card_body, create, mpi_body
from .views import code_of, declining_holder


def authorized(client: Any, urls: Urls, **overrides: Any) -> tuple[dict[str, Any], str]:
    """An authorization with own-MPI values: (request, transaction id), status authorized."""
    sent = mpi_body(urls, **overrides)
    body = expect_payment(client.authorize(sent), "authorize", sent,
                          status_code=betterpayment().outcomes.success_status["authorize"])
    return sent, str(body["transaction_id"])


def completed(client: Any, urls: Urls, **overrides: Any) -> tuple[dict[str, Any], str]:
    """A one-step own-MPI card payment: (request, transaction id), status completed."""
    sent = mpi_body(urls, **overrides)
    body = expect_payment(client.payment(sent), "payment", sent,
                          status_code=betterpayment().outcomes.success_status["payment"])
    return sent, str(body["transaction_id"])


def pending(client: Any, urls: Urls, operation: str = "payment") -> tuple[dict[str, Any], str]:
    """A card request without own-MPI values, waiting for the 3DS step: status pending."""
    sent = card_body(urls)
    body = expect_payment(create(client, operation, sent), operation, sent,
                          status_code=betterpayment().outcomes.step_status["threeds"], client_action="postForm")
    return sent, str(body["transaction_id"])


def declined(client: Any, urls: Urls) -> tuple[dict[str, Any], str]:
    """An authorization of the simulator's declining card holder (test data, simulator only): status declined."""
    holder = declining_holder()
    sent = mpi_body(urls, card_holder=holder.card_holder)
    body = expect_payment(client.authorize(sent), "authorize", sent, status_code=holder.status_code)
    return sent, str(body["transaction_id"])


def reversed_authorization(client: Any, urls: Urls) -> tuple[dict[str, Any], str]:
    """An authorization reversed in full: status reversed."""
    sent, tid = authorized(client, urls)
    expect_operation(client.reverse(tid), "reverse", code_of("reversed"))
    return sent, tid
