"""paycert: contract tests and go-live certification for the Better Payment and BetterCharge APIs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
