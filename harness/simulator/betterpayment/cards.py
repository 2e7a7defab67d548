"""Card numbers: the brand from the BIN (catalog ranges); Luhn and masking are harness/cards.py's.

The simulator keeps only the masked form (first six, last four), the brand and the expiry; the PAN lives in
a request's memory and is dropped with it. The CVV is never stored.
"""

from __future__ import annotations

from harness.catalog.betterpayment import CardBrand


def _matches(pan: str, prefix: str) -> int:
    """The length of the matched prefix (0 = no match); "51-55" is a range of equal-length prefixes."""
    low, _, high = prefix.partition("-")
    high = high or low
    head = pan[: len(low)]
    return len(low) if len(head) == len(low) and low <= head <= high else 0


def brand_of(pan: str, brands: list[CardBrand]) -> str:
    """The brand whose longest prefix matches, or 'unknown'."""
    best, best_len = "unknown", 0
    for b in brands:
        for prefix in b.prefixes:
            n = _matches(pan, prefix)
            if n > best_len:
                best, best_len = b.brand, n
    return best
