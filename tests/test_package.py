"""The signed certification package: built only when ready, verified, and refused after any change.

Also the signing key: from PAYCERT_SIGNING_KEY (PEM or base64 raw) or generated beside the reports with mode
0600, and never inside a package.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from report_support import bc_requirements, make_report, passing, rec, record_card_exchange

from harness.cli import main
from harness.report.errors import ReportError
from harness.report.html import render_html
from harness.report.model import dump_report
from harness.report.package import MANIFEST, PUBLIC_KEY, SIGNATURE, PackageRefused, build_package, verify_package
from harness.report.signing import KEY_FILENAME, PUBLIC_FILENAME, Signer, load_signer

NOW = dt.datetime.now(dt.UTC)


def _run_dir(root: Path, *, ready: bool = True) -> tuple[Path, dict]:
    cards = bc_requirements("card")[:3]
    raw = passing(cards)
    if not ready:
        raw[0].update(outcome="failed", classification="contract")
    run = root / "run"
    record_card_exchange(run / "evidence", raw[0]["nodeid"])
    report = make_report(cards, raw, evidence_dir=run / "evidence", started=NOW - dt.timedelta(minutes=2),
                         finished=NOW - dt.timedelta(minutes=1))
    (run / "report.json").write_text(dump_report(report))
    (run / "report.html").write_text(render_html(report))
    (run / "junit.xml").write_text("<testsuite/>")
    return run, report


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate(), "test")


@pytest.fixture
def package(tmp_path: Path, signer: Signer) -> Path:
    run, report = _run_dir(tmp_path)
    return build_package(run, report, signer)


def _rewrite(src: Path, dest: Path, change: dict[str, bytes | None]) -> Path:
    """Copy a zip, replacing (bytes) or dropping (None) members; new names are added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in change:
                data = change.pop(info.filename)
                if data is not None:
                    zout.writestr(info.filename, data)
            else:
                zout.writestr(info, zin.read(info))
        for name, data in change.items():
            if data is not None:
                zout.writestr(name, data)
    return dest


def test_package_contents_and_manifest(package: Path, signer: Signer) -> None:
    with zipfile.ZipFile(package) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read(MANIFEST))
        embedded_key = z.read(PUBLIC_KEY)
    assert {MANIFEST, SIGNATURE, PUBLIC_KEY, "report.html", "report.json", "junit.xml"} <= names
    assert any(n.startswith("evidence/") and n.endswith(".har") for n in names)
    assert not any(n.endswith(".lock") for n in names)
    listed = {f["path"] for f in manifest["files"]}
    assert listed == names - {MANIFEST, SIGNATURE, PUBLIC_KEY}
    assert all(len(f["sha256"]) == 64 and f["size"] >= 0 for f in manifest["files"])
    assert manifest["verdict"] == "ready" and manifest["public_key_fingerprint"] == signer.fingerprint
    assert b"PUBLIC KEY" in embedded_key


def test_private_key_never_inside_the_package(package: Path, signer: Signer) -> None:
    with zipfile.ZipFile(package) as z:
        blob = b"".join(z.read(n) for n in z.namelist()).decode("utf-8", "replace")
    assert not any(form in blob for form in signer.secret_forms())
    assert "PRIVATE KEY" not in blob


def test_verify_accepts_an_intact_package(package: Path, signer: Signer) -> None:
    result = verify_package(package, now=NOW)
    assert result.ok, result.message
    assert result.message.startswith("VALID") and signer.fingerprint in result.message
    assert "\n" not in result.message
    assert verify_package(package, public_key=signer.public_key, now=NOW).ok


def test_one_changed_byte_inside_fails(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package) as z:
        original = z.read("report.json")
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    tampered = _rewrite(package, tmp_path / "tampered.zip", {"report.json": bytes(flipped)})
    result = verify_package(tampered, now=NOW)
    assert not result.ok
    assert result.message == "INVALID tampered.zip: report.json was changed after signing (sha256 differs " \
                             "from the manifest)"


def test_one_flipped_byte_in_the_zip_file_fails(package: Path) -> None:
    data = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as z:
        info = z.getinfo("report.html")
    data[info.header_offset + 30 + len(info.filename) + 20] ^= 0xFF  # inside the member's compressed data
    package.write_bytes(bytes(data))
    result = verify_package(package, now=NOW)
    assert not result.ok and result.message.startswith("INVALID")


def test_changed_manifest_fails_the_signature(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package) as z:
        manifest = json.loads(z.read(MANIFEST))
    manifest["certificate_expires_at"] = "2099-01-01T00:00:00Z"
    forged = _rewrite(package, tmp_path / "forged.zip", {MANIFEST: json.dumps(manifest).encode()})
    result = verify_package(forged, now=NOW)
    assert not result.ok and "signature does not match" in result.message


def test_added_or_removed_file_fails(package: Path, tmp_path: Path) -> None:
    added = _rewrite(package, tmp_path / "added.zip", {"evidence/extra.har": b"{}"})
    assert "not in the manifest" in verify_package(added, now=NOW).message
    removed = _rewrite(package, tmp_path / "removed.zip", {"junit.xml": None})
    assert "missing from the zip" in verify_package(removed, now=NOW).message


def test_resigned_with_another_key_fails_when_the_key_is_pinned(package: Path, tmp_path: Path,
                                                                signer: Signer) -> None:
    other = Signer(Ed25519PrivateKey.generate(), "other")
    run, report = _run_dir(tmp_path / "b")
    foreign = build_package(run, report, other)
    assert verify_package(foreign, now=NOW).ok  # intact, but whose?
    result = verify_package(foreign, public_key=signer.public_key, now=NOW)
    assert not result.ok and "not by the expected key" in result.message


def test_expired_certificate(package: Path) -> None:
    later = NOW + dt.timedelta(days=400)
    result = verify_package(package, now=later)
    assert not result.ok and "certificate expired on" in result.message
    assert verify_package(package, now=later, allow_expired=True).ok


def test_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    assert "not a readable zip" in verify_package(tmp_path / "x.zip").message
    with zipfile.ZipFile(tmp_path / "y.zip", "w") as z:
        z.writestr("hello.txt", "hi")
    assert "not a paycert package" in verify_package(tmp_path / "y.zip").message
    assert "no such file" in verify_package(tmp_path / "none.zip").message


def test_package_refused_while_not_ready(tmp_path: Path, signer: Signer) -> None:
    run, report = _run_dir(tmp_path, ready=False)
    with pytest.raises(PackageRefused, match="verdict is not ready"):
        build_package(run, report, signer)
    assert not list(run.glob("*.zip"))


def test_cli_verify_one_line_and_exit_codes(package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            signer: Signer) -> None:
    assert main(["verify", str(package)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("VALID") and len(out.splitlines()) == 1
    pub = tmp_path / "pub.pem"
    pub.write_bytes(signer.public_key.public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    assert main(["verify", str(package), "--public-key", str(pub)]) == 0
    capsys.readouterr()
    with zipfile.ZipFile(package) as z:
        data = bytearray(z.read("junit.xml"))
    data[0] ^= 1
    bad = _rewrite(package, tmp_path / "bad.zip", {"junit.xml": bytes(data)})
    assert main(["verify", str(bad)]) == 1
    out = capsys.readouterr().out.strip()
    assert out.startswith("INVALID bad.zip: junit.xml was changed") and len(out.splitlines()) == 1
    assert main(["verify", str(package), "--public-key", str(tmp_path / "missing.pem")]) == 2
    assert "cannot read" in capsys.readouterr().err


# ------------------------------------------------------------------ signing key


def test_key_generated_beside_reports_with_mode_0600_and_reused(tmp_path: Path) -> None:
    first = load_signer({}, tmp_path)
    key_file = tmp_path / KEY_FILENAME
    assert key_file.is_file() and (tmp_path / PUBLIC_FILENAME).is_file()
    if os.name == "posix":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_signer({}, tmp_path).fingerprint == first.fingerprint


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_signer({}, tmp_path)
    if os.name != "posix":
        pytest.skip("POSIX permissions only")
    (tmp_path / KEY_FILENAME).chmod(0o644)
    with pytest.raises(ReportError, match="readable by others"):
        load_signer({}, tmp_path)


def test_key_from_environment_pem_and_base64(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    expected = Signer(key, "x").fingerprint
    assert load_signer({"PAYCERT_SIGNING_KEY": pem}, tmp_path).fingerprint == expected
    assert load_signer({"PAYCERT_SIGNING_KEY": pem.replace("\n", "\\n")}, tmp_path).fingerprint == expected
    assert load_signer({"PAYCERT_SIGNING_KEY": base64.b64encode(raw).decode()}, tmp_path).fingerprint == expected
    assert not (tmp_path / KEY_FILENAME).exists()


@pytest.mark.parametrize(("value", "message"), [
    ("not base64!", "neither a PEM key nor base64"),
    (base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a readable unencrypted PEM"),
])
def test_bad_key_in_environment(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ReportError, match=message) as info:
        load_signer({"PAYCERT_SIGNING_KEY": value}, tmp_path)
    assert value not in str(info.value)


def test_refused_package_for_a_single_failing_record(tmp_path: Path, signer: Signer) -> None:
    cards = bc_requirements("card")[:1]
    report = make_report(cards, [rec("t", cards[0].id, outcome="failed", classification="infrastructure")])
    with pytest.raises(PackageRefused):
        build_package(tmp_path, report, signer)
