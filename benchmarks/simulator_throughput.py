"""How much the simulator's own work costs per request, as a ratio to the server's bare overhead.

Baseline and measured requests alternate in rounds on one keep-alive connection, so machine noise hits both
alike; the median ratio over the rounds is the number to compare between commits.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

import httpx

from harness.catalog import bettercharge, betterpayment
from harness.simulator.server import start


def _bc_authorize_body() -> dict[str, object]:
    cat = bettercharge()
    card = cat.approving_card
    return {
        "merchantId": cat.simulator.merchant_id, "orderReference": f"bench-{uuid.uuid4()}", "amount": 1000,
        "currency": "EUR", "customer": {"email": cat.emails[0].email},
        "card": {"number": card.pan, "expMonth": 12, "expYear": time.gmtime().tm_year + 2, "cvv": "123",
                 "holder": "Bench Mark"},
    }


def _bp_payment_body(url: str) -> dict[str, object]:
    return {
        "payment_type": "cardecom", "order_id": f"bench-{uuid.uuid4().hex[:12]}", "amount": "15.90",
        "currency": "EUR", "postback_url": f"{url}/nowhere", "success_url": f"{url}/ok", "error_url": f"{url}/err",
        "card_number": bettercharge().approving_card.pan, "card_holder": "Bench Mark", "card_cvv": "123",
        "card_expiry_month": "12", "card_expiry_year": str(time.gmtime().tm_year + 2),
        "threeds_authentication_value": "AAABBBCCC", "threeds_directory_server_trans_id": str(uuid.uuid4()),
    }


def _timed(n: int, call: Callable[[], httpx.Response]) -> float:
    began = time.perf_counter()
    for _ in range(n):
        response = call()
        if response.status_code >= 300:
            raise SystemExit(f"benchmark request failed: {response.status_code} {response.text[:200]}")
    return (time.perf_counter() - began) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=40, help="requests per round (BetterCharge allows 100/min)")
    args = parser.parse_args()
    sim = start()
    bc, bp = bettercharge().simulator, betterpayment().simulator
    try:
        with httpx.Client(base_url=sim.url, timeout=30) as http:
            bc_headers = {"x-api-key": bc.api_key, "x-partner-id": bc.partner_id}
            operations: dict[str, Callable[[], httpx.Response]] = {
                "bettercharge authorize": lambda: http.post("/payments/authorize", json=_bc_authorize_body(),
                                                            headers=bc_headers),
                "betterpayment payment (own MPI)": lambda: http.post(
                    "/rest/payment", json=_bp_payment_body(sim.url), auth=(bp.api_key, bp.api_password)),
            }
            ratios: dict[str, list[float]] = {name: [] for name in operations}
            for _ in range(args.rounds):
                http.post("/_simulator/reset").raise_for_status()
                for name, call in operations.items():
                    base = _timed(args.per_round, lambda: http.get("/_simulator/clock"))
                    ratios[name].append(_timed(args.per_round, call) / base)
            for name, values in ratios.items():
                q = statistics.quantiles(values, n=4)
                print(f"{name:34s} median ratio {statistics.median(values):6.2f}  (IQR {q[0]:.2f}-{q[2]:.2f}, "
                      f"{args.rounds} rounds x {args.per_round})")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
