"""The BetterCharge simulator: a faithful, stateful implementation of the BetterCharge API (the wire
contract of fixtures/bettercharge/openapi.yaml, every fact from fixtures/catalog/bettercharge.yaml), served by the
shared simulator app.

Modules, one concept each:
    api            the route claiming /payments and /merchants, and its pipeline (rate limit, faults, auth,
                   routing from the catalog's operations, idempotency)
    payment_api    authorize, charge, capture, void, refund, stop, read
    merchant_api   create, read, update merchants
    authorization  how an authorize/charge turns out (cards, emails, token, expiry, decline reasons)
    transitions    the state machine, read from the catalog's transition table
    payments       the payment record, its wire form, storage, and what the clock alone changes
    merchants      merchants and their storage
    auth           partners and the x-api-key / x-partner-id check
    validation     request bodies, field by field
    ratelimit      the documented per-key limit and its headers
    faults         injected 5xx, delays and dropped connections
    responses      error bodies from the catalog's rows
    context        what one simulator holds, and its reset
    control        /_simulator/bettercharge/... (toggles, faults, latency, forced states, merchants)
    defects        the deliberate defects for mutation testing
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from harness.simulator.bettercharge import control
from harness.simulator.bettercharge.api import BetterChargeApi, BetterChargeRoute
from harness.simulator.bettercharge.context import Context
from harness.simulator.state import SimulatorState

__all__ = ["routes"]


def routes(state: SimulatorState) -> list[BaseRoute]:
    """The API route and the control routes; the reset hook re-seeds merchants and clears conditions."""
    ctx = Context(state)
    state.on_reset(ctx.reset)
    return [*control.routes(ctx), BetterChargeRoute(BetterChargeApi(ctx))]
