"""Postbacks byte-compatible with PHP's http_build_query (requirement BP-PB-PHP-ENCODING): a postback whose
fields hold ~ + & % = ' * space, umlauts and emoji verifies both ways real merchants verify it: over the raw
body (the CiviCRM extension) and rebuilt from the parsed fields (the Shopware, WooCommerce and Magento plugins).
The rebuild is restated here (support.php_style_query), independent of harness.postback_signing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.postback_signing import checksum, php_http_build_query
from harness.receiver import PostbackReceiver
from harness.suite.betterpayment.postbacks import (
    expect_postback,
    independent_checksum,
    php_style_query,
    plugin_style_checksum_ok,
    wait_postbacks,
)
from harness.suite.betterpayment.requests import Urls
from harness.suite.betterpayment.scenarios import completed

CAT = betterpayment()

TRICKY = {
    "tilde-and-reserved": "a~b c+d&e%f=g'h*i",
    "umlauts": "Größe ÄÖÜ äöü ß – Bestellung",
    "emoji": "emoji 😀 🎉 ok",
    "punctuation": "!\"#$()[]{}<>,;:/?@\\|^`~",
}


@pytest.mark.requirement("BP-PB-PHP-ENCODING", "BP-PB-CHECKSUM", "BP-PB-COMPLETED-FIELDS")
@pytest.mark.parametrize("text", list(TRICKY.values()), ids=list(TRICKY))
def test_postback_with_tricky_characters_verifies_both_ways(client: BetterPaymentClient, urls: Urls,
                                                            postbacks: PostbackReceiver,
                                                            bp_keys: tuple[str, str], text: str) -> None:
    sent, tid = completed(client, urls, additional_transaction_data=text)
    [delivery] = wait_postbacks(postbacks, tid)
    fields = expect_postback(delivery, "completed", transaction_id=tid, sent=sent,
                             status_code=CAT.outcomes.success_status["payment"], keys=bp_keys)
    assert fields["additional_transaction_data"] == text
    assert independent_checksum(delivery.raw_body, bp_keys[0]) is not None, "raw-body verification fails"
    assert plugin_style_checksum_ok(delivery.raw_body, bp_keys[0]), "the PHP plugins' rebuilt checksum fails"
    head = delivery.raw_body.decode("utf-8").rpartition("&")[0]
    assert head == php_style_query([(k, v) for k, v in fields.items() if k != "checksum"]), (
        "the body is not encoded the way PHP's http_build_query encodes these fields")


VECTORS = [pytest.param(v, id=f"vector-{i}") for i, v in enumerate(CAT.postbacks.checksum.vectors) if v.fields]


@pytest.mark.requirement("BP-PB-CHECKSUM-VECTORS")
@pytest.mark.parametrize("vector", VECTORS)
def test_checksum_vectors_are_reproduced(vector: Any) -> None:
    assert php_style_query(vector.fields) == vector.body
    assert php_http_build_query(vector.fields) == vector.body
    assert hashlib.sha1((vector.body + vector.key).encode("utf-8")).hexdigest() == vector.expected
    assert checksum(vector.body, vector.key) == vector.expected
