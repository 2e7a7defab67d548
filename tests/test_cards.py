"""harness/cards.py: Luhn and the first-six/last-four mask, once for every layer (and nowhere else)."""

from __future__ import annotations

import re

import pytest

from harness import cards, openapi
from harness.cards import luhn_complete, luhn_valid, mask_digits, mask_pan
from harness.catalog import bettercharge, betterpayment, known_pans
from harness.paths import fixtures_dir

CARDS = bettercharge().cards
VALID = [c.pan for c in CARDS if c.id != "BC-CARD-26"]


def test_the_documented_cards_pass_luhn_except_the_one_that_fails_on_purpose() -> None:
    assert [c.id for c in CARDS if not luhn_valid(c.pan)] == ["BC-CARD-26"]
    assert luhn_valid(betterpayment().seed_card_pan)


@pytest.mark.parametrize("pan", VALID[:8])
def test_every_single_digit_error_is_caught(pan: str) -> None:
    for position in range(len(pan)):
        for digit in "0123456789":
            if digit != pan[position]:
                assert not luhn_valid(pan[:position] + digit + pan[position + 1 :]), (position, digit)


@pytest.mark.parametrize("bad", ["", " ", "4242 4242", "42a2", "\u0664\u0662", "١٢٣٤", None, 4242])
def test_luhn_valid_is_false_not_an_error_for_non_digits(bad: object) -> None:
    assert luhn_valid(bad) is False  # type: ignore[arg-type]


def test_luhn_complete_appends_the_check_digit() -> None:
    for pan in VALID:
        assert luhn_complete(pan[:-1]) == pan
    with pytest.raises(ValueError, match="ASCII digits"):
        luhn_complete("12ab")


@pytest.mark.parametrize("length", range(10, 20))
def test_the_mask_keeps_six_and_four(length: int) -> None:
    digits = "".join(str(i % 10) for i in range(length))
    assert mask_digits(digits) == digits[:6] + "*" * (length - 10) + digits[-4:]


def test_mask_pan_is_the_checked_mask() -> None:
    assert mask_pan(VALID[0]) == mask_digits(VALID[0])
    with pytest.raises(ValueError, match="13-19"):
        mask_pan("123456789012")


def test_known_pans_are_every_documented_card_number() -> None:
    assert set(known_pans()) == {c.pan for c in CARDS} | {betterpayment().seed_card_pan}


def test_the_openapi_pan_format_is_this_luhn() -> None:
    bad = VALID[0][:-1] + str((int(VALID[0][-1]) + 1) % 10)
    checker = openapi._FORMAT_CHECKER
    assert checker.conforms(VALID[0], "pan") and not checker.conforms(bad, "pan")


def test_no_second_luhn_or_mask_in_the_code() -> None:
    """A Luhn loop or a first-six/last-four slice anywhere but harness/cards.py is a second home of a rule."""
    root = fixtures_dir().parent
    luhn = re.compile(r"def \w*luhn\w*\(|% 10 == 0")
    mask = re.compile(r"\[:6\][^\n]*\*[^\n]*\[-4:\]")
    allowed = {"harness/cards.py"}
    offenders = [str(p.relative_to(root)) for d in ("harness", "suites") for p in sorted((root / d).rglob("*.py"))
                 if str(p.relative_to(root)) not in allowed
                 and (luhn.search(text := p.read_text(encoding="utf-8")) or mask.search(text))]
    assert offenders == []
    assert cards.__file__.endswith("harness/cards.py")


def test_random_text_never_holds_a_card_number_like_run() -> None:
    """The suites' fresh ids come from random_text: no digit run a target could take for a PAN and mask."""
    import re

    from harness.cards import PAN_MIN_DIGITS, random_text

    texts = [random_text(40) for _ in range(3000)]
    assert all(len(t) == 40 and re.fullmatch(r"[0-9a-f]{40}", t) for t in texts)
    longest = max(len(run) for t in texts for run in re.findall(r"[0-9]+", t))
    assert PAN_MIN_DIGITS - 5 <= longest < PAN_MIN_DIGITS
