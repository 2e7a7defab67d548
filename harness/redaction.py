"""Card-data and secret redaction: the one place that knows what must never be written down.

Why one module: the evidence recorder masks with these functions and the leak audit detects with them, so
the two can never disagree about what a leak looks like. Everything here is a pure function of its arguments
(no I/O, no global state), which keeps it easy to test and safe to call from any layer.

Rules (PCI DSS; Luhn and the mask itself are in harness/cards.py):

- A PAN is shown as its first six and last four digits, the middle replaced by ``*`` (``424242******4242``).
- Free text: any Luhn-valid run of 13-19 digits that is not part of a longer digit run is a PAN. So are the
  usual grouped forms (``4242 4242 4242 4242``, ``3782-822463-10005``). A PAN the caller names in
  ``known_pans`` is masked even when it fails Luhn.
- Structured data: the value of a card-number field (``card_number``, ``cardNumber``, ``pan``, ``number``
  inside a ``card`` object, ...) is masked whatever its Luhn validity. One documented BetterCharge test card
  fails Luhn on purpose, and a card field is sensitive because of where it sits, not because of its checksum.
- CVV/CVC values become ``[REDACTED]``; so do secret-named fields (passwords, API keys, signing keys).
- Configured secrets (API key, API password, webhook and signing keys) become ``[REDACTED]`` wherever they
  occur, also in their URL-encoded and JSON-escaped spellings.
- Headers: ``Authorization``, ``Proxy-Authorization``, ``x-api-key``, ``Cookie`` and ``Set-Cookie`` values go.
  Signatures (``Gateway-Webhook-Signature``) stay: they are derived values, needed to debug a failed check.

Known limit: a 13-digit Unix timestamp in milliseconds that happens to pass Luhn is masked too. Over-masking
evidence is the safe side of that trade.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

from harness.cards import PAN_MAX_DIGITS, PAN_MIN_DIGITS, luhn_valid, mask_pan

__all__ = [
    "REDACTED",
    "SENSITIVE_HEADERS",
    "Leak",
    "find_leaks",
    "find_pans",
    "redact_body",
    "redact_form",
    "redact_headers",
    "redact_json",
    "redact_text",
]

REDACTED: Final = "[REDACTED]"

#: Header names (lower case) whose values are credentials and are always replaced.
SENSITIVE_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"})

# Field names are compared lower-cased with everything but letters and digits dropped, so `card_number`,
# `cardNumber` and `card-number` are one name.
_PAN_FIELDS: Final = frozenset(
    {"cardnumber", "pan", "cardpan", "ccnumber", "creditcardnumber", "cardno", "primaryaccountnumber"}
)
_CARD_OBJECTS: Final = frozenset({"card", "creditcard", "paymentcard"})  # where a bare `number` is a PAN
_CVV_FIELDS: Final = frozenset(
    {"cvv", "cvv2", "cvc", "cvc2", "cvn", "cardcvv", "cardcvc", "securitycode", "cardsecuritycode"}
)
_SECRET_FIELDS: Final = frozenset(
    {
        "password",
        "apipassword",
        "apikey",
        "xapikey",
        "apisecret",
        "secret",
        "clientsecret",
        "outgoingkey",
        "incomingkey",
        "webhookkey",
        "signingkey",
        "privatekey",
        "authorization",
        "track1",
        "track2",
        "trackdata",
        "pinblock",
    }
)

_PAN_RUN = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")
# 4-4-4-4(-1..3) and the Amex 4-6-5 grouping, one separator kind throughout. Not inside a hyphenated or
# alphanumeric token: a UUID whose groups happen to be digits (637a9319-6557-4908-9001-7b55...) is not a card.
_PAN_GROUPED = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9A-Za-z]-)"
    r"(?:[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?|[0-9]{4}([ -])[0-9]{6}\2[0-9]{5})"
    r"(?![0-9A-Za-z])(?!-[0-9A-Za-z])"
)
# Everything _PAN_RUN or _PAN_GROUPED matches holds 13 or more characters of digits, spaces and hyphens from a
# digit to a digit: text without such a run holds no PAN, and most text (ids, names, URLs, log lines) is told so
# by one scan instead of two and a sort (the simulator masks every stored and logged string this way).
_PAN_SHAPED = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
# `card_number=4242...`, `"cardNumber": "4242..."`, `'number': 4242...` in text that is not (valid) JSON.
_CARD_FIELD_TEXT = re.compile(
    r"(?i)(?<![A-Za-z0-9_])([\"']?)(?:card[_-]?number|card[_-]?no|cc[_-]?number|pan|number)\1\s*[:=]\s*[\"']?"
    r"([0-9][0-9 -]*[0-9])(?![0-9])"
)
# `card_cvv=196`, `"cvv": "196"`; the value must hold a digit, so `null` and `[REDACTED]` are left alone.
_CVV_TEXT = re.compile(
    r"(?i)(?<![A-Za-z0-9_])([\"']?)(?:(?:card[_-]?)?(?:cvv|cvc)2?|security[_-]?code)\1\s*[:=]\s*[\"']?"
    r"(?=[^\"'&,;}\]\s]*[0-9])([^\"'&,;}\]\s]+)"
)


_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True)
class Leak:
    """One place in a text where sensitive data shows; `masked` is safe to print; the value is not kept."""

    kind: str  # "pan", "known_pan", "card_field", "cvv" or "secret"
    start: int
    end: int
    masked: str


def _digits(value: str) -> str:
    return "".join(ch for ch in value if "0" <= ch <= "9")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_pans(text: str) -> list[tuple[int, str]]:
    """Start offset and text of every Luhn-valid 13-19 digit PAN in `text`, in order of appearance.

    A run inside a longer digit run (an order number, a 20-digit reference) is not a PAN and is not reported.
    """
    if not _PAN_SHAPED.search(text):
        return []
    found: dict[int, str] = {}
    for pattern in (_PAN_RUN, _PAN_GROUPED):
        for match in pattern.finditer(text):
            if luhn_valid(_digits(match.group(0))):
                found.setdefault(match.start(), match.group(0))
    return sorted(found.items())


def _secret_variants(secrets: Iterable[str]) -> list[str]:
    """Each secret as a URL, a form or a JSON string may spell it; longest first, so none is half-hidden."""
    variants: set[str] = set()
    for secret in secrets:
        if not isinstance(secret, str) or not secret:
            continue
        variants.update({secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]})
    return sorted(variants, key=len, reverse=True)


def _mask_field_digits(value: str) -> str:
    """Mask for a card-number field: PAN-shaped -> first six/last four, any other digit string -> gone."""
    digits = _digits(value)
    if PAN_MIN_DIGITS <= len(digits) <= PAN_MAX_DIGITS:
        return mask_pan(digits)
    return REDACTED


class _Redactor:
    """Secrets and known PANs prepared once (variants computed, digits normalised) for one redaction call."""

    def __init__(self, secrets: Iterable[str], known_pans: Iterable[str]) -> None:
        self.secrets = tuple(s for s in secrets if isinstance(s, str) and s)
        self.variants = _secret_variants(self.secrets)
        self.known = frozenset(
            d
            for d in (_digits(p) for p in known_pans if isinstance(p, str))
            if PAN_MIN_DIGITS <= len(d) <= PAN_MAX_DIGITS
        )

    def findings(self, text: str, kinds: frozenset[str] | None = None) -> list[Leak]:
        """Every finding in `text`. Each pattern is only run where a plain substring test says it can match
        (a secret or known PAN that is not in the text, or a text without digits): evidence redaction calls
        this for every string of every recorded body, and a regex scan per secret variant and per known PAN
        (dozens) was most of the time a contract run spent recording evidence."""
        found: list[Leak] = []
        for variant in self.variants:
            if variant in text:
                for match in re.finditer(re.escape(variant), text):
                    found.append(Leak("secret", match.start(), match.end(), REDACTED))
        if _DIGIT.search(text) is None:  # every pattern below needs a digit
            return sorted(found, key=lambda leak: (leak.start, -leak.end, leak.kind))
        if kinds is None or "cvv" in kinds:
            for match in _CVV_TEXT.finditer(text):
                found.append(Leak("cvv", match.start(2), match.end(2), REDACTED))
        if kinds is None or "card_field" in kinds:
            for match in _CARD_FIELD_TEXT.finditer(text):
                if len(_digits(match.group(2))) >= PAN_MIN_DIGITS:
                    found.append(Leak("card_field", match.start(2), match.end(2), _mask_field_digits(match.group(2))))
        for start, pan in find_pans(text):
            found.append(Leak("pan", start, start + len(pan), mask_pan(pan)))
        for pan in self.known:
            if pan in text:
                for match in re.finditer(rf"(?<![0-9]){pan}(?![0-9])", text):
                    found.append(Leak("known_pan", match.start(), match.end(), mask_pan(pan)))
        return sorted(found, key=lambda leak: (leak.start, -leak.end, leak.kind))

    def text(self, text: str) -> str:
        """Repeat until nothing is found: what an overlapping finding only partly covered goes next pass.

        Masked output is never detected again, so this ends after a pass or two; the bound is a safety net.
        """
        for _ in range(4):
            found = self.findings(text)
            if not found:
                break
            text = _apply(text, found)
        return text

    def value(self, value: Any, field: str | None = None, parent: str | None = None) -> Any:
        """Redact one JSON-like value; `field` is its normalised key, `parent` that of its container."""
        if isinstance(value, Mapping):
            return {
                (self.text(k) if isinstance(k, str) else k): self.value(
                    v, _norm(k) if isinstance(k, str) else None, field
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(item, field, parent) for item in value]
        if value is None or isinstance(value, bool | float):
            return value
        if field in _CVV_FIELDS or field in _SECRET_FIELDS:
            return REDACTED if value != "" else value
        if field in _PAN_FIELDS or (field == "number" and parent in _CARD_OBJECTS):
            text = str(value)
            if len(_digits(text)) > 4:
                return _mask_field_digits(text)
            return self.text(value) if isinstance(value, str) else value
        if isinstance(value, int):
            digits = str(abs(value))
            if PAN_MIN_DIGITS <= len(digits) <= PAN_MAX_DIGITS and (luhn_valid(digits) or digits in self.known):
                return mask_pan(digits)
            return value
        return self.text(value if isinstance(value, str) else str(value))


@lru_cache(maxsize=64)
def _prepared(secrets: tuple[Any, ...], known_pans: tuple[Any, ...]) -> _Redactor:
    return _Redactor(secrets, known_pans)


def _redactor(secrets: Iterable[str], known_pans: Iterable[str]) -> _Redactor:
    """The redactor for these secrets and PANs, prepared once: a run redacts hundreds of thousands of strings
    with the same few, and preparing the variants (URL, form and JSON spellings) each time was most of the
    report's build time."""
    secrets, known_pans = tuple(secrets), tuple(known_pans)
    try:
        return _prepared(secrets, known_pans)
    except TypeError:  # an unhashable entry: nothing to share
        return _Redactor(secrets, known_pans)


def _apply(text: str, found: list[Leak]) -> str:
    """Replace the findings; where two overlap the earlier-starting, longer one wins."""
    pieces: list[str] = []
    cursor = 0
    for leak in sorted(found, key=lambda item: (item.start, -item.end)):
        if leak.start < cursor:
            continue
        pieces.append(text[cursor : leak.start])
        pieces.append(leak.masked)
        cursor = leak.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def find_leaks(text: str, secrets: Iterable[str] = (), *, known_pans: Iterable[str] = (),
               kinds: Iterable[str] | None = None) -> list[Leak]:
    """Every sensitive value still readable in `text`: what the leak audit reports and redact_text removes.

    Overlapping findings are all reported (a secret that is also Luhn-valid shows twice); sorted by offset.
    `kinds` limits the search to those kinds of Leak (the audit needs no field patterns, see leak_audit).
    """
    return _redactor(secrets, known_pans).findings(text, frozenset(kinds) if kinds is not None else None)


def redact_text(text: str, secrets: Iterable[str] = (), *, known_pans: Iterable[str] = ()) -> str:
    """`text` with PANs masked, card-number and CVV fields cleared and secrets replaced by ``[REDACTED]``."""
    return _redactor(secrets, known_pans).text(text)


def redact_json(obj: Any, secrets: Iterable[str] = (), *, known_pans: Iterable[str] = ()) -> Any:
    """A redacted deep copy of a JSON-like value (dicts, lists, scalars); the input is never modified.

    Card-number fields are masked whatever their Luhn validity (a value with more than four digits that is
    not PAN-shaped becomes ``[REDACTED]``); CVV and secret-named fields become ``[REDACTED]`` (null and empty
    values stay, they hide nothing); a Luhn-valid 13-19 digit integer anywhere becomes its masked string;
    every other string goes through redact_text.
    """
    return _redactor(secrets, known_pans).value(obj)


def redact_form(text: str, secrets: Iterable[str] = (), *, known_pans: Iterable[str] = ()) -> str:
    """Redact an application/x-www-form-urlencoded body field by field, keeping the field order."""
    redactor = _redactor(secrets, known_pans)
    pairs = [
        (redactor.text(key), str(redactor.value(value, _norm(key))))
        for key, value in parse_qsl(text, keep_blank_values=True)
    ]
    return redactor.text(urlencode(pairs, safe="[]*"))


def redact_body(
    body: bytes | str | None,
    content_type: str | None = None,
    secrets: Iterable[str] = (),
    *,
    known_pans: Iterable[str] = (),
) -> str | None:
    """A message body as redacted text, parsed as JSON or a form when it is one, else treated as plain text.

    JSON is re-serialised after redaction (key order kept); the free-text pass runs over the result too, so a
    PAN hidden in a key or an odd spot is still caught. Bytes are decoded as UTF-8 with replacement.
    """
    if body is None:
        return None
    redactor = _redactor(secrets, known_pans)
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if not text:
        return text
    kind = (content_type or "").lower()
    stripped = text.lstrip()
    if "json" in kind or stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            return redactor.text(json.dumps(redactor.value(parsed), ensure_ascii=False))
    if "x-www-form-urlencoded" in kind:
        return redact_form(text, redactor.secrets, known_pans=redactor.known)
    return redactor.text(text)


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secrets: Iterable[str] = (),
    *,
    known_pans: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Header pairs, in order and with repeats kept, credentials replaced and other values text-redacted.

    Accepts a mapping, an ``httpx.Headers`` (its repeated headers are kept) or an iterable of pairs.
    """
    multi_items = getattr(headers, "multi_items", None)
    if callable(multi_items):
        items: Iterable[tuple[str, str]] = multi_items()
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    redactor = _redactor(secrets, known_pans)
    return [
        (name, REDACTED if name.lower() in SENSITIVE_HEADERS else redactor.text(str(value))) for name, value in items
    ]
