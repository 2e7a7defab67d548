"""The BetterCharge suites' fixtures: harness/suite/bettercharge/fixtures.py (the paycert plugin gives the target,
the client and the control interface)."""

from harness.suite.bettercharge.fixtures import api, make_client, merchant_cache, merchants, target_clock

__all__ = ["api", "make_client", "merchant_cache", "merchants", "target_clock"]
