"""The Better Payment suites' fixtures: harness/suite/betterpayment/fixtures.py (the paycert plugin gives the target,
the client and the control interface)."""

from harness.suite.betterpayment.fixtures import (
    bp_keys,
    browser,
    client,
    clock_lock,
    other_client,
    postback_receiver,
    postbacks,
    settle,
    urls,
)

__all__ = ["bp_keys", "browser", "client", "clock_lock", "other_client", "postback_receiver", "postbacks", "settle",
           "urls"]
