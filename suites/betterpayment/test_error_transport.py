"""How errors travel (catalog `error_transport`, requirement BP-ERROR-HTTP-STATUS, advisory): every error suite
judges error_code and error_message under either transport; this module checks the HTTP status itself against
the transport the target declares (the simulator's setting; on a sandbox the catalog's default, in_band, which
a sandbox run confirms or refutes). Application errors answer HTTP 200 in band; protocol errors keep theirs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.plugin import Target
from harness.suite.betterpayment.checks import declared_error_transport, expect_error
from harness.suite.betterpayment.requests import Urls, body_for
from harness.suite.betterpayment.views import payment_types
from harness.suite.failure import show

CAT = betterpayment()


def _provoke(client: BetterPaymentClient, urls: Urls, error_id: str) -> Any:
    if error_id == "BP-ERR-204-MISSING-FIELDS":
        return client.payment({"payment_type": payment_types(flow="redirect")[0].name}), {}
    if error_id == "BP-ERR-206-PAYMENT-TYPE":
        return client.payment(body_for(payment_types(flow="redirect")[0].name, urls, payment_type="paycert-x")), {
            "payment_type": "paycert-x"}
    if error_id == "BP-ERR-207-UNKNOWN-TRANSACTION":
        tid = str(uuid.uuid4())
        return client.get_transaction(tid), {"transaction_id": tid}
    if error_id == "BP-ERR-201-AUTH":
        return client.raw("GET", CAT.operation("get_transaction").path.format(transaction_id=uuid.uuid4()),
                          authenticate=False), {}
    raise KeyError(error_id)


ERRORS = ["BP-ERR-204-MISSING-FIELDS", "BP-ERR-206-PAYMENT-TYPE", "BP-ERR-207-UNKNOWN-TRANSACTION", "BP-ERR-201-AUTH"]


@pytest.mark.requirement("BP-ERROR-HTTP-STATUS")
@pytest.mark.parametrize("error_id", ERRORS)
def test_error_http_status_follows_the_declared_transport(paycert_target: Target, client: BetterPaymentClient,
                                                          urls: Urls,
                                                          request: pytest.FixtureRequest, error_id: str) -> None:
    control = request.getfixturevalue("simulator_control") if paycert_target.is_simulator else None
    transport = declared_error_transport(paycert_target, control)
    response, values = _provoke(client, urls, error_id)
    if error_id == "BP-ERR-204-MISSING-FIELDS":
        values = {"fields": ", ".join(sorted(set(CAT.required_fields(payment_types(flow="redirect")[0].name))
                                              - {"payment_type"}))}
    expect_error(response, error_id, **values)
    expected = CAT.error_status(error_id, transport)  # type: ignore[arg-type]
    assert response.status_code == expected, (f"under the {transport} transport {CAT.error(error_id).name} must "
                                              f"answer HTTP {expected}; got {show(response)}")


@pytest.mark.requirement("BP-ERROR-TRANSPORT-CONSISTENT", "BP-ERR-204-MISSING-FIELDS", "BP-ERR-206-PAYMENT-TYPE",
             "BP-ERR-207-UNKNOWN-TRANSACTION", "BP-ERR-201-AUTH")
def test_errors_travel_one_way(client: BetterPaymentClient, urls: Urls) -> None:
    """Whichever transport a target uses, it uses it for every application error: a client that reads
    error_code from HTTP 200 bodies (WooCommerce, Magento) must not meet some errors as 4xx and others in band."""
    seen: dict[str, int] = {}
    for error_id in ERRORS:
        response, _values = _provoke(client, urls, error_id)
        assert response.json().get("error_code") == CAT.error(error_id).code, show(response)
        seen[error_id] = response.status_code
    application = {e: s for e, s in seen.items() if CAT.error(e).name not in CAT.error_transport.protocol_errors}
    modes = [m for m in CAT.error_transport.modes
             if all(s == CAT.error_status(e, m) for e, s in seen.items())]
    assert modes, f"the errors follow no single transport: {application} (protocol errors: {seen})"
