"""The BetterCharge half of the suites' library (harness/suite): views, checks, merchants, requests, scenarios,
probes and fixtures of suites/bettercharge."""
