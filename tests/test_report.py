"""The report document (report.json) and its page (report.html), built from synthetic results and real HAR
evidence written by the recorder.

The JSON must validate against the published schema; the page must be self-contained, lead with the verdict,
list failing mandatory requirements first and show masked evidence collapsed.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from report_support import (
    BC_API_KEY,
    SECRETS,
    bc_requirements,
    make_report,
    pans,
    passing,
    rec,
    record_card_exchange,
    reqs,
)

from harness.catalog import bettercharge
from harness.report.errors import ReportError
from harness.report.html import render_html
from harness.report.model import SCHEMA_PATH, dump_report, load_report, report_schema, schema_problems

FAILING = "BC-CARD-03"


@pytest.fixture
def card_report(tmp_path: Path) -> dict:
    """All 27 test cards: one fails its contract check, one is infrastructure-blocked; evidence for the first two."""
    cards = bc_requirements("card")
    raw = passing(cards)
    for r in raw:
        if FAILING in r["requirements"]:
            r.update(outcome="failed", classification="contract",
                     message=f"AssertionError: expected AUTHORIZED for {bettercharge().cards[2].pan}, got FAILED")
        if "BC-CARD-04" in r["requirements"]:
            r.update(outcome="failed", classification="infrastructure", message="InfrastructureError: 503 x3")
    evidence = tmp_path / "evidence"
    record_card_exchange(evidence, raw[0]["nodeid"], 0)
    record_card_exchange(evidence, raw[2]["nodeid"], 2)
    return make_report(cards, raw, evidence_dir=evidence)


def test_schema_is_valid_draft_2020_12_and_documented() -> None:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert SCHEMA_PATH.name == "report.schema.json"
    assert schema["description"] and all("description" in schema["properties"]["run"]["properties"][k]
                                         for k in ("run_id", "target", "certificate_expires_at"))


def test_real_report_validates_against_its_schema(card_report: dict) -> None:
    assert schema_problems(card_report) == []
    text = dump_report(card_report)
    jsonschema.validate(json.loads(text), report_schema())


@pytest.mark.parametrize(("path", "value"), [
    (("verdict", "status"), "maybe"),
    (("run", "target"), "production"),
    (("requirements", 0, "gate"), "fine"),
    (("run", "catalog", 0, "sha256"), "not-a-hash"),
    (("tests", 2, "evidence", "exchanges", 0, "request", "surprise"), 1),
])
def test_schema_rejects_a_malformed_report(card_report: dict, path: tuple, value: object) -> None:
    bad = copy.deepcopy(card_report)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert schema_problems(bad)
    with pytest.raises(ReportError, match="does not match its schema"):
        dump_report(bad)


def test_verdict_and_classification(card_report: dict) -> None:
    v = card_report["verdict"]
    assert v["status"] == "not_ready" and not v["ready"]
    assert v["contract_failures"] == [FAILING]
    assert v["infrastructure_failures"] == ["BC-CARD-04"]
    assert v["blocking"] == [FAILING, "BC-CARD-04"]
    assert len(v["rules"]) >= 6


def test_coverage_per_area_and_api(card_report: dict) -> None:
    (area,) = card_report["coverage"]["areas"]
    assert (area["label"], area["tested"], area["total"], area["passed"]) == ("test cards", 27, 27, 25)
    assert (area["failed"], area["infrastructure"], area["blocking"]) == (1, 1, 2)
    assert card_report["coverage"]["apis"][0]["api"] == "bettercharge"
    assert card_report["coverage"]["total"]["total"] == 27


def test_coverage_counts_error_rows_and_untested() -> None:
    errors = bc_requirements("error")
    report = make_report(errors, passing(errors[:-1]))
    (area,) = report["coverage"]["areas"]
    assert (area["label"], area["tested"], area["total"], area["untested"]) == ("error rows", 27, 28, 1)
    assert report["verdict"]["untested"] == [errors[-1].id]


def test_requirements_failing_mandatory_first_then_catalog_order(card_report: dict) -> None:
    ids = [r["id"] for r in card_report["requirements"]]
    assert ids[:2] == [FAILING, "BC-CARD-04"]
    assert ids[2:] == [r.id for r in bc_requirements("card") if r.id not in (FAILING, "BC-CARD-04")]
    first = card_report["requirements"][0]
    assert (first["outcome"], first["gate"], first["weight"], first["provenance"]) == (
        "failed", "blocking", "mandatory", "adopted")
    assert first["tests"] == [f"suites/test_x.py::test_req[{FAILING}]"]


def test_evidence_is_attached_and_masked(card_report: dict) -> None:
    test = next(t for t in card_report["tests"] if FAILING in t["requirements"])
    assert test["evidence"]["file"].startswith("evidence/") and test["evidence"]["file"].endswith(".har.gz")
    assert test["evidence"]["count"] == 1
    (x,) = test["evidence"]["exchanges"]
    assert (x["request"]["method"], x["response"]["status"]) == ("POST", 201)
    assert x["request"]["url"].endswith("/payments/authorize")
    text = json.dumps(card_report)
    pan = bettercharge().cards[2].pan
    assert pan not in text and f"{pan[:6]}******{pan[-4:]}" in text
    assert BC_API_KEY not in text and "[REDACTED]" in text
    assert "123" not in x["request"]["body"]  # the CVV
    # the failure message held the PAN: the report masks it
    assert test["message"].startswith("AssertionError: expected AUTHORIZED for 555555******4444")


def test_run_metadata_is_complete(card_report: dict) -> None:
    run = card_report["run"]
    assert run["certificate_expires_at"].startswith("2026-05-31")  # 90 days after the run's end
    assert run["operator"] == "qa@example.com" and run["harness_version"]
    assert run["catalog"][0]["sha256"] and run["openapi"][0]["sha256"]
    assert run["started_at"] == "2026-03-02T10:00:00Z"


def test_secret_never_reaches_the_report_from_a_message() -> None:
    (req,) = reqs("BC-CARD-01")
    report = make_report([req], [rec("t", req.id, outcome="failed", classification="contract",
                                     message=f"401 with key {SECRETS[-1]} and password {SECRETS[0]}")])
    assert not any(s in json.dumps(report) for s in SECRETS)


def test_load_report_round_trip_and_refusals(tmp_path: Path, card_report: dict) -> None:
    path = tmp_path / "report.json"
    path.write_text(dump_report(card_report))
    assert load_report(path) == card_report
    (tmp_path / "other.json").write_text('{"format": "something"}')
    with pytest.raises(ReportError, match="not a paycert report"):
        load_report(tmp_path / "other.json")
    broken = copy.deepcopy(card_report)
    broken["verdict"]["ready"] = "yes"
    path.write_text(json.dumps(broken))
    with pytest.raises(ReportError, match=r"does not match report\.schema\.json"):
        load_report(path)
    with pytest.raises(ReportError, match="no such report"):
        load_report(tmp_path / "missing.json")


# ------------------------------------------------------------------ HTML


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_html_is_self_contained(card_report: dict) -> None:
    page = render_html(card_report)
    tags = _tags(page)
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts == [{}]  # one inline script, no src: it only unpacks evidence (DecompressionStream)
    script = page[page.index("<script>"):page.index("</script>")]
    assert "DecompressionStream" in script and "fetch(" not in script and "http" not in script
    for tag, attrs in tags:
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
        for name in ("src", "href", "action", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    assert "<style>" in page and "@import" not in page and "url(" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)


def test_html_leads_with_the_verdict_and_names_the_failing_requirement_first(card_report: dict) -> None:
    page = render_html(card_report)
    body = page[page.index("<body>"):]
    assert body.index("NOT READY for go-live") < body.index('id="coverage"') < body.index('id="requirements"')
    requirements = body[body.index('id="requirements"'):]
    first_req = re.search(r'<code class="rid">([^<]+)</code>', requirements)
    assert first_req and first_req.group(1) == FAILING
    assert "27/27" in body and "25/27 test cards" in body


def test_html_shows_masked_evidence_collapsed(card_report: dict) -> None:
    page = render_html(card_report)
    pan = bettercharge().cards[2].pan  # the failed test's evidence, inlined in report.json
    assert pan not in page and f"{pan[:6]}******{pan[-4:]}" in page
    assert BC_API_KEY not in page
    exchanges = [a for t, a in _tags(page) if t == "details" and a.get("class") == "exchange"]
    assert exchanges and all("open" not in a for a in exchanges)
    opened = [a.get("class") for t, a in _tags(page) if t == "details" and "open" in a]
    assert opened == [None, "test", None, "test"]  # the two blocking requirements and their failed tests
    assert "POST http://127.0.0.1:8787/payments/authorize" in page and "201 Created" in page


def test_html_escapes_everything(card_report: dict) -> None:
    hostile = copy.deepcopy(card_report)
    hostile["tests"][0]["message"] = '<script>alert("x")</script>'
    page = render_html(hostile)
    assert '<script>alert' not in page and "&lt;script&gt;alert" in page and page.count("<script>") == 1


def test_ready_report_page() -> None:
    cards = bc_requirements("card")[:3]
    page = render_html(make_report(cards, passing(cards)))
    assert "READY for go-live" in page and "NOT READY" not in page
    assert "valid until 2026-05-31" in page and "Nothing blocks go-live" in page


def test_other_suite_tests_are_shown_failed_first() -> None:
    cards = bc_requirements("card")[:1]
    report = make_report(cards, [*passing(cards), rec("suites/contract/test_c.py::test_ok"),
                                 rec("suites/contract/test_c.py::test_stateful", outcome="failed",
                                     classification="contract", message="FlakyStrategyDefinition")])
    assert report["verdict"]["unmapped_failures"] == ["suites/contract/test_c.py::test_stateful"]
    assert not report["verdict"]["ready"]
    page = render_html(report)
    other = page[page.index('id="other-tests"'):]
    assert other.index("test_stateful") < other.index("test_ok") and "FlakyStrategyDefinition" in other


def test_html_packs_a_long_test_with_every_exchange(tmp_path: Path) -> None:
    """A test with hundreds of exchanges (a contract test) carries all of them in the page, compressed; report.json
    inlines the first few and counts them all; the HAR file holds them all."""
    import base64
    import gzip

    from harness.evidence import EvidenceRecorder, pack
    from harness.report.evidence_view import EvidenceReader

    (req,) = reqs("BC-CARD-01")
    nodeid = "suites/contract/test_c.py::test_conformance[POST /payments/authorize]"
    recorder = EvidenceRecorder(tmp_path, secrets=SECRETS, known_pans=pans())
    pan = bettercharge().cards[0].pan
    with recorder.case(nodeid):
        for i in range(250):
            recorder.record(method="POST", url=f"http://127.0.0.1:1/payments/authorize?n={i}",
                            request_headers={"content-type": "application/json"},
                            request_body=json.dumps({"card": {"number": pan}, "n": i}), status=400,
                            response_headers={"content-type": "application/json"}, response_body=json.dumps({"n": i}))
    pack(tmp_path)
    reader = EvidenceReader(tmp_path, secrets=SECRETS, known_pans=pans())
    report = make_report([req], [rec(nodeid, req.id)], evidence_dir=tmp_path)
    test = next(t for t in report["tests"] if t["nodeid"] == nodeid)
    assert test["evidence"]["count"] == 250 and test["evidence"]["exchanges"] == []
    page = render_html(report, reader)
    box = re.search(r'class="exchanges-packed" data-pack="([^"]+)" data-part="(\d+)"', page)
    assert box is not None, "the test's entry points at its module's packed block"
    blob = re.search(rf'id="{box.group(1)}" data-gz="([^"]+)"', page)
    assert blob is not None and pan not in page
    unpacked = json.loads(gzip.decompress(base64.b64decode(blob.group(1))).decode())[int(box.group(2))]
    assert all(f"?n={i}" in unpacked for i in range(250))
    assert pan not in unpacked and f"{pan[:6]}******{pan[-4:]}" in unpacked
    assert len(page.encode()) < len(unpacked.encode()) / 3
