"""Typed model of fixtures/catalog/betterpayment.yaml, and the requirements it states.

Why a model and not plain YAML: the simulator, the suites and the report all read these facts, and a typo in
a field name or a dangling reference (a rule naming an error row that does not exist) must fail at load time,
not halfway through a certification run. Per-payment-type requirements get their ids here
(BP-PT-<TYPE>-MISSING-FIELDS) so the YAML stays a plain table.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from harness.catalog.boundaries import Boundary, BoundaryRow, Exempt, max_length_rows, resolve
from harness.catalog.common import Entry, Provenance, Requirement, Rule, Sourced, check_unique_ids, lookup

FieldType = Literal[
    "string", "amount", "decimal", "currency", "url", "date", "pan", "cvv", "month", "year", "flag", "country",
    "email", "locale", "ip", "iban",
]
Presence = Literal["required", "optional", "absent"]
PostbackKindName = Literal["completed", "declined", "refund"]
BLOCK_NAMES = ("common", "billing_address", "redirection_urls", "cardholder_data", "bank_account", "company",
               "wallet_token")
CREATE_OPERATIONS = ("payment", "authorize", "register")
FOLLOW_UPS = ("capture", "reverse", "refund")
Flow = Literal["threeds", "direct", "redirect", "synchronous", "wallet"]
ErrorTransport = Literal["in_band", "http"]


class Hosts(Sourced):
    test: str
    production: str
    test_dashboard: str
    production_dashboard: str


class Auth(Sourced):
    scheme: Literal["basic"]
    username: str
    password: str
    example_api_key: str
    example_api_password: str
    example_header: str
    content_type: str


class SimulatorDefaults(Entry):
    api_key: str
    api_password: str
    incoming_key: str
    webhook_key: str
    other_api_key: str
    other_api_password: str
    shop_name: str
    postback_timeout_seconds: float
    max_body_bytes: int
    max_idempotency_key_length: int
    sources: dict[str, Sourced]

    @model_validator(mode="after")
    def _every_default_is_sourced(self) -> SimulatorDefaults:
        missing = sorted(set(type(self).model_fields) - {"sources"} - set(self.sources))
        if missing:
            raise ValueError(f"simulator defaults without a source: {missing}")
        return self


class Operation(Sourced):
    name: str
    method: Literal["GET", "POST"]
    path: str
    success: int


class Status(Sourced):
    id: str
    code: int
    name: str
    meaning: str
    final: bool
    landing: Literal["success", "error"] | None
    simulator_only: bool = False


class RefundStatus(Sourced):
    code: int
    name: str


class FieldSpec(Entry):
    name: str
    type: FieldType
    required: bool = False
    max_length: int | None = None
    default: str | None = None  # the value an absent field takes
    notes: str | None = None
    provenance: Provenance | None = None  # None: the block's provenance


class FieldBlock(Sourced):
    title: str | None = None
    fields: list[FieldSpec]
    pairs: list[list[str]] = Field(default_factory=list)

    def field(self, name: str) -> FieldSpec:
        return lookup(self.fields, "betterpayment.yaml fields", name=name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


class PaymentType(Sourced):
    id: str
    name: str
    title: str
    flow: Flow
    blocks: dict[str, Presence]
    also_required: list[str] = Field(default_factory=list)
    also_optional: list[str] = Field(default_factory=list)
    operations: list[Literal["payment", "authorize", "register"]]
    follow_ups: list[Literal["capture", "reverse", "refund"]]
    status_path: list[str]
    partial_refund: bool = True

    @model_validator(mode="after")
    def _all_blocks(self) -> PaymentType:
        if sorted(self.blocks) != sorted(BLOCK_NAMES):
            raise ValueError(f"payment type {self.name}: blocks must be exactly {list(BLOCK_NAMES)}")
        return self

    @property
    def is_card(self) -> bool:
        return self.blocks["cardholder_data"] != "absent"


class CardBrand(Sourced):
    brand: str
    prefixes: list[str]


class ResponseShape(Sourced):
    fields: list[str]
    optional: list[str] = Field(default_factory=list)


class TextFact(Sourced):
    text: str


class ClientAction(Sourced):
    id: str
    name: str
    description: str
    has_fields: bool


class ErrorCode(Sourced):
    id: str
    code: int
    name: str
    http_status: int
    message: str
    description: str
    #: only a simulator can provoke it (a limit of the simulator's own, with no public counterpart to aim at)
    simulator_only: bool = False

    def render(self, **values: object) -> dict[str, Any]:
        """The exact error body, with the message template filled in."""
        return {"error_code": self.code, "error_message": self.message.format(**values)}


class Idempotency(Sourced):
    headers: list[str]
    precedence: str
    methods: list[str]
    retention_seconds: int
    scope: str
    replay_header: str


class UrlPolicy(Sourced):
    fields: list[str]
    required_scheme: str
    error: str
    loopback_hosts: list[str]
    loopback_networks: list[str]


class PostbackField(Entry):
    name: str
    provenance: Provenance


class PostbackKind(Sourced):
    statuses: list[int]
    fields: list[PostbackField]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


class Vector(Sourced):
    fields: list[tuple[str, str]] | None = None  # the parsed fields, in order, when the vector tests encoding too
    body: str
    key: str
    expected: str


class Checksum(Sourced):
    field: str
    algorithm: str
    key: str
    position: Literal["last"]
    seed_checksums_recomputable: bool
    vectors: list[Vector]


class DocVector(Entry):
    body: str
    key: str
    expected: str


class Signature(Sourced):
    header: str
    algorithm: str
    key: str
    doc_vector: DocVector
    conventional_order_result: str


class RetryPolicy(Sourced):
    interval_seconds: float
    max_attempts: int
    success_status: int


class Postbacks(Sourced):
    content_type: str
    encoding: str
    kinds: dict[PostbackKindName, PostbackKind]
    checksum: Checksum
    signature: Signature
    retry: RetryPolicy

    def kind_for_status(self, status_code: int) -> PostbackKindName:
        """The layout a transaction postback uses for this status (completed or declined; refund is separate)."""
        for name, kind in self.kinds.items():
            if name != "refund" and status_code in kind.statuses:
                return name
        raise KeyError(f"no postback layout for status {status_code}")


class CardHolderOutcome(Sourced):
    id: str
    card_holder: str
    status_code: int
    reason_code: str
    message: str


class PageChoice(Entry):
    value: str
    label: str
    result: Literal["success", "decline"]
    status_code: int | None
    reason_code: str | None
    message: str | None


class Page(Sourced):
    path: str
    title: str
    choices: list[PageChoice]

    def choice(self, value: str) -> PageChoice | None:
        return next((c for c in self.choices if c.value == value), None)


class Outcomes(Entry):
    card_holders: list[CardHolderOutcome]
    success_messages: dict[str, str | None]
    pages: dict[Literal["acs", "bank"], Page]
    success_status: dict[Literal["payment", "authorize", "register"], int]
    step_status: dict[Literal["threeds", "redirect"], int]

    def for_holder(self, card_holder: str | None) -> CardHolderOutcome | None:
        wanted = (card_holder or "").strip().casefold()
        return next((o for o in self.card_holders if o.card_holder.casefold() == wanted), None)


class SeedExamples(Sourced):
    idempotency_key: str
    payment_request: dict[str, Any]
    direct_response: dict[str, Any]
    pending_response: dict[str, Any]
    postback_completed: dict[str, Any]
    postback_declined: dict[str, Any]


class Leniency(Sourced):
    """Input the real gateway evidently accepts (a vendor plugin sends it); the suites send `fields` on an
    otherwise valid request of `operation` and expect it accepted."""

    id: str
    title: str
    operation: Literal["payment", "capture", "refund"]
    payment_type: str | None = None
    fields: dict[str, Any]


class ErrorTransportFacts(Sourced):
    default: ErrorTransport
    modes: list[ErrorTransport]
    protocol_errors: list[str]


class ApplePay(Sourced):
    path: str
    method: Literal["POST"]
    request_field: str
    response_field: str
    session_fields: list[str]


class LegacyAuth(Sourced):
    content_type: str
    key_field: str
    checksum_field: str
    position: Literal["last"]


class BetterPaymentCatalog(Entry):
    api: Literal["betterpayment"]
    title: str
    version: str  # the API version label, equal to the OpenAPI document's info.version
    seed: str
    hosts: Hosts
    auth: Auth
    simulator: SimulatorDefaults
    operations: list[Operation]
    statuses: list[Status]
    refund_statuses: list[RefundStatus]
    field_blocks: dict[str, FieldBlock]
    payment_types: list[PaymentType]
    card_brands: list[CardBrand]
    request_fields: dict[Literal["capture", "reverse", "refund"], FieldBlock]
    responses: dict[str, ResponseShape]
    included_fees: str
    test_mode_message: TextFact
    client_actions: list[ClientAction]
    error_codes: list[ErrorCode]
    idempotency: Idempotency
    url_policy: UrlPolicy
    leniencies: list[Leniency]
    error_transport: ErrorTransportFacts
    apple_pay: ApplePay
    legacy_auth: LegacyAuth
    postbacks: Postbacks
    outcomes: Outcomes
    seed_examples: SeedExamples
    rules: list[Rule]
    boundaries: list[BoundaryRow] = Field(default_factory=list)
    boundary_exempt: list[Exempt] = Field(default_factory=list)
    _payment_types_by_name: dict[str, PaymentType] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> BetterPaymentCatalog:
        """Cross-references are checked at load time so a renamed row cannot silently orphan a test."""
        if sorted(self.field_blocks) != sorted(BLOCK_NAMES):
            raise ValueError(f"field_blocks must be exactly {list(BLOCK_NAMES)}")
        error_ids = {e.id for e in self.error_codes}
        codes = {s.code for s in self.statuses}
        for r in self.rules:
            if r.error and r.error not in error_ids:
                raise ValueError(f"rule {r.id}: unknown error {r.error}")
        if self.url_policy.error not in error_ids:
            raise ValueError(f"url_policy: unknown error {self.url_policy.error}")
        all_fields = {n for b in self.field_blocks.values() for n in b.names}
        names = {s.name for s in self.statuses}
        for pt in self.payment_types:
            unknown = sorted((set(pt.also_required) | set(pt.also_optional)) - all_fields)
            if unknown:
                raise ValueError(f"payment type {pt.name}: also_required/also_optional name unknown fields {unknown}")
            if not pt.status_path or set(pt.status_path) - names:
                raise ValueError(f"payment type {pt.name}: status_path must name catalog statuses")
        error_names = {e.name for e in self.error_codes}
        unknown_errors = sorted(set(self.error_transport.protocol_errors) - error_names)
        if unknown_errors:
            raise ValueError(f"error_transport: unknown errors {unknown_errors}")
        if self.error_transport.default not in self.error_transport.modes:
            raise ValueError("error_transport: the default must be one of the modes")
        types = {p.name for p in self.payment_types}
        for lenient in self.leniencies:
            if lenient.payment_type is not None and lenient.payment_type not in types:
                raise ValueError(f"leniency {lenient.id}: unknown payment type {lenient.payment_type}")
        for name, kind in self.postbacks.kinds.items():
            if kind.names[-1:] != [self.postbacks.checksum.field]:
                raise ValueError(f"postback kind {name}: the checksum field must come last")
            if set(kind.statuses) - codes:
                raise ValueError(f"postback kind {name}: unknown statuses {sorted(set(kind.statuses) - codes)}")
        for o in self.outcomes.card_holders:
            if o.status_code not in codes:
                raise ValueError(f"outcome {o.id}: unknown status {o.status_code}")
        for page_name, page in self.outcomes.pages.items():
            for c in page.choices:
                if c.status_code is not None and c.status_code not in codes:
                    raise ValueError(f"page {page_name} choice {c.value}: unknown status {c.status_code}")
        for code in [*self.outcomes.success_status.values(), *self.outcomes.step_status.values()]:
            if code not in codes:
                raise ValueError(f"outcomes: unknown status {code}")
        check_unique_ids(self.requirements)
        self._boundaries()  # every boundary's number and requirement resolve
        return self

    def _boundaries(self) -> list[Boundary]:
        groups: dict[str, dict[str, Any]] = {"field_blocks": dict(self.field_blocks),
                                             "request_fields": {str(k): v for k, v in self.request_fields.items()}}
        derived = max_length_rows("BP", "BP-INVALID-VALUES", groups)
        return resolve(self.api, self, [*self.boundaries, *derived], self.requirements)

    @cached_property
    def all_boundaries(self) -> list[Boundary]:
        """Every boundary: the table's rows and one per field max_length (harness/catalog/boundaries.py)."""
        return self._boundaries()

    # --- look-ups -------------------------------------------------------------------------------------------

    def error(self, error_id: str) -> ErrorCode:
        return lookup(self.error_codes, "betterpayment.yaml error_codes", id=error_id)

    def error_by_name(self, name: str) -> ErrorCode:
        return lookup(self.error_codes, "betterpayment.yaml error_codes", name=name)

    def operation(self, name: str) -> Operation:
        return lookup(self.operations, "betterpayment.yaml operations", name=name)

    def status(self, code: int) -> Status:
        return lookup(self.statuses, "betterpayment.yaml statuses", code=code)

    def status_named(self, name: str) -> Status:
        return lookup(self.statuses, "betterpayment.yaml statuses", name=name)

    def payment_type(self, name: str) -> PaymentType | None:
        # A dict built on first use: the simulator asks on every payment request.
        if not self._payment_types_by_name:
            self._payment_types_by_name.update((p.name, p) for p in self.payment_types)
        return self._payment_types_by_name.get(name)

    def error_status(self, error_id: str, transport: ErrorTransport) -> int:
        """The HTTP status an error row is answered with under an error transport (catalog error_transport)."""
        row = self.error(error_id)
        if transport == "in_band" and row.name not in self.error_transport.protocol_errors:
            return 200
        return row.http_status

    def leniency(self, leniency_id: str) -> Leniency:
        return lookup(self.leniencies, "betterpayment.yaml leniencies", id=leniency_id)

    def refund_status(self, name: str) -> RefundStatus:
        return lookup(self.refund_statuses, "betterpayment.yaml refund_statuses", name=name)

    def client_action(self, name: str) -> ClientAction:
        return lookup(self.client_actions, "betterpayment.yaml client_actions", name=name)

    def rule(self, rule_id: str) -> Rule:
        return lookup(self.rules, "betterpayment.yaml rules", id=rule_id)

    def required_fields(self, payment_type: str) -> list[str]:
        """Fields a request of this type must carry (sorted), from its required blocks and also_required."""
        pt = self.payment_type(payment_type)
        if pt is None:
            raise KeyError(f"unknown payment type {payment_type}")
        names = {f.name for block, presence in pt.blocks.items() if presence == "required"
                 for f in self.field_blocks[block].fields if f.required}
        return sorted((names | set(pt.also_required)) - set(pt.also_optional))

    @property
    def seed_card_pan(self) -> str:
        """The seed's example card number (the only documented card)."""
        return str(self.seed_examples.payment_request["card_number"])

    # --- requirements ---------------------------------------------------------------------------------------

    @property
    def requirements(self) -> list[Requirement]:
        """Every entry that states behaviour, in catalog order."""
        api = self.api
        reqs: list[Requirement] = []
        for s in self.statuses:
            reqs.append(Requirement(id=s.id, api=api, kind="status", title=f"Status {s.code} {s.name}: {s.meaning}",
                                    provenance=s.provenance, source=s.source, simulator_only=s.simulator_only))
        for pt in self.payment_types:
            blocks = ", ".join(f"{b} {p}" for b, p in pt.blocks.items())
            path = " -> ".join(pt.status_path)
            reqs.append(Requirement(id=pt.id, api=api, kind="payment-type",
                                    title=f"payment_type {pt.name} ({pt.title}, flow {pt.flow}) is accepted for "
                                          f"{', '.join(pt.operations)}; status path {path}; blocks: {blocks}",
                                    provenance=pt.provenance, source=pt.source))
            reqs.append(Requirement(id=f"{pt.id}-MISSING-FIELDS", api=api, kind="validation",
                                    title=f"{pt.name} without any of {', '.join(self.required_fields(pt.name))} "
                                          "gets 400 missing fields naming it",
                                    provenance=Provenance.adopted, source=f"{pt.source}; error adopted"))
        for a in self.client_actions:
            reqs.append(Requirement(id=a.id, api=api, kind="client-action",
                                    title=f"client_action {a.name}: {a.description}",
                                    provenance=a.provenance, source=a.source))
        for e in self.error_codes:
            reqs.append(Requirement(id=e.id, api=api, kind="error",
                                    title=f"error_code {e.code} ({e.name}), HTTP {self.error_status(e.id, 'in_band')} "
                                          f"in band or {e.http_status} under the http transport"
                                          + (f": {e.message}" if e.message else ""),
                                    provenance=e.provenance, source=e.source,
                                    simulator_only=e.simulator_only or e.provenance == Provenance.simulator))
        for o in self.outcomes.card_holders:
            reqs.append(Requirement(id=o.id, api=api, kind="test-data",
                                    title=f"card_holder '{o.card_holder}' ends status {o.status_code} "
                                          f"({self.status(o.status_code).name}) with reason_code {o.reason_code}",
                                    provenance=o.provenance, source=o.source, simulator_only=True))
        idem = self.idempotency
        reqs.append(Requirement(id="BP-IDEMPOTENCY", api=api, kind="idempotency",
                                title=f"{' or '.join(idem.headers)} on POST replays the response for "
                                      f"{idem.retention_seconds} s, per {idem.scope}",
                                provenance=idem.provenance, source=idem.source))
        retry = self.postbacks.retry
        reqs.append(Requirement(id="BP-PB-RETRY-POLICY", api=api, kind="postback",
                                title=f"Postbacks are retried every {retry.interval_seconds:g} s, "
                                      f"{retry.max_attempts} attempts in all, until HTTP {retry.success_status}",
                                provenance=retry.provenance, source=retry.source, simulator_only=True))
        for x in self.leniencies:
            reqs.append(Requirement(id=x.id, api=api, kind="leniency", title=x.title, provenance=x.provenance,
                                    source=x.source))
        for r in self.rules:
            reqs.append(Requirement(id=r.id, api=api, kind="rule", title=r.title, provenance=r.provenance,
                                    source=r.source, weight=r.weight, simulator_only=r.simulator_only))
        return reqs
