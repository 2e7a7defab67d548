"""The contract suite's stateful phase: chains of operations along the documents' OpenAPI links.

schemathesis builds a Hypothesis state machine from the links (``schema.as_state_machine()``); this module runs
it through a harness.contract.sender.CaseSender, gives it the roots it leaves out (ROOT_OPERATIONS), records
which operations each resource went through (ChainTracker), and against a simulator proves that every chain of
CHAINS was walked, with focused rounds for a chain the random walk missed. The parts that reach into
schemathesis' state machine (its rule names, `_root_labels`, `root_rules`, `_transitions`, `control`) are kept
here, together, and pinned by tests/test_contract_chains.py.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Final

import hypothesis
import pytest
import schemathesis

from harness.contract.options import RUN, STATEFUL_MAX_STEPS
from harness.contract.sender import CaseSender, operation_id
from harness.contract.transport import operation_id_of

__all__ = ["CHAINS", "ChainTracker", "extra_root_rules", "focused_rules", "run_stateful",
           "run_stateful_walking_chains", "stateful_scenarios"]

# Operation chains the stateful phase must walk at least once against a simulator, by operationId.
# Better Payment's one-step payment completes at once (a capture of it is refused), so its chain is
# payment -> refund; the two-step chain is authorize -> capture -> refund on both APIs.
CHAINS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "bettercharge": (("authorizePayment", "capturePayment", "refundPayment"), ("chargePayment", "refundPayment")),
    "betterpayment": (("authorizePayment", "capturePayment", "refundPayment"), ("createPayment", "refundPayment")),
}
# Below this many scenarios a chain may be missed by chance; the walk is only asserted from here on, with up
# to this many extra rounds of scenarios to find it.
MIN_SCENARIOS_FOR_CHAINS: Final = 30
EXTRA_CHAIN_ROUNDS: Final = 3
RESOURCE_ID: Final = {"bettercharge": "bcId", "betterpayment": "transaction_id"}


def stateful_scenarios() -> int:
    """Scenarios per stateful test: as many as examples per operation (each scenario is several requests)."""
    return max(RUN.max_examples, 2)


@dataclass
class ChainTracker:
    """Which successful operations each resource went through, in order (to prove the links were followed)."""

    api: str
    seen: dict[str, list[str]] = field(default_factory=dict)

    def record(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        if not 200 <= response.status_code < 300:
            return
        key = RESOURCE_ID[self.api]
        operation = operation_id(case)
        resource = None
        try:
            payload = json.loads(response.content) if response.content else None
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get(key), str):
            resource = payload[key]
        elif isinstance(case.path_parameters, dict) and key in case.path_parameters:
            resource = str(case.path_parameters[key])
        if resource is not None:
            self.seen.setdefault(resource, []).append(operation)

    def walked(self, chain: tuple[str, ...]) -> bool:
        for operations in self.seen.values():
            position = 0
            for op in operations:
                if op == chain[position]:
                    position += 1
                    if position == len(chain):
                        return True
        return False


# Operations that must be able to start a scenario. schemathesis picks the starting operations itself and leaves
# out any whose request has an `*_id` field it takes for a reference to a resource nothing produces: Better
# Payment's payment/authorize requests carry optional customer_id, invoice_id, original_transaction_id, ... so
# without this no scenario would ever create a transaction.
# Any other operation schemathesis makes a root (e.g. a refund with a random transaction id) is masked: the
# stateless tests already fuzz it, and here it would spend most steps on 404s instead of chains.
ROOT_OPERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "bettercharge": ("POST /payments/authorize", "POST /payments/charge", "POST /merchants"),
    "betterpayment": ("POST /rest/authorize", "POST /rest/payment", "POST /rest/register"),
}


def extra_root_rules(schema: Any, machine: Any, api: str) -> dict[str, Any]:
    """Class attributes for the workflow: a rule starting a scenario with each of ROOT_OPERATIONS that
    schemathesis did not make a root, and None over each root rule of any other operation (masking it).

    The rule's result goes through the state machine's own routing (`_add_results_to_targets`), so its answer
    feeds the operation's outgoing links like any root's.
    """
    from hypothesis.stateful import Bundle, rule
    from schemathesis.generation.meta import TestPhase
    from schemathesis.generation.stateful.state_machine import StepInput, normalize_name

    present = {result.ok().label for result in schema.get_all_operations() if hasattr(result, "ok")}
    inherited = frozenset(getattr(machine, "_root_labels", frozenset()))
    masked = {normalize_name(f"RANDOM -> {label}") for label in inherited if label not in ROOT_OPERATIONS[api]}
    roots: dict[str, Any] = dict.fromkeys(masked)  # None over an inherited rule masks it
    # The machine's transition controller rations root calls among its root labels; it must only know the
    # roots that can actually run, or it holds back the real ones waiting for the masked ones.
    roots["_root_labels"] = frozenset(label for label in ROOT_OPERATIONS[api] if label in present)
    roots["root_rules"] = frozenset(getattr(machine, "root_rules", frozenset())) - masked
    for label in ROOT_OPERATIONS[api]:
        if label not in present or label in inherited:
            continue
        operation = schema.find_operation_by_label(label)
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE,
                                         phase=TestPhase.STATEFUL)

        def start(self: Any, case: schemathesis.Case) -> Any:
            self.recorder.record_case(case=case)
            return self._step(StepInput.initial(case))

        name = _root_rule_name(label)
        start.__name__ = start.__qualname__ = name
        roots[name] = rule(target=Bundle("paycert_roots"), case=strategy)(start)
    return roots


def _root_rule_name(label: str) -> str:
    return "paycert_root_" + "".join(ch if ch.isalnum() else "_" for ch in label)


def focused_rules(schema: Any, machine: Any, rules: dict[str, Any], chain: tuple[str, ...]) -> dict[str, Any]:
    """`rules` (the class attributes from extra_root_rules) with every other rule of `machine` that is not
    part of `chain` (by operationId) masked: the root of its first operation and the links from each of its
    operations to the next stay, the rest become None."""
    from schemathesis.generation.stateful.state_machine import normalize_name

    op_ids = {result.ok().label: operation_id_of(result.ok()) for result in schema.get_all_operations()
              if hasattr(result, "ok")}
    steps = set(itertools.pairwise(chain))
    focused = dict(rules)
    kept: set[tuple[str, str]] = set()
    for source, transitions in machine._transitions.operations.items():
        for link in transitions.outgoing:
            if (op_ids.get(source), op_ids.get(link.target.label)) not in steps:
                focused[normalize_name(link.full_name)] = None
            else:
                kept.add((source, link.target.label))
    root = next(label for label, op_id in op_ids.items() if op_id == chain[0])
    keep = {normalize_name(f"RANDOM -> {root}"), _root_rule_name(root)}
    for name in [*machine.root_rules, *(name for name in rules if name.startswith("paycert_root_"))]:
        if name not in keep:
            focused[name] = None
    focused["_root_labels"] = frozenset({root})
    # The machine's transition controller must know the masked links are gone, or it holds the root back while
    # they look open and Hypothesis finds no rule to run ("No progress can be made").
    links = frozenset(kept)

    def __init__(self: Any) -> None:
        machine.__init__(self)
        self.control = _only_links(self.control, links)

    focused["__init__"] = __init__
    masked = {name for name, value in focused.items() if value is None}
    focused["root_rules"] = frozenset(rules.get("root_rules", machine.root_rules)) - masked
    return focused


def _only_links(control: Any, links: frozenset[tuple[str, str]]) -> Any:
    """schemathesis' transition controller for a focused machine: the masked links are never allowed.

    Its root rule is held back while any link out of an operation already called looks open (to walk deeper
    first); a masked link looks open forever, so once the chain's own links are used up no rule could run.
    """
    from schemathesis.generation.stateful.control import TransitionController

    class FocusedController(TransitionController):
        __slots__ = ("links",)
        links: frozenset[tuple[str, str]]

        def allow_transition(self, source: str, target: str) -> bool:
            return (source, target) in self.links and super().allow_transition(source, target)

    focused = FocusedController(control.transitions, control.roots)
    focused.links = links
    return focused


def missing_chains(api: str, tracker: ChainTracker) -> list[str]:
    return [" -> ".join(chain) for chain in CHAINS[api] if not tracker.walked(chain)]


def run_stateful_walking_chains(schema: Any, sender: CaseSender, tracker: ChainTracker, *, simulator: bool) -> None:
    """run_stateful, then against a simulator prove each of CHAINS was walked at least once.

    Hypothesis picks the links and the data at random, so a budget's worth of scenarios can miss a chain that
    works (a three-step chain needs a valid capture and then a refund within what was captured). Each chain
    still missing gets focused rounds (at most EXTRA_CHAIN_ROUNDS): the same state machine with every rule but
    the chain's root and its links masked, so every scenario tries exactly that chain. A chain missing after
    that is a failure: the document's links (or the simulator's answers to them) do not lead there.
    """
    run_stateful(schema, sender, tracker)
    if not simulator or stateful_scenarios() < MIN_SCENARIOS_FOR_CHAINS:
        return
    for chain in CHAINS[sender.api]:
        for _round in range(EXTRA_CHAIN_ROUNDS):
            if tracker.walked(chain):
                break
            run_stateful(schema, sender, tracker, focus=chain)
    assert_chains_walked(sender.api, tracker)


def assert_chains_walked(api: str, tracker: ChainTracker) -> None:
    missing = missing_chains(api, tracker)
    if missing:
        sample = dict(list(tracker.seen.items())[:10])
        pytest.fail(f"the stateful phase never completed {missing} along the document's links; seen: {sample}")


def run_stateful(schema: Any, sender: CaseSender, tracker: ChainTracker, scenarios: int | None = None,
                 focus: tuple[str, ...] | None = None) -> None:
    """Run the document's link-driven state machine against the target through `sender` (with `focus`, only
    the rules walking that chain of operationIds)."""
    base = schema.as_state_machine()
    extra_roots = extra_root_rules(schema, base, sender.api)
    if focus is not None:
        extra_roots = focused_rules(schema, base, extra_roots, focus)
    failures: list[BaseException] = []
    started = [0]

    class Workflow(base):  # type: ignore[misc, valid-type]
        def step(self, input: Any) -> Any:
            try:
                return super().step(input)
            except Exception as exc:
                failures.append(exc)
                raise

        def setup(self) -> None:
            started[0] += 1
            self._paycert_fresh = False

        def before_call(self, case: schemathesis.Case) -> None:
            # Each scenario from a fresh simulator, so that Hypothesis replaying a scenario meets the same state.
            # Reset at the first request, not in setup: Hypothesis builds many machines that never send one.
            if not self._paycert_fresh and sender.reset is not None:
                sender.reset()
            self._paycert_fresh = True
            super().before_call(case)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return sender.call_kwargs()

        def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
            response = sender.call(case, **kwargs)
            tracker.record(case, response)
            return response

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            sender.validate(case, response, kwargs, additional_checks=additional_checks, recorder=self.recorder)

    for name, function in extra_roots.items():
        setattr(Workflow, name, function)
    budget = scenarios if scenarios is not None else stateful_scenarios()
    for _attempt in range(4):
        try:
            Workflow.run(settings=hypothesis.settings(
                max_examples=max(budget - started[0], 1),
                stateful_step_count=STATEFUL_MAX_STEPS, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate],
            ))
            return
        except hypothesis.errors.Flaky:
            # Hypothesis replays prefixes of earlier scenarios; against a live API the replay can take another
            # path (schemathesis picks some link values with true randomness, and the answers decide which
            # links are open), and Hypothesis then stops with "inconsistent data generation". schemathesis'
            # own engine treats that the same way: a failure seen before it is the result; without one, the
            # run goes on with the scenarios left.
            if failures:
                raise failures[0] from None
            if started[0] >= budget:
                return
