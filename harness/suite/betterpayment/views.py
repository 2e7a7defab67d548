"""Catalog look-ups the Better Payment suites share: payment types by flow, the seed's request, statuses by name;
and amounts as exact Decimals (responses carry JSON numbers, postbacks strings).

Every request a suite sends and every expectation it checks comes from the catalog
(`harness.catalog.betterpayment()`, fixtures/catalog/betterpayment.yaml) or the seed examples, read when asked,
never from literals in a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from harness.catalog import CatalogError, betterpayment
from harness.catalog.betterpayment import CardHolderOutcome, FieldSpec, PaymentType


def seed_request() -> Mapping[str, Any]:
    """The seed's example payment request (catalog `seed_examples.payment_request`)."""
    return betterpayment().seed_examples.payment_request


def payment_types(*, flow: str | None = None, operation: str | None = None) -> list[PaymentType]:
    """Payment types of the catalog, optionally only those with this customer-step flow or create operation."""
    return [pt for pt in betterpayment().payment_types
            if (flow is None or pt.flow == flow) and (operation is None or operation in pt.operations)]


def payment_type(name: str) -> PaymentType:
    pt = betterpayment().payment_type(name)
    if pt is None:
        raise CatalogError(f"betterpayment.yaml: no payment type {name!r}")
    return pt


def first_answer(pt: PaymentType, operation: str) -> tuple[int, str | None]:
    """(status, client_action) of the first answer to a create request of this type, by its flow: a customer
    step for redirect types; the type's own first status (status_path) for synchronous and wallet types; the
    operation's success status for cards answered directly (own-MPI values, card present)."""
    if pt.flow == "redirect":
        return betterpayment().outcomes.step_status["redirect"], betterpayment().client_action("redirect").name
    if pt.flow in ("synchronous", "wallet"):
        return betterpayment().status_named(pt.status_path[0]).code, None
    return betterpayment().outcomes.success_status[operation], None  # type: ignore[index]


def card_type() -> PaymentType:
    """The payment type the seed's example uses (the card type with the 3DS flow)."""
    return payment_type(str(seed_request()["payment_type"]))


def field_spec(name: str) -> FieldSpec:
    for block in betterpayment().field_blocks.values():
        for spec in block.fields:
            if spec.name == name:
                return spec
    raise CatalogError(f"betterpayment.yaml: no field {name!r} in the field blocks")


def block_of(name: str) -> str:
    for block_name, block in betterpayment().field_blocks.items():
        if name in block.names:
            return block_name
    raise CatalogError(f"betterpayment.yaml: no field block holds {name!r}")


def mpi_pair() -> tuple[str, str]:
    """The own-MPI 3DS values that must travel together (catalog `cardholder_data.pairs`)."""
    pair = betterpayment().field_blocks["cardholder_data"].pairs[0]
    return pair[0], pair[1]


def card_fields() -> list[str]:
    """The cardholder fields a card request requires."""
    return [f.name for f in betterpayment().field_blocks["cardholder_data"].fields if f.required]


def status_name(code: int) -> str:
    return betterpayment().status(code).name


def code_of(name: str) -> int:
    return betterpayment().status_named(name).code


def declining_holder() -> CardHolderOutcome:
    """The simulator's card holder that ends declined (test data, simulator only)."""
    declined = code_of("declined")
    for holder in betterpayment().outcomes.card_holders:
        if holder.status_code == declined:
            return holder
    raise CatalogError("betterpayment.yaml: no card holder of the simulator ends declined")


def error_statuses(error_id: str) -> set[int]:
    """The HTTP statuses an error row may travel with under either error transport (catalog error_transport)."""
    return {betterpayment().error_status(error_id, mode) for mode in betterpayment().error_transport.modes}


#: A cent: the unit of every amount.
CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """An amount as an exact Decimal with two places (responses use JSON numbers, postbacks strings)."""
    return Decimal(str(value)).quantize(CENT)


def money_text(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


def seed_amount() -> Decimal:
    """The amount of the seed's example request."""
    return money(seed_request()["amount"])
