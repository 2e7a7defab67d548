"""The two postback signing schemes reproduce the public vectors and refuse anything tampered with."""

from __future__ import annotations

import re

import pytest

from harness.catalog import betterpayment
from harness.catalog.betterpayment import Vector
from harness.postback_signing import (
    SIGNATURE_HEADER,
    checksum,
    checksum_is_last,
    encode_fields,
    encode_postback,
    parse_postback,
    signature,
    signature_conventional,
    split_checksum,
    verify_checksum,
    verify_signature,
)

KEY = "incoming-test-key"
WEBHOOK = "webhook-test-key"


def test_signature_reproduces_the_doc_vector() -> None:
    sig = betterpayment().postbacks.signature
    v = sig.doc_vector
    assert signature(v.body, v.key) == v.expected
    assert signature(v.body.encode(), v.key.encode()) == v.expected
    assert verify_signature(v.body, v.expected, v.key)
    assert sig.header == SIGNATURE_HEADER


def test_the_conventional_hmac_order_does_not_reproduce_the_doc_vector() -> None:
    sig = betterpayment().postbacks.signature
    v = sig.doc_vector
    conventional = signature_conventional(v.body, v.key)
    assert conventional == sig.conventional_order_result
    assert conventional != v.expected
    assert not verify_signature(v.body, conventional, v.key)


@pytest.mark.parametrize("vector", betterpayment().postbacks.checksum.vectors, ids=lambda v: v.expected[:8])
def test_checksum_reproduces_the_catalog_vectors(vector: Vector) -> None:
    assert checksum(vector.body, vector.key) == vector.expected


def test_seed_checksums_have_the_shape_but_cannot_be_recomputed() -> None:
    cat = betterpayment()
    assert cat.postbacks.checksum.seed_checksums_recomputable is False
    for example in (cat.seed_examples.postback_completed, cat.seed_examples.postback_declined):
        assert re.fullmatch(r"[0-9a-f]{40}", example["checksum"])
        assert list(example)[-1] == "checksum"
        # Whatever key we try (none of ours is the gateway's), the seed's value does not come out.
        body = encode_fields({k: v for k, v in example.items() if k != "checksum"})
        for key in (cat.simulator.incoming_key, "", cat.auth.example_api_password):
            assert checksum(body, key) != example["checksum"]


def test_seed_fields_in_catalog_kinds_match_the_seed_examples() -> None:
    cat = betterpayment()
    assert cat.postbacks.kinds["completed"].names == list(cat.seed_examples.postback_completed)
    assert cat.postbacks.kinds["declined"].names == list(cat.seed_examples.postback_declined)


def test_encode_postback_puts_a_valid_checksum_last() -> None:
    fields = {"transaction_id": "t-1", "message": "CAPTURE SETTLED", "amount": "15.90", "empty": None, "n": 3}
    body = encode_postback(fields, KEY)
    assert body.startswith("transaction_id=t-1&message=CAPTURE+SETTLED&amount=15.90&empty=&n=3&checksum=")
    assert checksum_is_last(body)
    rest, value = split_checksum(body)
    assert value == checksum(rest, KEY)
    assert verify_checksum(body, KEY)
    parsed = parse_postback(body)
    assert parsed["message"] == "CAPTURE SETTLED" and parsed["empty"] == "" and list(parsed)[-1] == "checksum"


def test_encode_postback_moves_a_given_checksum_last_and_needs_one() -> None:
    body = encode_postback([("checksum", "abc"), ("a", "1"), ("b", "x&y")])
    assert body == "a=1&b=x%26y&checksum=abc"
    with pytest.raises(ValueError, match="no checksum"):
        encode_postback({"a": "1"})


def test_encode_postback_with_a_key_ignores_a_stale_checksum() -> None:
    body = encode_postback({"a": "1", "checksum": "stale"}, KEY)
    assert verify_checksum(body, KEY)
    assert "stale" not in body


def test_verify_checksum_rejects_tampering_wrong_key_missing_and_misplaced() -> None:
    body = encode_postback({"transaction_id": "t-1", "status_code": "3", "amount": "15.90"}, KEY)
    assert verify_checksum(body, KEY)
    assert not verify_checksum(body.replace("15.90", "99.90"), KEY)
    assert not verify_checksum(body, "another-key")
    assert not verify_checksum(split_checksum(body)[0], KEY)
    rest, value = split_checksum(body)
    misplaced = f"checksum={value}&{rest}"
    assert split_checksum(misplaced) == (rest, value)
    assert not checksum_is_last(misplaced) and not verify_checksum(misplaced, KEY)
    assert not verify_checksum(b"", KEY)
    assert verify_checksum(body.encode(), KEY.encode())
    assert verify_checksum(body.replace(value or "", (value or "").upper()), KEY)  # hex case does not matter


def test_verify_signature_rejects_tampering_wrong_key_and_missing_header() -> None:
    body = encode_postback({"transaction_id": "t-1", "status": "completed"}, KEY)
    sig = signature(body, WEBHOOK)
    assert verify_signature(body, sig, WEBHOOK)
    assert verify_signature(body.encode(), f"  {sig} ", WEBHOOK)
    assert not verify_signature(body + "&x=1", sig, WEBHOOK)
    assert not verify_signature(body, sig, "other")
    assert not verify_signature(body, None, WEBHOOK)
    assert not verify_signature(body, "", WEBHOOK)
    assert not verify_signature(body, "not-base64-é", WEBHOOK)
    assert not verify_signature(body, signature_conventional(body, WEBHOOK), WEBHOOK)


def test_checksum_is_over_the_raw_bytes_as_received() -> None:
    # A sender whose encoder writes %20 for a space: the raw body still verifies, byte for byte.
    rest = "message=CAPTURE%20SETTLED&amount=15.90"
    body = f"{rest}&checksum={checksum(rest, KEY)}"
    assert verify_checksum(body, KEY)
    assert parse_postback(body)["message"] == "CAPTURE SETTLED"


# --- PHP http_build_query compatibility (catalog postbacks.checksum.vectors, computed with PHP 8.2) ------------

def test_php_encoding_reproduces_every_catalog_vector() -> None:
    from harness.catalog import betterpayment
    from harness.postback_signing import encode_postback, php_http_build_query, verify_checksum_rebuilt

    vectors = [v for v in betterpayment().postbacks.checksum.vectors if v.fields]
    assert len(vectors) >= 4
    for v in vectors:
        assert php_http_build_query(v.fields) == v.body
        assert checksum(v.body, v.key) == v.expected
        body = encode_postback(v.fields, v.key)
        assert body == f"{v.body}&checksum={v.expected}"
        assert verify_checksum(body, v.key) and verify_checksum_rebuilt(body, v.key)


def test_php_urlencode_differs_from_python_only_where_php_does() -> None:
    from urllib.parse import quote_plus

    from harness.postback_signing import php_http_build_query, php_urlencode

    assert php_urlencode("a~b c+d&e%f=g'h*i-_.") == "a%7Eb+c%2Bd%26e%25f%3Dg%27h%2Ai-_."
    assert php_urlencode("ä😀") == "%C3%A4%F0%9F%98%80"
    for ch in map(chr, range(32, 127)):
        expected = quote_plus(ch, safe="").replace("~", "%7E")
        assert php_urlencode(ch) == expected, ch
    assert php_http_build_query([("a", None), ("b", "")]) == "b="  # PHP drops null, keeps empty


def test_rebuilt_verification_fails_for_a_foreign_encoder() -> None:
    from urllib.parse import urlencode

    from harness.postback_signing import verify_checksum_rebuilt

    key = "k"
    for fields in ([("x", "a~b")], [("x", "a b")]):
        raw = urlencode(fields) if "~" in fields[0][1] else urlencode(fields).replace("+", "%20")
        body = f"{raw}&checksum={checksum(raw, key)}"
        assert verify_checksum(body, key), "the raw-body check accepts any encoder"
        assert not verify_checksum_rebuilt(body, key), "the PHP plugins' rebuild must notice the foreign encoding"
