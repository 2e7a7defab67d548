"""Which catalog requirements each contract test proves, per API and test kind.

The ids are catalog `rules` (fixtures/catalog/<api>.yaml); *-DATA-VALIDATION is advisory there, so the plugin
reports a failure of that kind as advisory, never as a blocker. The *-VALIDATION-ROBUST rules (never a 5xx for
bad input) are proven in part by the negative kind. An id the catalog lacks stops collection (the plugin
refuses unknown ids), so a renamed catalog row cannot silently drop a proof.
"""

from __future__ import annotations

from typing import Final

import pytest

from harness.contract.options import Kind

__all__ = ["REQUIREMENTS", "requirement_mark"]

REQUIREMENTS: Final[dict[tuple[str, Kind], tuple[str, ...]]] = {
    ("bettercharge", "conformance"): ("BC-CONTRACT-CONFORMANCE",),
    ("bettercharge", "negative"): ("BC-CONTRACT-NEGATIVE", "BC-VALIDATION-ROBUST"),
    ("bettercharge", "data_validation"): ("BC-CONTRACT-DATA-VALIDATION",),
    ("bettercharge", "stateful"): ("BC-CONTRACT-STATEFUL",),
    ("betterpayment", "conformance"): ("BP-CONTRACT-CONFORMANCE",),
    ("betterpayment", "negative"): ("BP-CONTRACT-NEGATIVE", "BP-VALIDATION-ROBUST"),
    ("betterpayment", "data_validation"): ("BP-CONTRACT-DATA-VALIDATION",),
    ("betterpayment", "stateful"): ("BP-CONTRACT-STATEFUL",),
}


def requirement_mark(api: str, kind: Kind) -> pytest.MarkDecorator:
    """``@requirement_mark(API, "conformance")``: the requirement mark of one API's tests of one kind."""
    return pytest.mark.requirement(*REQUIREMENTS[(api, kind)])
