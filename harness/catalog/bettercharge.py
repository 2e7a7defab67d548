"""Typed model of fixtures/catalog/bettercharge.yaml, and the requirements it states.

Transitions get their ids here (BC-TX-<from>-<operation>-<amount>) so the YAML stays a plain table.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.cards import mask_digits
from harness.catalog.boundaries import Boundary, BoundaryRow, Exempt, resolve
from harness.catalog.common import Entry, Provenance, Requirement, Rule, Sourced, check_unique_ids, lookup


class Hosts(Entry):
    sandbox: str
    production: str


class Auth(Entry):
    api_key_header: str
    partner_header: str


class SimulatorDefaults(Entry):
    api_key: str
    partner_id: str
    merchant_id: str
    account_id: str
    other_api_key: str
    other_partner_id: str
    other_merchant_id: str
    other_account_id: str
    retry_processing_seconds: int
    supported_currencies: list[str]


class Operation(Sourced):
    name: str
    method: str
    path: str
    success: int


class State(Sourced):
    id: str
    name: str
    description: str


class Card(Sourced):
    id: str
    row: int
    pan: str
    brand: str
    funding: str
    outcome: Literal["approve", "decline"]
    state: str
    failure_reason: str | None

    @property
    def masked(self) -> str:
        return mask_digits(self.pan)

    @property
    def bin(self) -> str:
        return self.pan[:6]

    @property
    def last4(self) -> str:
        return self.pan[-4:]


class Email(Sourced):
    id: str
    email: str
    decision: dict[str, Any]
    state: str
    liability_shift: bool
    passes_processing: bool


class Token(Sourced):
    id: str
    token: str
    state: str
    result: str


class ErrorRow(Sourced):
    id: str
    status: int
    code: str
    error: str
    message: str
    description: str
    trigger: str
    simulator_only: bool = False

    def render(self, **values: object) -> dict[str, str]:
        """The exact error body, with the message template filled in."""
        return {"code": self.code, "error": self.error, "message": self.message.format(**values)}


class DeclineReason(Sourced):
    id: str
    reason: str
    description: str
    trigger: str
    simulator_only: bool = False


class Situation(Entry):
    state: str
    steps: list[str]
    simulator_only: bool = False


class Amounts(Entry):
    authorized: int
    partial_capture: int
    partial_refund: int


class Expect(Entry):
    status: int
    state: str | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Expect:
        if (self.state is None) == (self.error is None):
            raise ValueError("expect needs exactly one of state or error")
        return self


class Transition(Entry):
    from_: str = Field(alias="from")
    operation: Literal["capture", "void", "refund", "stop"]
    amount: Literal["full", "partial", "over", "none"]
    expect: Expect
    provenance: Provenance = Provenance.adopted
    source: str = "contract §State machine"

    @property
    def id(self) -> str:
        return f"BC-TX-{self.from_}-{self.operation}-{self.amount}".upper().replace("_", "-")

    @property
    def legal(self) -> bool:
        return self.expect.state is not None


class RateLimit(Sourced):
    id: str
    limit: int
    window_seconds: int
    scope: str
    headers: list[str]
    reset_format: str
    status: int


class Idempotency(Sourced):
    header: str
    methods: list[str]
    retention_seconds: int
    scope: str


class BetterChargeCatalog(Entry):
    api: Literal["bettercharge"]
    title: str
    version: str
    seed: str
    hosts: Hosts
    auth: Auth
    simulator: SimulatorDefaults
    operations: list[Operation]
    states: list[State]
    cards: list[Card]
    emails: list[Email]
    default_decision: dict[str, Any]
    tokens: list[Token]
    errors: list[ErrorRow]
    decline_reasons: list[DeclineReason]
    situations: dict[str, Situation]
    authorization_validity_seconds: int
    amounts: Amounts
    transitions: list[Transition]
    rate_limit: RateLimit
    idempotency: Idempotency
    rules: list[Rule]
    boundaries: list[BoundaryRow] = Field(default_factory=list)
    boundary_exempt: list[Exempt] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> BetterChargeCatalog:
        """Cross-references are checked at load time so a renamed row cannot silently orphan a test."""
        error_ids = {e.id for e in self.errors}
        state_names = {s.name for s in self.states}
        for t in self.transitions:
            if t.from_ not in self.situations:
                raise ValueError(f"transition {t.id}: unknown situation {t.from_}")
            if t.expect.error and t.expect.error not in error_ids:
                raise ValueError(f"transition {t.id}: unknown error {t.expect.error}")
            if t.expect.state and t.expect.state not in state_names:
                raise ValueError(f"transition {t.id}: unknown state {t.expect.state}")
        for r in self.rules:
            if r.error and r.error not in error_ids:
                raise ValueError(f"rule {r.id}: unknown error {r.error}")
        for name, s in self.situations.items():
            if s.state not in state_names:
                raise ValueError(f"situation {name}: unknown state {s.state}")
        check_unique_ids(self.requirements)
        resolve(self.api, self, self.boundaries, self.requirements)  # every boundary's number and requirement
        return self

    @cached_property
    def all_boundaries(self) -> list[Boundary]:
        """Every boundary of this API, its number looked up (harness/catalog/boundaries.py)."""
        return resolve(self.api, self, self.boundaries, self.requirements)

    def error(self, error_id: str) -> ErrorRow:
        return lookup(self.errors, "bettercharge.yaml errors", id=error_id)

    def operation(self, name: str) -> Operation:
        return lookup(self.operations, "bettercharge.yaml operations", name=name)

    def card(self, card_id: str) -> Card:
        return lookup(self.cards, "bettercharge.yaml cards", id=card_id)

    def email(self, email_id: str) -> Email:
        return lookup(self.emails, "bettercharge.yaml emails", id=email_id)

    def state(self, name: str) -> State:
        return lookup(self.states, "bettercharge.yaml states", name=name)

    @property
    def approving_card(self) -> Card:
        return lookup(self.cards, "bettercharge.yaml cards", outcome="approve")

    @property
    def declining_card(self) -> Card:
        return lookup(self.cards, "bettercharge.yaml cards", outcome="decline")

    @property
    def requirements(self) -> list[Requirement]:
        """Every entry that states behaviour, in catalog order."""
        api = self.api
        reqs: list[Requirement] = []
        for s in self.states:
            # A state only the simulator's control interface leads to (every situation ending in it is
            # simulator-only: a forced state, the retry email's processing window) cannot be shown on a sandbox.
            reaching = [sit for sit in self.situations.values() if sit.state == s.name]
            reqs.append(Requirement(id=s.id, api=api, kind="state", title=f"State {s.name}: {s.description}",
                                    provenance=s.provenance, source=s.source,
                                    simulator_only=bool(reaching) and all(sit.simulator_only for sit in reaching)))
        for c in self.cards:
            what = "authorizes" if c.outcome == "approve" else f"fails with {c.failure_reason}"
            reqs.append(Requirement(id=c.id, api=api, kind="card",
                                    title=f"Test card {c.row} {c.masked} ({c.brand} {c.funding}) {what}",
                                    provenance=c.provenance, source=c.source))
        for e in self.emails:
            reqs.append(Requirement(id=e.id, api=api, kind="email",
                                    title=f"{e.email} gives {e.decision} and ends {e.state}",
                                    provenance=e.provenance, source=e.source,
                                    simulator_only=e.passes_processing))
        for tok in self.tokens:
            reqs.append(Requirement(id=tok.id, api=api, kind="token", title=f"The test token: {tok.result}",
                                    provenance=tok.provenance, source=tok.source))
        for er in self.errors:
            reqs.append(Requirement(id=er.id, api=api, kind="error",
                                    title=f"{er.status} {er.code}: {er.message}",
                                    provenance=er.provenance, source=er.source, simulator_only=er.simulator_only))
        for d in self.decline_reasons:
            reqs.append(Requirement(id=d.id, api=api, kind="decline",
                                    title=f"Decline reason {d.reason}: {d.description}",
                                    provenance=d.provenance, source=d.source, simulator_only=d.simulator_only))
        for t in self.transitions:
            outcome = (f"{t.expect.status} {t.expect.state}" if t.legal
                       else f"{t.expect.status} {self.error(t.expect.error or '').code}")
            reqs.append(Requirement(id=t.id, api=api, kind="transition",
                                    title=f"{t.operation} ({t.amount}) from {t.from_} -> {outcome}",
                                    provenance=t.provenance, source=t.source,
                                    simulator_only=self.situations[t.from_].simulator_only))
        rl = self.rate_limit
        reqs.append(Requirement(id=rl.id, api=api, kind="rate-limit",
                                title=f"{rl.limit} requests per {rl.window_seconds} s per API key",
                                provenance=rl.provenance, source=rl.source))
        for r in self.rules:
            reqs.append(Requirement(id=r.id, api=api, kind="rule", title=r.title, provenance=r.provenance,
                                    source=r.source, weight=r.weight, simulator_only=r.simulator_only))
        return reqs
