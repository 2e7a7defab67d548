"""harness.redaction: PAN masking, CVV and secret removal, and the leak detection the audit relies on.

Example PANs come from the catalog (the one source of test cards); longer and shorter ones are derived from
catalog PANs with a recomputed Luhn check digit, so no card number is written here.
"""

from __future__ import annotations

import copy
import json

import pytest

from harness.cards import luhn_valid, mask_pan
from harness.catalog import bettercharge
from harness.redaction import (
    REDACTED,
    find_leaks,
    find_pans,
    redact_body,
    redact_form,
    redact_headers,
    redact_json,
    redact_text,
)

SECRET = "s3cr3t-p@ss/word"


def _cards() -> list[str]:
    return [card.pan for card in bettercharge().cards]


def _luhn_card() -> str:
    return next(pan for pan in _cards() if len(pan) == 16 and luhn_valid(pan))


def _non_luhn_card() -> str:
    """The documented test card that fails Luhn on purpose."""
    return next(pan for pan in _cards() if not luhn_valid(pan))


def _with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _pan_of_length(length: int) -> str:
    longest = max(_cards(), key=len)
    return _with_check_digit((longest * 2)[: length - 1])


@pytest.mark.parametrize("length", range(13, 20))
def test_mask_pan_keeps_first_six_and_last_four_for_13_to_19_digits(length: int) -> None:
    pan = _pan_of_length(length)
    masked = mask_pan(pan)
    assert masked == pan[:6] + "*" * (length - 10) + pan[-4:]
    assert len(masked) == length


def test_mask_pan_accepts_grouped_form() -> None:
    pan = _luhn_card()
    grouped = " ".join(pan[i : i + 4] for i in range(0, 16, 4))
    assert mask_pan(grouped) == mask_pan(pan)


@pytest.mark.parametrize("bad", ["", "123456789012", "1" * 20, "4242abcd42424242", "-" * 16])
def test_mask_pan_rejects_non_pans_without_echoing_them(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        mask_pan(bad)
    assert "13-19" in str(info.value)
    if bad.strip("-"):
        assert bad not in str(info.value)


def test_find_pans_reports_luhn_valid_runs_with_offsets() -> None:
    pan = _luhn_card()
    text = f"paid with {pan}, ok"
    assert find_pans(text) == [(10, pan)]


def test_find_pans_ignores_runs_inside_longer_digit_runs_and_non_luhn() -> None:
    pan = _luhn_card()
    assert find_pans(f"ref 9{pan}") == []  # part of a 17-digit run that fails Luhn
    assert find_pans(f"ref {pan}0000") == []  # part of a 20-digit run
    assert find_pans(f"id {_non_luhn_card()}") == []
    assert find_pans("amount 1500, ts 1732158000") == []


def test_find_pans_sees_grouped_pans_but_not_uuids() -> None:
    pan = _luhn_card()
    grouped = "-".join(pan[i : i + 4] for i in range(0, 16, 4))
    assert find_pans(f"card {grouped}.") == [(5, grouped)]
    assert find_pans(f"id 12345678-{grouped}12345678") == []
    # a random UUID whose hex groups are digits, glued to letters: Luhn-valid by chance, never a card
    assert find_pans('{"uuid": "637a9319-6557-4908-9001-7b557f8faf4e"}') == []


def test_redact_text_masks_pans_and_card_fields_even_without_luhn() -> None:
    good, bad = _luhn_card(), _non_luhn_card()
    text = f'note {good} card_number={bad}&card_cvv=196 {{"number": "{bad}", "cvv": "123"'  # malformed JSON
    out = redact_text(text)
    assert good not in out and bad not in out
    assert mask_pan(good) in out and mask_pan(bad) in out
    assert "196" not in out and "123" not in out
    assert out.count(REDACTED) == 2


def test_redact_text_replaces_secrets_in_every_spelling() -> None:
    from urllib.parse import quote, quote_plus

    text = f"a={SECRET} b={quote(SECRET, safe='')} c={quote_plus(SECRET)} d={json.dumps(SECRET)}"
    out = redact_text(text, [SECRET, ""])
    assert "s3cr3t" not in out
    assert out.count(REDACTED) == 4


def test_redact_json_masks_card_fields_removes_cvv_and_secrets_without_mutating() -> None:
    good, bad = _luhn_card(), _non_luhn_card()
    body = {
        "merchantId": "m-1",
        "card": {"number": bad, "cvv": "123", "expMonth": 12, "expYear": 2030, "holder": "J Doe"},
        "card_number": good,
        "card_cvv": "196",
        "cardNumber": int(good),
        "pan": "4242",  # too short to reveal anything: kept
        "items": [{"note": f"secret {SECRET} inside"}, int(good)],
        "amount": 1500,
        "password": "hunter22",
        "card_cvv_missing": None,
    }
    original = copy.deepcopy(body)
    out = redact_json(body, [SECRET])
    assert body == original
    assert out["card"] == {
        "number": mask_pan(bad),
        "cvv": REDACTED,
        "expMonth": 12,
        "expYear": 2030,
        "holder": "J Doe",
    }
    assert out["card_number"] == mask_pan(good)
    assert out["cardNumber"] == mask_pan(good)
    assert out["card_cvv"] == REDACTED
    assert out["pan"] == "4242"
    assert out["items"] == [{"note": f"secret {REDACTED} inside"}, mask_pan(good)]
    assert out["amount"] == 1500
    assert out["password"] == REDACTED
    assert find_leaks(json.dumps(out), [SECRET], known_pans=_cards()) == []


def test_redact_json_card_field_with_odd_digit_count_is_hidden_entirely() -> None:
    out = redact_json({"card": {"number": "12345678"}, "card_number": "1" * 22})
    assert out == {"card": {"number": REDACTED}, "card_number": REDACTED}


def test_bare_number_outside_a_card_object_is_not_a_card_field() -> None:
    out = redact_json({"invoice": {"number": "12345678"}})
    assert out == {"invoice": {"number": "12345678"}}


def test_known_pans_are_masked_in_free_text_even_without_luhn() -> None:
    bad = _non_luhn_card()
    assert redact_text(f"echo {bad}") == f"echo {bad}"  # free text: Luhn decides...
    assert redact_text(f"echo {bad}", known_pans=_cards()) == f"echo {mask_pan(bad)}"  # ...unless named


def test_redact_form_keeps_order_and_masks_fields() -> None:
    bad = _non_luhn_card()
    out = redact_form(f"payment_type=cc&card_number={bad}&card_cvv=196&amount=15.90&api_key=abcdef")
    assert out == f"payment_type=cc&card_number={mask_pan(bad)}&card_cvv={REDACTED}&amount=15.90&api_key={REDACTED}"


def test_redact_body_by_content_type() -> None:
    good = _luhn_card()
    assert redact_body(None) is None
    as_json = redact_body(json.dumps({"card_number": good}).encode(), "application/json; charset=utf-8")
    assert as_json is not None and json.loads(as_json) == {"card_number": mask_pan(good)}
    as_form = redact_body(f"card_number={good}", "application/x-www-form-urlencoded")
    assert as_form == f"card_number={mask_pan(good)}"
    assert redact_body(b"not json {", "application/json") == "not json {"


def test_redact_headers_drops_credentials_keeps_signatures_order_and_repeats() -> None:
    headers = [
        ("Authorization", "Basic ZGVtbzpwQDU1dzByZA=="),
        ("x-api-key", "key-123"),
        ("Cookie", "sid=1"),
        ("Set-Cookie", "sid=2"),
        ("Gateway-Webhook-Signature", "abc="),
        ("X-Note", f"uses {SECRET}"),
        ("X-Note", "second"),
    ]
    assert redact_headers(headers, [SECRET]) == [
        ("Authorization", REDACTED),
        ("x-api-key", REDACTED),
        ("Cookie", REDACTED),
        ("Set-Cookie", REDACTED),
        ("Gateway-Webhook-Signature", "abc="),
        ("X-Note", f"uses {REDACTED}"),
        ("X-Note", "second"),
    ]
    assert redact_headers({"X-API-KEY": "k"}) == [("X-API-KEY", REDACTED)]


def test_find_leaks_names_each_kind_and_never_returns_the_value() -> None:
    good, bad = _luhn_card(), _non_luhn_card()
    text = f'{good} "cvv": "123" card_number={bad} {SECRET}'
    leaks = find_leaks(text, [SECRET])
    assert {leak.kind for leak in leaks} == {"pan", "cvv", "card_field", "secret"}
    for leak in leaks:
        assert good not in leak.masked and bad not in leak.masked and SECRET not in leak.masked
    assert find_leaks(redact_text(text, [SECRET]), [SECRET]) == []
