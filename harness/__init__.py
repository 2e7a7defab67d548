"""paycert: contract tests and go-live certification for the Better Payment and BetterCharge APIs.

`__version__` is the installed distribution's version (pyproject.toml's `version`, the one place it is
written); a checkout that was never installed reports "0+unknown" rather than a made-up number.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("paycert")
except PackageNotFoundError:  # pragma: no cover - running from a checkout that pip never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
