"""harness.evidence: redacted capture, case attribution, HAR 1.2 shape, and the shared index.

All traffic goes through httpx.MockTransport or an in-test transport; nothing touches the network.
"""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import httpx
import jsonschema
import pytest

from harness.cards import luhn_valid, mask_pan
from harness.catalog import bettercharge
from harness.evidence import (
    INDEX_FILENAME,
    NO_CASE,
    PACKED_SUFFIX,
    SPOOL_SUFFIX,
    EvidenceRecorder,
    RecordingTransport,
    active_recorder,
    case_filename,
    current_case,
    module_filename,
    pack,
    read_evidence,
    set_active_recorder,
    use_recorder,
)
from harness.redaction import REDACTED

API_KEY = "bc-key-0123456789"
PASSWORD = "p@55w0rd-evidence"
CVV = "987"

# The parts of HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) that viewers rely on.
_NAME_VALUE = {
    "type": "array",
    "items": {"type": "object", "required": ["name", "value"], "properties": {"value": {"type": "string"}}},
}
HAR_SCHEMA = {
    "type": "object",
    "required": ["log"],
    "properties": {
        "log": {
            "type": "object",
            "required": ["version", "creator", "entries"],
            "properties": {
                "version": {"const": "1.2"},
                "creator": {"type": "object", "required": ["name", "version"]},
                "pages": {"type": "array", "items": {"required": ["startedDateTime", "id", "title", "pageTimings"]}},
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
                        "properties": {
                            "startedDateTime": {"type": "string", "format": "date-time"},
                            "time": {"type": "number", "minimum": 0},
                            "request": {
                                "type": "object",
                                "required": [
                                    "method",
                                    "url",
                                    "httpVersion",
                                    "cookies",
                                    "headers",
                                    "queryString",
                                    "headersSize",
                                    "bodySize",
                                ],
                                "properties": {
                                    "headers": _NAME_VALUE,
                                    "queryString": _NAME_VALUE,
                                    "postData": {"type": "object", "required": ["mimeType", "text"]},
                                },
                            },
                            "response": {
                                "type": "object",
                                "required": [
                                    "status",
                                    "statusText",
                                    "httpVersion",
                                    "cookies",
                                    "headers",
                                    "content",
                                    "redirectURL",
                                    "headersSize",
                                    "bodySize",
                                ],
                                "properties": {
                                    "status": {"type": "integer"},
                                    "headers": _NAME_VALUE,
                                    "content": {"type": "object", "required": ["size", "mimeType"]},
                                },
                            },
                            "timings": {
                                "type": "object",
                                "required": ["send", "wait", "receive"],
                                "properties": {
                                    "send": {"type": "number", "minimum": 0},
                                    "wait": {"type": "number", "minimum": 0},
                                    "receive": {"type": "number", "minimum": 0},
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def _pans() -> tuple[str, str]:
    cards = [card.pan for card in bettercharge().cards]
    return next(p for p in cards if luhn_valid(p)), next(p for p in cards if not luhn_valid(p))


def _echo(request: httpx.Request) -> httpx.Response:
    """Answer with the request body, as a careless server that echoes card data would."""
    return httpx.Response(200, content=request.content, headers={"Content-Type": "application/json"})


@pytest.fixture
def recorder() -> EvidenceRecorder:
    return EvidenceRecorder(secrets=[PASSWORD])


def _client(inner: httpx.BaseTransport, **kwargs: object) -> httpx.Client:
    return httpx.Client(base_url="http://api.test", transport=RecordingTransport(inner, **kwargs))  # type: ignore[arg-type]


def _card_body(pan: str) -> dict[str, object]:
    return {
        "card": {"number": pan, "cvv": CVV, "expMonth": 12, "expYear": 2030},
        "card_number": pan,
        "card_cvv": CVV,
        "note": f"pw {PASSWORD}",
    }


def test_no_pan_cvv_or_secret_in_written_har(recorder: EvidenceRecorder, tmp_path: Path) -> None:
    good, bad = _pans()
    with use_recorder(recorder), _client(httpx.MockTransport(_echo), secrets=[API_KEY]) as client:
        with recorder.case("suites/test_x.py::test_card[good]"):
            client.post("/pay", json=_card_body(good), headers={"x-api-key": API_KEY, "Authorization": "Basic x"})
        with recorder.case("suites/test_x.py::test_card[bad]"):
            client.post(f"/pay?key={API_KEY}", json=_card_body(bad))
    in_memory = repr(recorder.exchanges())
    for value in (good, bad, f'"{CVV}"', API_KEY, PASSWORD):
        assert value not in in_memory
    recorder.write(tmp_path)
    files = sorted(tmp_path.glob("*.har"))
    assert len(files) == 2
    for path in files:
        text = path.read_text(encoding="utf-8")
        for value in (good, bad, CVV, API_KEY, PASSWORD):
            assert value not in text, f"{path.name} leaks a sensitive value"
        assert REDACTED in text
    written = "".join(p.read_text(encoding="utf-8") for p in files)
    assert mask_pan(good) in written and mask_pan(bad) in written


def test_har_is_valid_shaped_json(recorder: EvidenceRecorder, tmp_path: Path) -> None:
    good, _ = _pans()
    with use_recorder(recorder), _client(httpx.MockTransport(_echo)) as client, recorder.case("c::t"):
        client.post("/pay?x=1&y=2", json=_card_body(good))
        client.get("/payments/abc")
    index = json.loads(recorder.write(tmp_path).read_text(encoding="utf-8"))
    har = json.loads((tmp_path / case_filename("c::t")).read_text(encoding="utf-8"))
    jsonschema.validate(har, HAR_SCHEMA, format_checker=jsonschema.FormatChecker())
    entries = har["log"]["entries"]
    assert [e["request"]["method"] for e in entries] == ["POST", "GET"]
    assert entries[0]["request"]["queryString"] == [{"name": "x", "value": "1"}, {"name": "y", "value": "2"}]
    assert json.loads(entries[0]["request"]["postData"]["text"])["card"]["cvv"] == REDACTED
    assert entries[0]["response"]["status"] == 200
    assert "postData" not in entries[1]["request"]
    assert index["cases"] == [{"case": "c::t", "file": case_filename("c::t"), "entries": 2}]


def test_case_context_nesting_threads_and_no_case(recorder: EvidenceRecorder) -> None:
    with use_recorder(recorder), _client(httpx.MockTransport(_echo)) as client:
        client.get("/before")
        with recorder.case("outer"):
            assert current_case() == "outer"
            client.get("/outer")
            with recorder.case("inner"):
                client.get("/inner")
                worker = threading.Thread(target=lambda: client.get("/thread"))
                worker.start()
                worker.join(5)
            client.get("/outer-again")
        assert current_case() is None
    assert [e.url.rsplit("/", 1)[1] for e in recorder.exchanges("outer")] == ["outer", "outer-again"]
    assert [e.url.rsplit("/", 1)[1] for e in recorder.exchanges("inner")] == ["inner", "thread"]
    assert [e.url.rsplit("/", 1)[1] for e in recorder.exchanges(NO_CASE)] == ["before"]


def test_case_rejects_empty_name(recorder: EvidenceRecorder) -> None:
    with pytest.raises(ValueError, match="non-empty"), recorder.case(""):
        pass


def test_transport_error_is_recorded_and_reraised(recorder: EvidenceRecorder) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = _client(httpx.MockTransport(refuse))
    with use_recorder(recorder), recorder.case("err"), pytest.raises(httpx.ConnectError):
        client.get("/x")
    client.close()
    (entry,) = recorder.har("err")["log"]["entries"]
    assert entry["response"]["status"] == 0
    assert entry["_error"].startswith("ConnectError")


class _GzipTransport(httpx.BaseTransport):
    """Answers like a real server: a gzip-encoded streamed body, not yet read."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            stream=httpx.ByteStream(gzip.compress(self.payload)),
        )


def test_streamed_encoded_response_reaches_client_intact_and_is_recorded_decoded(
    recorder: EvidenceRecorder,
) -> None:
    good, _ = _pans()
    payload = json.dumps({"card_number": good}).encode()
    with use_recorder(recorder), _client(_GzipTransport(payload)) as client, recorder.case("gz"):
        response = client.get("/x")
    assert response.json() == {"card_number": good}  # the suite sees the real body
    assert response.elapsed.total_seconds() >= 0
    (exchange,) = recorder.exchanges("gz")
    assert exchange.response_body is not None
    assert json.loads(exchange.response_body) == {"card_number": mask_pan(good)}


def test_nothing_is_recorded_without_an_active_recorder() -> None:
    previous = set_active_recorder(None)
    try:
        with _client(httpx.MockTransport(_echo)) as client:
            assert client.get("/x").status_code == 200
        assert active_recorder() is None
    finally:
        set_active_recorder(previous)


def test_use_recorder_restores_the_previous_one(recorder: EvidenceRecorder) -> None:
    other = EvidenceRecorder()
    with use_recorder(recorder):
        with use_recorder(other):
            assert active_recorder() is other
        assert active_recorder() is recorder


def test_writes_from_two_workers_merge_into_one_index(tmp_path: Path) -> None:
    first, second = EvidenceRecorder(), EvidenceRecorder()
    for rec, case in ((first, "a::t1"), (second, "b::t2"), (first, "a::t1")):
        with use_recorder(rec), _client(httpx.MockTransport(_echo)) as client, rec.case(case):
            client.get("/x")
        rec.write(tmp_path)
    index = json.loads((tmp_path / INDEX_FILENAME).read_text(encoding="utf-8"))
    assert index["cases"] == [
        {"case": "a::t1", "file": case_filename("a::t1"), "entries": 2},
        {"case": "b::t2", "file": case_filename("b::t2"), "entries": 1},
    ]
    assert first.exchanges() == []  # written exchanges leave memory


def test_directory_recorder_spools_each_case_when_it_ends(tmp_path: Path) -> None:
    rec = EvidenceRecorder(tmp_path)
    with use_recorder(rec), _client(httpx.MockTransport(_echo)) as client, rec.case("flush::me"):
        client.get("/x")
    (spool,) = tmp_path.glob("*" + SPOOL_SUFFIX)
    assert json.loads(spool.read_text(encoding="utf-8"))["case"] == "flush::me"
    assert rec.exchanges() == []
    assert read_evidence(tmp_path)["flush::me"][1][0]["request"]["url"] == "http://api.test/x"


def test_pack_makes_one_compressed_har_per_module_from_every_process(tmp_path: Path) -> None:
    """Two workers' spools (and a torn last line from a crash) fold into one gzip'd HAR per test module, one
    page per test, with every exchange kept and masked; packing again appends instead of losing anything."""
    good, _ = _pans()
    first, second = EvidenceRecorder(tmp_path, secrets=[PASSWORD]), EvidenceRecorder(tmp_path)
    cases = [(first, "suites/a.py::t1"), (second, "suites/a.py::t2"), (first, "suites/b.py::t3"),
             (second, "suites/a.py::t1")]
    for rec, case in cases:
        with use_recorder(rec), _client(httpx.MockTransport(_echo)) as client, rec.case(case):
            client.post("/pay", json=_card_body(good))
    (next(tmp_path.glob("*" + SPOOL_SUFFIX))).open("a").write('{"case": "suites/a.py::torn", "entr')
    pack(tmp_path)
    assert not list(tmp_path.glob("*" + SPOOL_SUFFIX))
    files = sorted(p.name for p in tmp_path.glob("*" + PACKED_SUFFIX))
    assert files == sorted({module_filename("suites/a.py::t1"), module_filename("suites/b.py::t3")})
    har = json.loads(gzip.decompress((tmp_path / module_filename("suites/a.py::t1")).read_bytes()))
    jsonschema.validate(har, HAR_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert sorted(page["title"] for page in har["log"]["pages"]) == ["suites/a.py::t1", "suites/a.py::t2"]
    text = gzip.decompress((tmp_path / module_filename("suites/a.py::t1")).read_bytes()).decode()
    assert good not in text and mask_pan(good) in text
    index = {row["case"]: row for row in json.loads((tmp_path / INDEX_FILENAME).read_text())["cases"]}
    assert index["suites/a.py::t1"]["entries"] == 2 and index["suites/b.py::t3"]["entries"] == 1
    with use_recorder(first), _client(httpx.MockTransport(_echo)) as client, first.case("suites/b.py::t3"):
        client.get("/again")
    pack(tmp_path)
    found = read_evidence(tmp_path)
    assert [len(found[c][1]) for c in ("suites/a.py::t1", "suites/a.py::t2", "suites/b.py::t3")] == [2, 1, 2]
    assert "suites/a.py::torn" not in found


def test_case_filenames_are_safe_and_distinct() -> None:
    a = case_filename("suites/bc/test_x.py::test_y[card-01/ok]")
    b = case_filename("suites/bc/test_x.py::test_y[card-01:ok]")
    assert a != b
    assert "/" not in a and ":" not in a and a.endswith(".har")


def test_bodies_are_redacted_before_truncation() -> None:
    good, _ = _pans()
    rec = EvidenceRecorder(max_body_chars=25)  # cuts through the PAN: 10 digits if cut first
    exchange = rec.record(
        method="POST",
        url="http://api.test/x",
        request_headers={"Content-Type": "text/plain"},
        request_body=f"{'x' * 15}{good}",
        status=200,
    )
    assert exchange.request_body is not None
    assert good[:10] not in exchange.request_body
    assert "truncated" in exchange.request_body


def test_last_spooled_gives_the_case_just_ended_and_names_the_packed_file_when_cut(tmp_path: Path) -> None:
    from harness.evidence import EvidenceRecorder, module_filename

    recorder = EvidenceRecorder(tmp_path)
    case = "suites/x/test_a.py::test_b"
    with recorder.case(case):
        for i in range(5):
            recorder.record(method="GET", url=f"http://127.0.0.1:1/r?n={i}", request_headers={}, request_body=None,
                            status=200)
    assert recorder.last_spooled("suites/x/test_a.py::test_other") is None
    full = recorder.last_spooled(case)
    assert full is not None and len(full["log"]["entries"]) == 5 and "comment" not in full["log"]
    cut = recorder.last_spooled(case, 2)
    assert cut is not None and [e["request"]["url"][-3:] for e in cut["log"]["entries"]] == ["n=0", "n=1"]
    assert module_filename(case) in cut["log"]["comment"]
