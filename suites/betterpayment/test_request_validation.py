"""Request validation per payment type, from the catalog's field blocks (Better Payment Payment API
reference).

Proves that for every payment type each required field, left out or blank, gets 400 missing fields naming exactly
that field (and all of them, sorted, when the body is empty but for the type); that the own-MPI 3DS values only
come as a pair; that fields of a block the type does not take are refused; that an unknown payment_type is named;
that each typed field with a value of the wrong type or format (or too long) gets 400 naming it; and that the
follow-up operations require their transaction_id.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harness.catalog import betterpayment
from harness.clients import BetterPaymentClient
from harness.suite.betterpayment.checks import expect_error
from harness.suite.betterpayment.requests import Urls, body_for, invalid_value, mpi_values, sample_value
from harness.suite.betterpayment.views import card_type, field_spec, mpi_pair

CAT = betterpayment()

MISSING = "BP-ERR-204-MISSING-FIELDS"
INVALID = "BP-ERR-205-INVALID-FIELDS"


def _valid(pt_name: str, urls: Urls, **overrides: Any) -> dict[str, Any]:
    pt = CAT.payment_type(pt_name)
    extra = mpi_values() if pt is not None and pt.flow == "threeds" else {}
    return body_for(pt_name, urls, **(extra | overrides))


def _missing_cases() -> list[Any]:
    cases = []
    for pt in CAT.payment_types:
        for name in CAT.required_fields(pt.name):
            marks = [pytest.mark.requirement(f"{pt.id}-MISSING-FIELDS", MISSING)]
            if name == "merchant_reference" and name in pt.also_required:
                marks.append(pytest.mark.requirement("BP-WERO-MERCHANT-REFERENCE"))
            cases.append(pytest.param(pt.name, name, id=f"{pt.name}-{name}", marks=marks))
    return cases


@pytest.mark.parametrize(("pt_name", "field"), _missing_cases())
def test_missing_required_field_is_named(client: BetterPaymentClient, urls: Urls, pt_name: str, field: str) -> None:
    body = _valid(pt_name, urls)
    del body[field]
    expect_error(client.payment(body), MISSING, fields=field)
    if field_spec(field).type == "string":  # blank text counts as missing ("required ones non-blank")
        expect_error(client.payment(_valid(pt_name, urls, **{field: "   "})), MISSING, fields=field)


@pytest.mark.requirement("BP-ERR-204-MISSING-FIELDS")
@pytest.mark.parametrize("pt", [pytest.param(pt, id=pt.name, marks=pytest.mark.requirement(f"{pt.id}-MISSING-FIELDS"))
                                for pt in CAT.payment_types])
def test_every_missing_field_is_named_sorted(client: BetterPaymentClient, pt: Any) -> None:
    required = CAT.required_fields(pt.name)
    expect_error(client.payment({"payment_type": pt.name}), MISSING,
                 fields=", ".join(sorted(set(required) - {"payment_type"})))


@pytest.mark.requirement("BP-THREEDS-PAIR", MISSING)
@pytest.mark.parametrize("present", [pytest.param(i, id=name) for i, name in enumerate(mpi_pair())])
def test_own_mpi_values_come_as_a_pair(client: BetterPaymentClient, urls: Urls, present: int) -> None:
    pair = mpi_pair()
    values = mpi_values()
    body = body_for(card_type().name, urls, **{pair[present]: values[pair[present]]})
    expect_error(client.payment(body), MISSING, fields=pair[1 - present])


def _absent_cases() -> list[Any]:
    cases = []
    for pt in CAT.payment_types:
        for block, presence in pt.blocks.items():
            if presence != "absent":
                continue
            names = CAT.field_blocks[block].names
            cases.append(pytest.param(pt.name, [names[0]], id=f"{pt.name}-{block}-one"))
            required = [f.name for f in CAT.field_blocks[block].fields if f.required] or names
            cases.append(pytest.param(pt.name, required, id=f"{pt.name}-{block}-required-fields"))
    return cases


@pytest.mark.requirement("BP-ABSENT-BLOCK", "BP-ERR-212-FIELDS-NOT-ALLOWED")
@pytest.mark.parametrize(("pt_name", "fields"), _absent_cases())
def test_fields_of_an_absent_block_are_refused(client: BetterPaymentClient, urls: Urls, pt_name: str,
                                               fields: list[str]) -> None:
    donor = body_for(card_type().name, urls, **mpi_values())
    extra = {name: donor.get(name, sample_value(field_spec(name))) for name in fields}
    if any(field_spec(n).type == "url" for n in fields):
        extra |= {n: urls.for_field(n) for n in fields if field_spec(n).type == "url"}
    body = _valid(pt_name, urls, **extra)
    expect_error(client.payment(body), "BP-ERR-212-FIELDS-NOT-ALLOWED", fields=", ".join(sorted(fields)))


@pytest.mark.requirement("BP-UNKNOWN-PAYMENT-TYPE", "BP-ERR-206-PAYMENT-TYPE")
@pytest.mark.parametrize("value", ["paycert-unknown", "CARDECOM", "apple_pay"])
def test_unknown_payment_type_is_named(client: BetterPaymentClient, urls: Urls, value: str) -> None:
    assert CAT.payment_type(value) is None
    body = _valid(card_type().name, urls, payment_type=value)
    expect_error(client.payment(body), "BP-ERR-206-PAYMENT-TYPE", payment_type=value)


def _invalid_cases() -> list[Any]:
    pt = card_type()
    cases = []
    for block, presence in pt.blocks.items():
        if presence == "absent":
            continue
        for spec in CAT.field_blocks[block].fields:
            if spec.type == "url" or spec.name == "payment_type":
                continue  # URLs: test_url_policy.py; payment_type: error 206 above
            cases.append(pytest.param(spec.name, "wrong", id=f"{spec.name}-wrong-{spec.type}"))
            if spec.type == "string" and spec.max_length:
                cases.append(pytest.param(spec.name, "too-long", id=f"{spec.name}-longer-than-{spec.max_length}"))
    return cases


@pytest.mark.requirement("BP-INVALID-VALUES", INVALID, "BP-VALIDATION-ROBUST")
@pytest.mark.parametrize(("field", "kind"), _invalid_cases())
def test_invalid_value_is_named(client: BetterPaymentClient, urls: Urls, field: str, kind: str) -> None:
    spec = field_spec(field)
    bad = invalid_value(spec) if kind == "wrong" else "A" * ((spec.max_length or 0) + 1)
    body = _valid(card_type().name, urls, **{field: bad})
    pair = mpi_pair()
    if field in pair:  # keep the pair complete so only the value is wrong
        other = pair[1 - pair.index(field)]
        body[other] = mpi_values()[other]
    if field == "original_transaction_id" or field == "recurring":
        for name in [f.name for f in CAT.field_blocks["cardholder_data"].fields]:
            body.pop(name, None)  # a stored-card payment carries no card data
        if field == "recurring":
            body["original_transaction_id"] = str(uuid.uuid4())
    expect_error(client.payment(body), INVALID, fields=field)


@pytest.mark.requirement("BP-INVALID-VALUES", INVALID)
def test_every_invalid_field_is_named_sorted(client: BetterPaymentClient, urls: Urls) -> None:
    names = ["amount", "currency", "card_cvv", "card_expiry_month"]
    body = _valid(card_type().name, urls, **{n: invalid_value(field_spec(n)) for n in names})
    expect_error(client.payment(body), INVALID, fields=", ".join(sorted(names)))


FOLLOW_UPS = [pytest.param(op, id=op) for op in CAT.request_fields]


@pytest.mark.requirement("BP-ERR-204-MISSING-FIELDS", "BP-VALIDATION-ROBUST")
@pytest.mark.parametrize("operation", FOLLOW_UPS)
def test_follow_up_operation_requires_its_fields(client: BetterPaymentClient, operation: str) -> None:
    required = [f.name for f in CAT.request_fields[operation].fields if f.required]  # type: ignore[index]
    response = client.raw("POST", CAT.operation(operation).path, json={})
    expect_error(response, MISSING, fields=", ".join(sorted(required)))


@pytest.mark.requirement("BP-INVALID-VALUES", INVALID)
@pytest.mark.parametrize("operation", FOLLOW_UPS)
def test_follow_up_amount_must_be_a_positive_amount(client: BetterPaymentClient, operation: str) -> None:
    for amount in ("-1.00", "0", "1.234", "abc", True):
        response = client.raw("POST", CAT.operation(operation).path,
                              json={"transaction_id": str(uuid.uuid4()), "amount": amount})
        expect_error(response, INVALID, fields="amount")
