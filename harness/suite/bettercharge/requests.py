"""Request builders of the BetterCharge suites: every field of an authorize or charge request from the catalog.

`Api` is the suites' view of the API: the client plus the builders, the target's clock (card expiries are
computed from it) and the merchants the suite created.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.cards import luhn_complete
from harness.catalog import bettercharge, known_pans
from harness.catalog.bettercharge import Card
from harness.clients import BetterChargeClient

from .checks import expect_payment
from .merchants import MerchantRef, Merchants
from .views import month_of, plain_approve_email, unique

#: The `make_client` fixture: more clients of the target (other credentials, retry policy, timeout, budget).
ClientFactory = Callable[..., BetterChargeClient]
#: The contract's example currency (ISO 4217); the only one a certification payment needs.
CURRENCY = "EUR"
#: The contract's two initiators (flows documented in the seed: online CIT, subscription MIT).
CIT, MIT = "CIT", "MIT"
CARD_METHOD, TOKEN_METHOD = "card", "token"


@dataclass
class Api:
    """The suites' view of the API: the client plus request builders that fill every field from the catalog."""

    client: BetterChargeClient
    target: Any
    merchants: Merchants
    clock: Callable[[], float]  # now on the target's clock (the simulator's may have been advanced)
    _now: float | None = field(default=None, repr=False)

    def now(self) -> float:
        """The target's time when this test first asked (card expiries are computed from it)."""
        if self._now is None:
            self._now = self.clock()
        return self._now

    def expiry(self, months_ahead: int) -> tuple[int, int]:
        """(year, month) this many months from today on the target's clock (negative: in the past)."""
        return month_of(self.now(), months_ahead)

    def card_input(self, card: Card | str, expiry: tuple[int, int] | None = None) -> dict[str, Any]:
        pan = card.pan if isinstance(card, Card) else card
        brand = card.brand if isinstance(card, Card) else ""
        year, month = expiry or self.expiry(36)
        return {"number": pan, "expMonth": month, "expYear": year,
                "cvv": "1234" if brand == "amex" else "123", "holder": "Paycert Certification"}

    def body(self, *, card: Card | str | None = None, token: str | None = None, email: str | None = None,
             amount: int | None = None, merchant: MerchantRef | None = None, expiry: tuple[int, int] | None = None,
             currency: str = CURRENCY, initiator: str | None = CIT, account_id: str | None = None,
             order_reference: str | None = None) -> dict[str, Any]:
        """An authorize/charge request; by default the first approving card and the plain approving email."""
        catalog = bettercharge()
        merchant = merchant or self.merchants.standard()
        body: dict[str, Any] = {
            "merchantId": merchant.merchant_id,
            "orderReference": order_reference or unique("order"),
            "amount": catalog.amounts.authorized if amount is None else amount,
            "currency": currency,
            "customer": {"email": email or plain_approve_email().email},
        }
        account = account_id or merchant.account_id
        if account:
            body["accountId"] = account
        if initiator is not None:
            body["initiator"] = initiator
        if token is not None:
            body["token"] = token
        else:
            body["card"] = self.card_input(card or catalog.approving_card, expiry)
        return body

    def authorized(self, state: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Authorize and return the checked payment (default: the approving card, expecting its state)."""
        catalog = bettercharge()
        expected = state or (catalog.approving_card.state if "token" not in kwargs else catalog.tokens[0].state)
        response = self.client.authorize(self.body(**kwargs))
        return expect_payment(response, "authorize", state=expected)

    def get(self, bc_id: str, *, state: str | None = None) -> dict[str, Any]:
        return expect_payment(self.client.get_payment(bc_id), "get_payment", state=state)


def expected_card(card: Card, card_input: Mapping[str, Any]) -> dict[str, Any]:
    """The masked card object the payment must show for a catalog card."""
    return {"brand": card.brand, "funding": card.funding, "bin": card.bin, "last4": card.last4,
            "expMonth": card_input["expMonth"], "expYear": card_input["expYear"]}


def non_test_pan() -> str:
    """A Luhn-valid PAN of the first approving card's length that is not in the sandbox test list."""
    base = bettercharge().approving_card.pan
    for n in range(1, 10**6):
        candidate = luhn_complete(base[:6] + str(n).zfill(len(base) - 7))
        if candidate not in known_pans():
            return candidate
    raise RuntimeError("unreachable: a million candidates cannot all be test cards")
