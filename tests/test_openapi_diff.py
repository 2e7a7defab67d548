"""`paycert diff` on two OpenAPI documents: every kind of change a client depends on, breaking ones marked."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import openapi
from harness.cli import main
from harness.report.openapi_diff import diff_documents

AUTHORIZE = "/payments/authorize"


def _doc(api: str = "bettercharge") -> dict[str, Any]:
    return copy.deepcopy(openapi.document(api))


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c.severity, c.kind, c.location) for c in diff_documents(a, b).changes]


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


@pytest.mark.parametrize("api", ["bettercharge", "betterpayment"])
def test_a_document_against_itself_is_identical(api: str) -> None:
    assert diff_documents(openapi.document(api), _doc(api)).identical


def test_one_field_removed_and_one_enum_value_added_list_exactly_those(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    new = _doc()
    payment = new["components"]["schemas"]["Payment"]
    del payment["properties"]["autoVoided"]
    payment["required"] = [r for r in payment.get("required", []) if r != "autoVoided"]
    new["components"]["schemas"]["PaymentState"]["enum"].append("EXPIRED")
    result = diff_documents(openapi.document("bettercharge"), new)
    assert [(c.severity, c.kind, c.location, c.detail) for c in result.changes] == [
        ("breaking", "field removed", "components.schemas.Payment: autoVoided", "the field is gone"),
        ("warning", "enum value added", "components.schemas.PaymentState", "'EXPIRED'"),
    ]
    assert f"POST {AUTHORIZE}" in result.changes[0].used_by and len(result.breaking) == 1

    current = openapi.document_path("bettercharge")
    changed = _write(tmp_path / "openapi-next.yaml", new)
    assert main(["diff", str(current), str(changed)]) == 1  # auto-detected: two documents
    out = capsys.readouterr().out
    assert "BREAKING" in out and "autoVoided" in out and "'EXPIRED'" in out
    assert "1 breaking, 1 warning, 0 info change(s)" in out
    assert main(["diff", "--openapi", str(current), str(current)]) == 0
    assert "no contract difference" in capsys.readouterr().out


def test_each_kind_of_breaking_change_is_found() -> None:
    old = _doc()
    new = _doc()
    paths = new["paths"]
    removed_path = next(p for p in paths if p != AUTHORIZE and "post" in paths[p])
    del paths[removed_path]["post"]  # an operation removed
    authorize = paths[AUTHORIZE]["post"]
    status = next(s for s in authorize["responses"] if s.startswith("4"))
    del authorize["responses"][status]  # a status code removed
    schemas = new["components"]["schemas"]
    schemas["Amount"]["type"] = "string"  # a type changed (requests and responses)
    request = schemas["PaymentRequest"]
    optional = next(p for p in request["properties"] if p not in request.get("required", []))
    request.setdefault("required", []).append(optional)  # an optional request field now required
    found = _changes(old, new)
    assert ("breaking", "operation removed", f"POST {removed_path}") in found
    assert ("breaking", "status code removed", f"POST {AUTHORIZE} response {status}") in found
    assert ("breaking", "type changed", "components.schemas.Amount") in found
    assert ("breaking", "field required", f"components.schemas.PaymentRequest: {optional}") in found
    assert all(severity == "breaking" for severity, _, _ in found), found


def test_what_is_not_breaking_is_not_marked_so() -> None:
    old = _doc()
    new = _doc()
    new["paths"]["/payments/new-thing"] = {"get": {"operationId": "newThing", "responses": {"204": {
        "description": "nothing"}}}}
    request = new["components"]["schemas"]["PaymentRequest"]
    request["properties"]["note"] = {"type": "string"}  # an optional request field added
    authorize = new["paths"][AUTHORIZE]["post"]
    authorize["responses"]["418"] = {"description": "new"}  # a status code added: the client may not expect it
    found = {(kind, severity) for severity, kind, _ in _changes(old, new)}
    assert found == {("operation added", "info"), ("field added", "info"), ("status code added", "warning")}


def test_enum_direction_decides_the_severity() -> None:
    old = _doc()
    new = _doc()
    state = new["components"]["schemas"]["PaymentState"]["enum"]
    state.remove("STOPPED")  # responses only: a client never meets it again, harmless
    initiator = new["components"]["schemas"]["Initiator"]
    assert "enum" in initiator
    initiator["enum"] = initiator["enum"][:-1]  # a request value no longer accepted: breaking
    severities = {(kind, location): severity for severity, kind, location in _changes(old, new)}
    assert severities[("enum value removed", "components.schemas.PaymentState")] == "info"
    assert severities[("enum value removed", "components.schemas.Initiator")] == "breaking"


def test_runs_and_documents_side_by_side_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = openapi.document_path("bettercharge")
    for name, text, message in (("nothing.yaml", "just: text\n", "not an OpenAPI document"),
                                ("broken.yaml", "a: [\n", "cannot read it as YAML or JSON")):
        bad = tmp_path / name
        bad.write_text(text)
        assert main(["diff", "--openapi", str(current), str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and str(bad) in err and len(err.splitlines()) == 1
    assert main(["diff", "--openapi", str(current), str(tmp_path / "missing.yaml")]) == 2
    assert "no such OpenAPI document" in capsys.readouterr().err
    assert main(["diff", "onlyone"]) == 2
    assert "B is missing" in capsys.readouterr().err
    as_json = tmp_path / "openapi.json"
    as_json.write_text(json.dumps(openapi.document("bettercharge")))
    assert main(["diff", str(current), str(as_json)]) == 0  # a JSON document is detected by content


def test_cyclic_schemas_terminate() -> None:
    old = _doc()
    old["components"]["schemas"]["Node"] = {"type": "object", "properties": {
        "child": {"$ref": "#/components/schemas/Node"}, "name": {"type": "string"}}}
    old["paths"][AUTHORIZE]["post"]["responses"]["299"] = {"description": "tree", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}
    new = copy.deepcopy(old)
    del new["components"]["schemas"]["Node"]["properties"]["name"]
    assert _changes(old, new) == [("breaking", "field removed", "components.schemas.Node: name")]


def test_behavioural_and_contract_diff_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from report_support import bc_requirements, make_report, passing

    from harness.report.model import dump_report

    reqs = bc_requirements("card")[:2]
    later = passing(reqs)
    later[0].update(outcome="failed", classification="contract")
    runs = []
    for run_id, raw in (("20260302T100000Z-aaaaaa", passing(reqs)), ("20260302T110000Z-bbbbbb", later)):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "report.json").write_text(dump_report(make_report(reqs, raw, run_id=run_id)))
        runs.append(str(tmp_path / run_id))
    new = _doc()
    del new["paths"][AUTHORIZE]
    changed = _write(tmp_path / "next.yaml", new)
    assert main(["diff", *runs, "--openapi", str(openapi.document_path("bettercharge")), str(changed)]) == 1
    out = capsys.readouterr().out
    assert out.index("REGRESSION") < out.index("operation removed")  # runs first, then the documents
    assert f"POST {AUTHORIZE}" in out and "1 breaking, 0 warning, 0 info change(s)" in out
