"""Redirect methods (the catalog's payment types with flow `redirect`: iDEAL, Wero, Pay by Bank).

Proves that each answers started (1) with client_action redirect and an action_data.url without fields
(000 §4 Implementation Flow), and, on the simulator's bank page, that approving, declining and cancelling end in
the catalog's status, on the right merchant page, with a postback of the right layout and reason code.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_payment, get_transaction
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls, body_for
from harness.suite.betterpayment.views import payment_types
from harness.threeds import ThreeDSError, complete_customer_step

CAT = betterpayment()

REDIRECT_TYPES = payment_types(flow="redirect")
STARTED = CAT.outcomes.step_status["redirect"]
BANK = CAT.outcomes.pages["bank"]
# The catalog rule each bank-page outcome proves, by the status it ends in.
_PROVES_BY_STATUS = {"completed": "BP-REDIRECT-APPROVED", "declined": "BP-REDIRECT-DECLINED",
                     "canceled": "BP-REDIRECT-CANCELED"}


def _final(choice: Any) -> int:
    return CAT.outcomes.success_status["payment"] if choice.result == "success" else int(choice.status_code)


def _start(client: BetterPaymentClient, urls: Urls, pt_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sent = body_for(pt_name, urls, additional_transaction_data=f"paycert {pt_name}")
    body = expect_payment(client.payment(sent), "payment", sent, status_code=STARTED, client_action="redirect")
    return sent, body


@pytest.mark.requirement("BP-REDIRECT-METHOD", "BP-ACTION-REDIRECT", "BP-STATUS-STARTED")
@pytest.mark.parametrize("pt", [pytest.param(pt, id=pt.name, marks=pytest.mark.requirement(pt.id))
                                for pt in REDIRECT_TYPES])
def test_redirect_method_answers_started_with_a_redirect(client: BetterPaymentClient, urls: Urls, pt: Any) -> None:
    _sent, body = _start(client, urls, pt.name)
    assert "fields" not in body["action_data"]
    stored = get_transaction(client, body["transaction_id"])
    assert (stored["status_code"], stored["status"]) == (STARTED, CAT.status(STARTED).name)


def _bank_cases() -> list[Any]:
    cases = []
    for pt in REDIRECT_TYPES:
        for choice in BANK.choices:
            final = _final(choice)
            proves = [_PROVES_BY_STATUS[CAT.status(final).name]] if CAT.status(final).name in _PROVES_BY_STATUS else []
            cases.append(pytest.param(pt, choice, id=f"{pt.name}-{choice.value}", marks=pytest.mark.requirement(
                pt.id, CAT.status(final).id, *proves)))
    return cases


@pytest.mark.simulator_only
@pytest.mark.parametrize(("pt", "choice"), _bank_cases())
def test_bank_page_outcome(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver, browser: httpx.Client,
                           bp_keys: tuple[str, str], settle: Callable[[float], None], pt: Any,
                           choice: Any) -> None:
    sent, body = _start(client, urls, pt.name)
    tid = body["transaction_id"]
    landing = complete_customer_step(browser, body, choice=choice.value, success_url=sent["success_url"],
                                     error_url=sent["error_url"])
    final = _final(choice)
    assert landing.outcome == CAT.status(final).landing, f"landed on {landing.url}"
    stored = get_transaction(client, tid)
    assert (stored["status_code"], stored["status"]) == (final, CAT.status(final).name)
    [delivery] = wait_postbacks(postbacks, tid)
    message = choice.message if choice.message is not None else CAT.outcomes.success_messages.get("redirect")
    fields = expect_postback(delivery, CAT.postbacks.kind_for_status(final), transaction_id=tid, sent=sent,
                             status_code=final, keys=bp_keys, reason_code=choice.reason_code, message=message)
    if "remittance_info" in fields:  # the seed's layout: "<order_id> - <shop name>" (000 §5 example)
        assert fields["remittance_info"] == f"{sent['order_id']} - {CAT.simulator.shop_name}"
    # The customer goes back and presses another button: the step is over, nothing may change.
    other = next(c for c in BANK.choices if _final(c) != final)
    with contextlib.suppress(ThreeDSError):  # an error page is a fine answer to a finished step
        complete_customer_step(browser, body, choice=other.value, success_url=sent["success_url"],
                               error_url=sent["error_url"])
    assert get_transaction(client, tid)["status_code"] == final, "a finished bank step was decided again"
    settle(0.3)
    assert len(postbacks.for_transaction(tid)) == 1, "more than one postback for one final status"


@pytest.mark.simulator_only
@pytest.mark.requirement("BP-ERR-215-UNKNOWN-CHALLENGE")
def test_bank_page_for_an_unknown_step(client: BetterPaymentClient, urls: Urls, browser: httpx.Client) -> None:
    _sent, body = _start(client, urls, REDIRECT_TYPES[0].name)
    parts = urlsplit(body["action_data"]["url"])
    step = str(uuid.uuid4())
    forged = urlunsplit((parts.scheme, parts.netloc, parts.path.rsplit("/", 1)[0] + "/" + step, "", ""))
    response = browser.get(forged)
    err = CAT.error("BP-ERR-215-UNKNOWN-CHALLENGE")
    assert response.status_code == err.http_status, f"HTTP {response.status_code}: {response.text[:300]}"
    assert str(err.code) in response.text and err.render(challenge_id=step)["error_message"] in response.text
