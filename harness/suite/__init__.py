"""The library the hand-written certification suites are written with (suites/bettercharge, suites/betterpayment).

The suites hold test modules and short conftests; everything a second suite could reuse is here, once, with
the same file set and the same names for both APIs (ARCHITECTURE.md, "The suites' library"). Nothing here
imports the simulator: the suites reach it over HTTP, its control interface through harness/simulator_control.py,
so the same suites run against a sandbox.
"""
