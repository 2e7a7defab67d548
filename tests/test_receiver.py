"""The postback receiver records every delivery, checks both signatures and can fail on purpose."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.postback_signing import SIGNATURE_HEADER, encode_postback, signature, split_checksum
from harness.receiver import PostbackReceiver

KEY = "rx-incoming"
WEBHOOK = "rx-webhook"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def rx() -> Iterator[PostbackReceiver]:
    with PostbackReceiver(incoming_key=KEY, webhook_key=WEBHOOK) as receiver:
        yield receiver


def _post(url: str, body: str, sig: str | None = "auto") -> httpx.Response:
    headers = {"Content-Type": FORM}
    if sig == "auto":
        headers[SIGNATURE_HEADER] = signature(body, WEBHOOK)
    elif sig is not None:
        headers[SIGNATURE_HEADER] = sig
    return httpx.post(url, content=body.encode(), headers=headers, timeout=5)


def _body(**fields: str) -> str:
    return encode_postback({"transaction_id": "t-1", "status_code": "3", **fields}, KEY)


def test_records_a_valid_delivery(rx: PostbackReceiver) -> None:
    body = _body(amount="15.90")
    assert _post(rx.url, body).status_code == 200
    [d] = rx.wait_for(1)
    assert d.fields["transaction_id"] == "t-1" and d.fields["amount"] == "15.90"
    assert d.raw_body == body.encode()
    assert d.checksum_ok and d.checksum_last and d.signature_ok and d.signature_present and d.verified
    assert d.answered == 200 and d.path == "/postback"
    assert d.headers["Content-Type"] == FORM
    assert rx.for_transaction("t-1") == [d]


def test_tampered_body_fails_both_checks(rx: PostbackReceiver) -> None:
    body = _body(amount="15.90")
    _post(rx.url, body.replace("15.90", "1590.00"), sig=signature(body, WEBHOOK))
    [d] = rx.wait_for(1)
    assert not d.checksum_ok and not d.signature_ok and d.answered == 200


def test_wrong_keys_fail(rx: PostbackReceiver) -> None:
    body = encode_postback({"transaction_id": "t-2"}, "not-the-incoming-key")
    _post(rx.url, body, sig=signature(body, "not-the-webhook-key"))
    [d] = rx.wait_for(1)
    assert not d.checksum_ok and not d.signature_ok


def test_missing_checksum_and_missing_signature_fail(rx: PostbackReceiver) -> None:
    body, _ = split_checksum(_body())
    _post(rx.url, body, sig=None)
    [d] = rx.wait_for(1)
    assert not d.checksum_ok and not d.signature_ok and not d.signature_present


def test_checksum_not_last_fails(rx: PostbackReceiver) -> None:
    rest, value = split_checksum(_body())
    body = f"checksum={value}&{rest}"
    _post(rx.url, body)
    [d] = rx.wait_for(1)
    assert not d.checksum_last and not d.checksum_ok and d.signature_ok


def test_fails_the_first_n_deliveries_then_answers_200() -> None:
    with PostbackReceiver(incoming_key=KEY, webhook_key=WEBHOOK, fail_first=2) as rx:
        statuses = [_post(rx.url, _body()).status_code for _ in range(3)]
        assert statuses == [500, 500, 200]
        assert [d.answered for d in rx.deliveries()] == statuses
        rx.fail_next(1, status=503)
        assert _post(rx.url, _body()).status_code == 503
        assert _post(rx.url, _body()).status_code == 200


def test_reject_invalid_answers_401() -> None:
    with PostbackReceiver(incoming_key=KEY, webhook_key=WEBHOOK, reject_invalid=True) as rx:
        assert _post(rx.url, _body()).status_code == 200
        assert _post(rx.url, _body(), sig="wrong").status_code == 401
        assert _post(rx.url, split_checksum(_body())[0]).status_code == 401


def test_without_keys_nothing_verifies(rx: PostbackReceiver) -> None:
    rx.set_keys()
    _post(rx.url, _body())
    [d] = rx.wait_for(1)
    assert not d.checksum_ok and not d.signature_ok
    rx.set_keys(incoming_key=KEY, webhook_key=WEBHOOK)
    _post(rx.url, _body())
    assert rx.wait_for(2)[1].verified


def test_concurrent_deliveries_are_all_recorded(rx: PostbackReceiver) -> None:
    def send(i: int) -> None:
        _post(rx.url, encode_postback({"transaction_id": f"t-{i}"}, KEY))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = rx.wait_for(24)
    assert sorted(d.fields["transaction_id"] for d in got) == sorted(f"t-{i}" for i in range(24))
    assert all(d.checksum_ok for d in got)


def test_wait_for_times_out_and_filters(rx: PostbackReceiver) -> None:
    with pytest.raises(TimeoutError, match="expected 1 postback"):
        rx.wait_for(1, timeout=0.2)
    _post(rx.url, _body())
    assert rx.wait_for(1, where=lambda d: d.fields.get("status_code") == "3")
    with pytest.raises(TimeoutError):
        rx.wait_for(1, timeout=0.2, where=lambda d: d.fields.get("status_code") == "6")
    rx.clear()
    assert rx.deliveries() == []


def test_get_is_refused_and_nothing_recorded(rx: PostbackReceiver) -> None:
    assert httpx.get(rx.url, timeout=5).status_code == 405
    assert rx.deliveries() == []


def test_start_stop_and_bad_arguments() -> None:
    rx = PostbackReceiver()
    with pytest.raises(RuntimeError, match="not running"):
        _ = rx.url
    rx.start()
    url = rx.url
    assert url.startswith("http://127.0.0.1:")
    rx.stop()
    with pytest.raises(httpx.TransportError):
        httpx.post(url, content=b"a=1", timeout=2)
    with pytest.raises(ValueError):
        PostbackReceiver(fail_first=-1)
    with pytest.raises(ValueError):
        PostbackReceiver(path="postback")


def test_receiver_and_threeds_helper_do_not_import_the_simulator() -> None:
    code = ("import sys, harness.receiver, harness.threeds, harness.postback_signing; "
            "bad = [m for m in sys.modules if m.startswith('harness.simulator')]; "
            "assert not bad, bad")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
