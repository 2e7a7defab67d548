"""The leak audit: nothing in a clean run, a planted card number and a planted secret caught with file and
position, and the documented false-positive exclusions only where they apply.

The planted PAN is built from the catalog (`bettercharge().cards[0].pan`), never written here.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

from report_support import (
    BC_API_KEY,
    FINISHED,
    SECRETS,
    STARTED,
    bc_requirements,
    make_report,
    pans,
    passing,
    record_card_exchange,
    run_info,
)

from harness.cards import luhn_valid
from harness.catalog import bettercharge
from harness.report import leak_audit
from harness.report.allure_results import ARCHIVE, archive
from harness.report.certify import judge_and_write
from harness.report.html import render_html
from harness.report.leak_audit import TimeWindow, audit_paths, scan_text
from harness.report.model import dump_report
from harness.report.results import parse_results

WINDOW = TimeWindow.around(STARTED, FINISHED)


def _luhn_epoch_ms(around: dt.datetime) -> int:
    ms = int(around.timestamp() * 1000)
    while not luhn_valid(str(ms)):
        ms += 1
    return ms


def _luhn_complete(digits: str) -> str:
    """`digits` plus the check digit that makes it Luhn-valid: a card-shaped number no catalog holds."""
    return next(digits + d for d in "0123456789" if luhn_valid(digits + d))


def _clean_run(root: Path) -> Path:
    """A run directory as certify leaves it: report, junit, allure results, HAR evidence, logs."""
    cards = bc_requirements("card")[:3]
    raw = passing(cards)
    evidence = root / "evidence"
    for i, r in enumerate(raw):
        record_card_exchange(evidence, r["nodeid"], i)
    report = make_report(cards, raw, evidence_dir=evidence)
    (root / "report.json").write_text(dump_report(report))
    (root / "report.html").write_text(render_html(report))
    (root / "results.json").write_text(json.dumps([{**r, "duration": 0.0021834990000000003} for r in raw]))
    ts = _luhn_epoch_ms(STARTED + dt.timedelta(seconds=5))
    allure = root / "allure-results"
    allure.mkdir()
    (allure / "0b6c4bd0-d7a5-4ec4-8a64-3f4d3b3e5d1f-result.json").write_text(json.dumps({
        "name": "test_req[BC-CARD-01]", "status": "passed", "start": ts, "stop": ts + 10,
        # md5 hex digests with a long digit run (Luhn-valid on purpose)
        "historyId": "a" + _luhn_complete("987654321098765") + "b" * 15, "testCaseId": "9f" * 16,
        "uuid": "0b6c4bd0-d7a5-4ec4-8a64-3f4d3b3e5d1f"}))
    (root / "junit.xml").write_text('<testsuite name="pytest" time="1.234" timestamp="2026-03-02T10:00:01.123456">'
                                    '<testcase classname="suites" name="x" time="0.0123456789012345678"/></testsuite>')
    (root / "logs").mkdir()
    (root / "logs" / "pytest.log").write_text("....\n3 passed in 0.12s\n")
    return root


def _archived(run: Path) -> Path:
    """The run's Allure results kept as certify keeps them: one tar.xz."""
    archived = archive(run / "allure-results")
    assert archived is not None and not (run / "allure-results").exists()
    return archived


def test_clean_run_has_no_findings(tmp_path: Path) -> None:
    run = _clean_run(tmp_path)
    _archived(run)
    result = audit_paths(run, secrets=SECRETS, known_pans=pans(), window=WINDOW)
    assert result.clean, [f.describe() for f in result.findings]
    assert result.files_scanned >= 9


def test_planted_pan_is_found_with_file_and_position(tmp_path: Path) -> None:
    run = _clean_run(tmp_path)
    pan = bettercharge().cards[0].pan
    prefix = "first line\nsecond line with ünïcode and card "
    (run / "logs" / "debug.log").write_text(prefix + pan + "\n", encoding="utf-8")
    result = audit_paths(run, secrets=SECRETS, known_pans=pans(), window=WINDOW)
    assert not result.clean
    hits = [f for f in result.findings if f.file == "logs/debug.log"]
    kinds = {f.kind for f in hits}
    assert kinds == {"pan", "known_pan"}
    f = hits[0]
    assert (f.line, f.column) == (2, len("second line with ünïcode and card ") + 1)
    assert f.offset == len(prefix.encode("utf-8"))
    assert f.masked == f"{pan[:6]}******{pan[-4:]}"
    assert pan not in f.describe() and "logs/debug.log:2:" in f.describe()


def test_planted_secret_is_found_also_url_encoded(tmp_path: Path) -> None:
    run = _clean_run(tmp_path)
    allure = next((run / "allure-results").iterdir())
    data = json.loads(allure.read_text())
    data["statusDetails"] = {"message": f"401 for key {BC_API_KEY}"}
    allure.write_text(json.dumps(data))
    password = SECRETS[0] + "&/ +"
    (run / "logs" / "pytest.log").write_text("GET /x?password=" + password.replace("&", "%26").replace("/", "%2F")
                                             .replace(" ", "%20").replace("+", "%2B") + "\n")
    member = allure.relative_to(run).as_posix()
    _archived(run)
    result = audit_paths(run, secrets=[*SECRETS, password], known_pans=pans(), window=WINDOW)
    files = {(f.file, f.kind) for f in result.findings}
    assert (f"{ARCHIVE}!{member}", "secret") in files, "the archive is read member by member"
    assert ("logs/pytest.log", "secret") in files
    assert all(f.masked == "[REDACTED]" for f in result.findings)


def test_an_archive_that_cannot_be_read_is_a_finding_not_a_clean_file(tmp_path: Path) -> None:
    run = _clean_run(tmp_path)
    archived = _archived(run)
    data = archived.read_bytes()
    archived.write_bytes(data[: len(data) // 2])  # cut short: nobody can prove what the rest held
    result = audit_paths(run, secrets=SECRETS, known_pans=pans(), window=WINDOW)
    assert [(f.file, f.kind) for f in result.findings] == [(ARCHIVE, "unreadable")]


def test_luhn_invalid_catalog_card_is_still_a_leak() -> None:
    odd = next(c.pan for c in bettercharge().cards if not luhn_valid(c.pan))
    assert [h[2] for h in scan_text(f"x {odd} y", known_pans=pans())] == ["known_pan"]


def test_exclusions_apply_only_where_documented() -> None:
    pan = bettercharge().cards[0].pan
    inside_window = str(_luhn_epoch_ms(STARTED))
    outside_window = str(_luhn_epoch_ms(STARTED - dt.timedelta(days=30)))
    assert scan_text(f'"start": {inside_window}', window=WINDOW) == []
    assert [h[2] for h in scan_text(f'"start": {outside_window}', window=WINDOW)] == ["pan"]
    assert [h[2] for h in scan_text(f'"start": {inside_window}')] == ["pan"]  # no window, no excuse
    assert scan_text(f"duration 0.{pan}") == []  # the fraction of a decimal number
    assert scan_text(f"sha {'ab' * 8}{pan}{'cd' * 8}") == []  # inside a hex digest
    assert [h[2] for h in scan_text(f"id ab{pan}cd")] == ["pan"]  # short hex-ish token: still a leak
    assert [h[2] for h in scan_text(f"end.{pan}")] == ["pan"]  # a dot alone is not a decimal number
    assert scan_text("uuid 3f2b1c4d-1234-4321-9876-123456789012 2026-03-02T10:00:00.123456Z") == []


def test_zip_members_are_scanned(tmp_path: Path) -> None:
    pan = bettercharge().cards[0].pan
    with zipfile.ZipFile(tmp_path / "p.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.txt", "nothing here")
        z.writestr("evidence/x.har", "\n\n  " + pan)
    result = audit_paths(tmp_path, secrets=SECRETS, known_pans=pans())
    assert result.files_scanned == 2
    assert {(f.file, f.line, f.column) for f in result.findings} == {("p.zip!evidence/x.har", 3, 3)}


def test_judge_and_write_fails_the_run_and_writes_findings_into_the_report(tmp_path: Path) -> None:
    cards = bc_requirements("card")[:2]
    raw = passing(cards)
    record_card_exchange(tmp_path / "evidence", raw[0]["nodeid"])
    pan = bettercharge().cards[0].pan
    (tmp_path / "evidence" / "stray.har").write_text('{"log": {"entries": [], "note": "' + pan + '"}}')
    result = judge_and_write(tmp_path, run_info(), cards, parse_results(raw), (), SECRETS, pans())
    assert not result.audit.clean
    assert {f.file for f in result.audit.findings} == {"evidence/stray.har"}
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["leak_audit"]["status"] == "leaks_found"
    assert report["verdict"]["ready"] is False
    assert any("leak audit found" in r for r in report["verdict"]["reasons"])
    assert pan not in (tmp_path / "report.json").read_text() and pan not in (tmp_path / "report.html").read_text()
    audit_file = json.loads((tmp_path / "leak-audit.json").read_text())
    assert audit_file["clean"] is False and audit_file["findings"][0]["file"] == "evidence/stray.har"


def test_judge_and_write_clean_run_reports_clean(tmp_path: Path) -> None:
    cards = bc_requirements("card")[:2]
    raw = passing(cards)
    record_card_exchange(tmp_path / "evidence", raw[0]["nodeid"])
    result = judge_and_write(tmp_path, run_info(), cards, parse_results(raw), (), SECRETS, pans())
    assert result.audit.clean
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["leak_audit"]["status"] == "clean" and report["verdict"]["ready"]
    assert report["leak_audit"]["files_scanned"] == result.audit.files_scanned
    assert report["leak_audit"]["rules"] == list(leak_audit.RULES)


def test_compressed_evidence_is_audited_as_what_it_holds(tmp_path: Path) -> None:
    """A PAN inside a gzip'd HAR (found by its magic bytes, whatever its name), inside a gzip member of a zip,
    and inside report.html's packed evidence is found; a gzip nobody can decompress is a finding too."""
    import base64
    import gzip

    pan = bettercharge().cards[0].pan
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "m.har.gz").write_bytes(gzip.compress(b'{"log":\n "' + pan.encode() + b'"}'))
    (tmp_path / "evidence" / "renamed.txt").write_bytes(gzip.compress(pan.encode()))
    (tmp_path / "evidence" / "torn.har.gz").write_bytes(gzip.compress(b"x" * 100)[:20])
    packed = base64.b64encode(gzip.compress(f"<pre>{pan}</pre>".encode())).decode()
    (tmp_path / "report.html").write_text(f'<div data-gz="{packed}"></div>')
    with zipfile.ZipFile(tmp_path / "p.zip", "w") as z:
        z.writestr("evidence/m.har.gz", gzip.compress(pan.encode()))
    result = audit_paths(tmp_path, secrets=SECRETS, known_pans=pans())
    hits = {(f.file, f.kind) for f in result.findings}
    assert ("evidence/m.har.gz!gunzip", "known_pan") in hits
    assert next(f for f in result.findings if f.file == "evidence/m.har.gz!gunzip").line == 2
    assert ("evidence/renamed.txt!gunzip", "known_pan") in hits
    assert ("evidence/torn.har.gz", "unreadable") in hits
    assert ("report.html!packed@0!gunzip", "known_pan") in hits
    assert ("p.zip!evidence/m.har.gz!gunzip", "known_pan") in hits


def test_packed_run_evidence_is_clean_and_fully_scanned(tmp_path: Path) -> None:
    """A clean run whose evidence is packed (one gzip'd HAR per module, as certify leaves it) stays clean."""
    from harness.evidence import pack

    run = _clean_run(tmp_path)
    pack(run / "evidence")
    assert list((run / "evidence").glob("*.har.gz"))
    result = audit_paths(run, secrets=SECRETS, known_pans=pans(), window=WINDOW)
    assert result.clean, [f.describe() for f in result.findings]


def test_the_same_content_twice_is_reported_under_each_name(tmp_path: Path) -> None:
    """Content is scanned once (the package repeats the run's files byte for byte); every copy is still named."""
    pan = bettercharge().cards[0].pan
    (tmp_path / "a.txt").write_text(f"card {pan}\n")
    with zipfile.ZipFile(tmp_path / "p.zip", "w") as z:
        z.writestr("a.txt", f"card {pan}\n")
    first = leak_audit.audit_paths(tmp_path)
    again = leak_audit.audit_paths(tmp_path, [tmp_path / "p.zip"])
    assert sorted(f.file for f in first.findings) == ["a.txt", "p.zip!a.txt"]
    assert [(f.file, f.line, f.column) for f in again.findings] == [("p.zip!a.txt", 1, 6)]
