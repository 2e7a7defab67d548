"""The gateway's own 3DS flow (000 §4 Implementation Flow), played through with harness.threeds.

A card request without own-MPI values is answered pending with a postForm client action; the customer's
browser posts the fields to the ACS page, presses a button, and is sent back to success_url or error_url; the
postback reports the final status. The ACS page and its approve/fail buttons are the simulator's (catalog
`outcomes.pages.acs`, provenance simulator), so these tests need the simulator.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.checks import expect_payment, get_transaction
from harness.suite.betterpayment.postbacks import expect_postback, wait_postbacks
from harness.suite.betterpayment.requests import Urls, card_body, create
from harness.suite.betterpayment.views import card_type
from harness.threeds import ThreeDSError, complete_customer_step

CAT = betterpayment()

pytestmark = pytest.mark.simulator_only

ACS = CAT.outcomes.pages["acs"]
STEP_STATUS = CAT.outcomes.step_status[card_type().flow]  # type: ignore[index]

# Which catalog rule each (create operation, page result) proves.
_PROVES = {
    ("payment", "success"): ("BP-3DS-APPROVED", "BP-PB-COMPLETED-FIELDS"),
    ("authorize", "success"): ("BP-AUTHORIZE-3DS", "BP-AUTHORIZE", "BP-STATUS-AUTHORIZED"),
    ("register", "success"): ("BP-REGISTER", "BP-STATUS-REGISTERED"),
}
_FAILED = ("BP-3DS-FAILED", "BP-PB-DECLINED-FIELDS")


def _expected(operation: str, choice: Any) -> int:
    """The status the step ends in: the operation's success status, or the page choice's decline status."""
    if choice.result == "success":
        return CAT.outcomes.success_status[operation]  # type: ignore[index]
    return int(choice.status_code)


def _cases() -> list[Any]:
    cases = []
    for operation in card_type().operations:
        for choice in ACS.choices:
            proves = (_PROVES.get((operation, choice.result), ()) if choice.result == "success"
                      else (*_FAILED, CAT.status(_expected(operation, choice)).id))
            cases.append(pytest.param(operation, choice, id=f"{operation}-{choice.value}",
                                      marks=[pytest.mark.requirement("BP-ACTION-POSTFORM", "BP-PAYMENT-3DS-PENDING",
                                                                     *proves)]))
    return cases


def _start(client: BetterPaymentClient, urls: Urls, operation: str, **overrides: Any) -> tuple[dict[str, Any],
           dict[str, Any]]:
    sent = card_body(urls, **overrides)
    pending = expect_payment(create(client, operation, sent), operation, sent, status_code=STEP_STATUS,
                             client_action="postForm")
    assert get_transaction(client, pending["transaction_id"])["status_code"] == STEP_STATUS
    return sent, pending


@pytest.mark.parametrize(("operation", "choice"), _cases())
def test_challenge_ends_on_the_right_page_with_a_verified_postback(
        client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver, browser: httpx.Client,
        bp_keys: tuple[str, str], settle: Callable[[float], None],
        operation: str, choice: Any) -> None:
    sent, pending = _start(client, urls, operation)
    tid = pending["transaction_id"]
    assert postbacks.for_transaction(tid) == [], "a postback was sent before the customer step ended"
    landing = complete_customer_step(browser, pending, choice=choice.value, success_url=sent["success_url"],
                                     error_url=sent["error_url"])
    final = _expected(operation, choice)
    assert landing.outcome == CAT.status(final).landing, f"landed on {landing.url} ({landing.outcome})"
    assert get_transaction(client, tid)["status_code"] == final
    [delivery] = wait_postbacks(postbacks, tid)
    expect_postback(delivery, CAT.postbacks.kind_for_status(final), transaction_id=tid, sent=sent,
                    status_code=final, keys=bp_keys, reason_code=choice.reason_code,
                    message=choice.message if choice.result != "success" else None)
    # The customer goes back and answers the other way: the step is over, nothing may change.
    other = next(c for c in ACS.choices if c.result != choice.result)
    with contextlib.suppress(ThreeDSError):  # an error page is a fine answer to a finished step
        complete_customer_step(browser, pending, choice=other.value, success_url=sent["success_url"],
                               error_url=sent["error_url"])
    assert get_transaction(client, tid)["status_code"] == final, "a finished 3DS step was decided again"
    settle(0.3)
    assert len(postbacks.for_transaction(tid)) == 1, "more than one postback for one final status"


def _holder_cases() -> list[Any]:
    return [pytest.param(o, id=o.card_holder.lower().replace(" ", "-"),
                         marks=[pytest.mark.requirement(o.id, "BP-3DS-APPROVED", CAT.status(o.status_code).id)])
            for o in CAT.outcomes.card_holders]


@pytest.mark.parametrize("outcome", _holder_cases())
def test_approved_challenge_with_a_declining_card(client: BetterPaymentClient, urls: Urls, postbacks: PostbackReceiver,
                                                  browser: httpx.Client, bp_keys: tuple[str, str],
                                                  outcome: Any) -> None:
    """Authentication passes, authorisation does not: the card's result decides, in-band, on error_url."""
    sent, pending = _start(client, urls, "payment", card_holder=outcome.card_holder)
    approve = next(c for c in ACS.choices if c.result == "success")
    landing = complete_customer_step(browser, pending, choice=approve.value, success_url=sent["success_url"],
                                     error_url=sent["error_url"])
    assert landing.outcome == CAT.status(outcome.status_code).landing
    [delivery] = wait_postbacks(postbacks, pending["transaction_id"])
    expect_postback(delivery, CAT.postbacks.kind_for_status(outcome.status_code),
                    transaction_id=pending["transaction_id"], sent=sent, status_code=outcome.status_code,
                    keys=bp_keys, reason_code=outcome.reason_code, message=outcome.message)


def _unknown_step_page(response: httpx.Response, step_id: str) -> None:
    err = CAT.error("BP-ERR-215-UNKNOWN-CHALLENGE")
    assert response.status_code == err.http_status, f"HTTP {response.status_code}: {response.text[:300]}"
    text = response.text
    assert str(err.code) in text and err.render(challenge_id=step_id)["error_message"] in text


@pytest.mark.requirement("BP-ERR-215-UNKNOWN-CHALLENGE")
def test_acs_page_for_an_unknown_challenge(client: BetterPaymentClient, urls: Urls, browser: httpx.Client) -> None:
    """A CReq naming a transaction the ACS never started gets the unknown-step page."""
    _sent, pending = _start(client, urls, "payment")
    data = pending["action_data"]
    [(name, creq)] = list(data["fields"].items())
    decoded = json.loads(base64.urlsafe_b64decode(creq + "=" * (-len(creq) % 4)))
    fresh = str(uuid.uuid4())
    forged = {k: (fresh if k.lower().endswith("transid") else v) for k, v in decoded.items()}
    encoded = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    response = browser.post(data["url"], data={name: encoded})
    _unknown_step_page(response, fresh)
