"""The contract suite's focused stateful rounds (harness/contract/stateful.py `focused_rules`): a chain the random
walk missed is retried with every other rule masked, so what is left must be exactly the chain's root and its
links, for every chain of both APIs. The slow test in test_contract_suite.py shows the rounds walk the chains
against the simulator; this one shows the masking itself, in well under a second per chain.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from schemathesis.generation.stateful.state_machine import normalize_name

from harness.contract import schemas, stateful

CHAIN_CASES = [(api, chain) for api, chains in stateful.CHAINS.items() for chain in chains]


def _active_rules(machine: type[Any]) -> set[str]:
    """Names of the rules Hypothesis would run on `machine` (None masks an inherited one)."""
    return {name for name in dir(machine)
            if getattr(getattr(machine, name, None), "hypothesis_stateful_rule", None) is not None}


def _op_ids(schema: Any) -> dict[str, str]:
    ids = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        ids[operation.label] = str(operation.definition.raw.get("operationId") or operation.label)
    return ids


def _machine(api: str, chain: tuple[str, ...] | None) -> tuple[Any, type[Any]]:
    schema = schemas.build_schema(api, "stateful")
    base = schema.as_state_machine()
    rules = stateful.extra_root_rules(schema, base, api)
    if chain is not None:
        rules = stateful.focused_rules(schema, base, rules, chain)
    return schema, type("Focused", (base,), dict(rules))


@pytest.mark.parametrize(("api", "chain"), CHAIN_CASES, ids=[f"{a}:{'->'.join(c)}" for a, c in CHAIN_CASES])
def test_focus_leaves_only_the_chain(api: str, chain: tuple[str, ...]) -> None:
    schema, focused = _machine(api, chain)
    _, unfocused = _machine(api, None)
    active = _active_rules(focused)
    ids = _op_ids(schema)
    steps = {f"{a} -> {b}" for a, b in itertools.pairwise(chain)}
    roots = {name for name in active if name.startswith("paycert_root_") or name in focused.root_rules}
    links = active - roots
    assert len(roots) == 1, f"one root should stay for {chain}, found {sorted(roots)}"
    root_label = next(label for label, op in ids.items() if op == chain[0])
    assert focused._root_labels == frozenset({root_label})
    # Each link left joins two consecutive operations of the chain, and every step has a link.
    walked = set()
    for source, transitions in focused._transitions.operations.items():
        for link in transitions.outgoing:
            if normalize_name(link.full_name) in links:
                walked.add(f"{ids[source]} -> {ids[link.target.label]}")
    assert walked == steps, f"links left for {chain}: {sorted(walked)}"
    # The transition controller knows the masked links are gone: a masked link it still allowed would hold the
    # root back forever ("No progress can be made" from Hypothesis once the chain's own links are used up).
    control, unfocused_control = focused().control, unfocused().control
    for source, transitions in focused._transitions.operations.items():
        for link in transitions.outgoing:
            kept = f"{ids[source]} -> {ids[link.target.label]}" in steps
            assert control.allow_transition(source, link.target.label) == kept, (source, link.target.label)
            assert unfocused_control.allow_transition(source, link.target.label)
    assert len(_active_rules(unfocused)) > len(active), "focusing masked nothing"
