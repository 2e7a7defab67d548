"""The signed certification package: built only when ready, verified, and refused after any change.

Also the signing key: from PAYCERT_SIGNING_KEY (PEM or base64 raw) or generated beside the reports with mode
0600, and never inside a package. Forgeries and the standard tool (ssh-keygen) are in test_package_forgery.py.
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
from hypothesis import given, settings
from hypothesis import strategies as st
from report_support import bc_requirements, make_report, passing, rec, record_card_exchange

from harness.cli import main
from harness.report.errors import ReportError
from harness.report.html import render_html
from harness.report.model import dump_report
from harness.report.package import MANIFEST, SIGNATURE, PackageRefused, build_package, verify_package
from harness.report.signing import (
    KEY_FILENAME,
    PUBLIC_FILENAME,
    PUBLIC_PEM_FILENAME,
    Signer,
    load_public_key,
    load_signer,
)
from harness.report.trust import TrustAnchor, TrustedKey

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
def trust(signer: Signer) -> TrustAnchor:
    return TrustAnchor((TrustedKey("acme", signer.public_key, "test"),), "test trust")


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
        signature = z.read(SIGNATURE)
    assert {MANIFEST, SIGNATURE, "report.html", "report.json", "junit.xml"} <= names
    assert any(n.startswith("evidence/") and n.endswith((".har", ".har.gz")) for n in names)  # packed per module
    assert not any(n.endswith(".lock") for n in names)
    listed = {f["path"] for f in manifest["files"]}
    assert listed == names - {MANIFEST, SIGNATURE}
    assert all(len(f["sha256"]) == 64 and f["size"] >= 0 for f in manifest["files"])
    assert manifest["verdict"] == "ready" and manifest["public_key_fingerprint"] == signer.fingerprint
    assert signature.startswith(b"-----BEGIN SSH SIGNATURE-----\n")
    assert manifest["format"] == "paycert-package/2"


def test_private_key_never_inside_the_package(package: Path, signer: Signer) -> None:
    with zipfile.ZipFile(package) as z:
        blob = b"".join(z.read(n) for n in z.namelist()).decode("utf-8", "replace")
    assert not any(form in blob for form in signer.secret_forms())
    assert "PRIVATE KEY" not in blob


def test_verify_accepts_an_intact_package_from_a_trusted_key(package: Path, signer: Signer,
                                                             trust: TrustAnchor) -> None:
    result = verify_package(package, trust, now=NOW)
    assert result.ok, result.message
    assert result.message.startswith("VALID") and signer.fingerprint in result.message
    assert "trusted as acme" in result.message and "\n" not in result.message
    assert f"({report_target(package)}, bettercharge)" in result.message  # what was certified, against what
    assert signer.fingerprint.startswith("SHA256:") and result.signer == signer.fingerprint


def test_an_intact_package_is_untrusted_without_a_chosen_key(package: Path, signer: Signer) -> None:
    result = verify_package(package, TrustAnchor((), "/nowhere/allowed_signers"), now=NOW)
    assert not result.ok and result.message.startswith("UNTRUSTED")
    assert signer.fingerprint in result.message and "--public-key" in result.message
    assert "/nowhere/allowed_signers" in result.message and "\n" not in result.message


def test_one_changed_byte_inside_fails(package: Path, tmp_path: Path, trust: TrustAnchor) -> None:
    with zipfile.ZipFile(package) as z:
        original = z.read("report.json")
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    tampered = _rewrite(package, tmp_path / "tampered.zip", {"report.json": bytes(flipped)})
    result = verify_package(tampered, trust, now=NOW)
    assert not result.ok
    assert result.message == "INVALID tampered.zip: report.json was changed after signing (sha256 differs " \
                             "from the manifest)"


def test_one_flipped_byte_in_the_zip_file_fails(package: Path, trust: TrustAnchor) -> None:
    data = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as z:
        info = z.getinfo("report.html")
    data[info.header_offset + 30 + len(info.filename) + 20] ^= 0xFF  # inside the member's compressed data
    package.write_bytes(bytes(data))
    result = verify_package(package, trust, now=NOW)
    assert not result.ok and result.message.startswith("INVALID")


def test_changed_manifest_fails_the_signature(package: Path, tmp_path: Path, trust: TrustAnchor) -> None:
    with zipfile.ZipFile(package) as z:
        manifest = json.loads(z.read(MANIFEST))
    manifest["certificate_expires_at"] = "2099-01-01T00:00:00Z"
    forged = _rewrite(package, tmp_path / "forged.zip", {MANIFEST: json.dumps(manifest).encode()})
    result = verify_package(forged, trust, now=NOW)
    assert not result.ok and "signature does not match" in result.message


def test_added_or_removed_file_fails(package: Path, tmp_path: Path, trust: TrustAnchor) -> None:
    added = _rewrite(package, tmp_path / "added.zip", {"evidence/extra.har": b"{}"})
    assert "not in the manifest" in verify_package(added, trust, now=NOW).message
    removed = _rewrite(package, tmp_path / "removed.zip", {"junit.xml": None})
    assert "missing from the zip" in verify_package(removed, trust, now=NOW).message


def test_expired_certificate(package: Path, trust: TrustAnchor) -> None:
    later = NOW + dt.timedelta(days=400)
    result = verify_package(package, trust, now=later)
    assert not result.ok and "certificate expired on" in result.message
    assert verify_package(package, trust, now=later, allow_expired=True).ok


def test_not_a_package(tmp_path: Path, trust: TrustAnchor) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    assert "not a readable zip" in verify_package(tmp_path / "x.zip", trust).message
    with zipfile.ZipFile(tmp_path / "y.zip", "w") as z:
        z.writestr("hello.txt", "hi")
    assert "not a paycert package" in verify_package(tmp_path / "y.zip", trust).message
    assert "no such file" in verify_package(tmp_path / "none.zip", trust).message


def test_package_refused_while_not_ready(tmp_path: Path, signer: Signer) -> None:
    run, report = _run_dir(tmp_path, ready=False)
    with pytest.raises(PackageRefused, match="verdict is not ready"):
        build_package(run, report, signer)
    assert not list(run.glob("*.zip"))


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_cli_verify_trusts_only_keys_the_verifier_chose(package: Path, tmp_path: Path, signer: Signer,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYCERT_TRUSTED_KEYS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # no trust configured: one line naming the signer and how to pin, exit 1 (a CI step checking $? fails)
    assert main(["verify", str(package)]) == 1
    line = _one_line(capsys.readouterr().out)
    assert line.startswith("UNTRUSTED") and signer.fingerprint in line and "--public-key" in line
    assert str(tmp_path / "config" / "paycert" / "allowed_signers") in line
    # pinned by a PEM or an OpenSSH .pub file
    pem, pub = tmp_path / "pub.pem", tmp_path / "key.pub"
    pem.write_bytes(signer.public_key.public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    pub.write_bytes(signer.public_key.public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH) + b" comment\n")
    for key in (pem, pub):
        assert main(["verify", str(package), "--public-key", str(key)]) == 0
        assert _one_line(capsys.readouterr().out).startswith("VALID")
    # the default trusted-keys file, then one named by the environment and by the flag
    line_for = f'acme namespaces="paycert-package" {pub.read_text().strip()}\n'
    default = tmp_path / "config" / "paycert" / "allowed_signers"
    default.parent.mkdir(parents=True)
    default.write_text("# trusted signers\n" + line_for)
    assert main(["verify", str(package)]) == 0
    assert "trusted as acme" in _one_line(capsys.readouterr().out)
    elsewhere = tmp_path / "team_signers"
    elsewhere.write_text(line_for)
    default.write_text("")
    monkeypatch.setenv("PAYCERT_TRUSTED_KEYS", str(elsewhere))
    assert main(["verify", str(package)]) == 0
    monkeypatch.delenv("PAYCERT_TRUSTED_KEYS")
    assert main(["verify", str(package)]) == 1
    assert main(["verify", str(package), "--trusted-keys", str(elsewhere)]) == 0
    capsys.readouterr()
    # another key pinned: refused
    other = tmp_path / "other.pub"
    other.write_text(Signer(Ed25519PrivateKey.generate(), "x").public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode())
    assert main(["verify", str(package), "--public-key", str(other)]) == 1
    assert _one_line(capsys.readouterr().out).startswith("UNTRUSTED")
    # a changed member, with trust: INVALID, exit 1
    with zipfile.ZipFile(package) as z:
        data = bytearray(z.read("junit.xml"))
    data[0] ^= 1
    bad = _rewrite(package, tmp_path / "bad.zip", {"junit.xml": bytes(data)})
    assert main(["verify", str(bad), "--public-key", str(pub)]) == 1
    assert _one_line(capsys.readouterr().out).startswith("INVALID bad.zip: junit.xml was changed")


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--public-key", "{tmp}/missing.pem"], {}, "--public-key: no such file"),
    (["--public-key", "{tmp}"], {}, "is a directory"),
    (["--public-key", "{tmp}/garbage"], {}, "neither an OpenSSH public key"),
    (["--trusted-keys", "{tmp}/missing"], {}, "trusted keys: no such file"),
    ([], {"PAYCERT_TRUSTED_KEYS": "{tmp}/missing"}, "trusted keys: no such file"),
    (["--trusted-keys", "{tmp}/garbage"], {}, "garbage:1: not UTF-8"),
    (["--trusted-keys", "{tmp}/badline"], {}, "badline:2: "),
    (["--trusted-keys", "{tmp}/badtime"], {}, "badtime:1: '2025-13-45' is not a time"),
])
def test_cli_verify_bad_trust_input_is_one_line_exit_2(package: Path, tmp_path: Path, args: list[str],
                                                       env: dict[str, str], message: str,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "garbage").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "badline").write_text("# comment\nacme ssh-ed25519\n")
    (tmp_path / "badtime").write_text('acme valid-before="2025-13-45" ssh-ed25519 '
                                      'AAAAC3NzaC1lZDI1NTE5AAAAIE9Zh3lI0ulgr0SmjSK5yIS2nIJ3Y6cOhxJzXZ4whbCx\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PAYCERT_TRUSTED_KEYS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    assert main(["verify", str(package), *(a.format(tmp=tmp_path) for a in args)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert message in line and "Traceback" not in line


# ------------------------------------------------------------------ signing key


def test_key_generated_beside_reports_with_mode_0600_and_reused(tmp_path: Path) -> None:
    first = load_signer({}, tmp_path)
    key_file = tmp_path / KEY_FILENAME
    assert key_file.is_file() and (tmp_path / PUBLIC_FILENAME).is_file()
    public = (tmp_path / PUBLIC_FILENAME).read_text()
    assert public.startswith("ssh-ed25519 ") and first.fingerprint in public and "PRIVATE" not in public
    assert load_public_key(public.encode(), "pub") == first.public_key
    assert load_public_key((tmp_path / PUBLIC_PEM_FILENAME).read_bytes(), "pem") == first.public_key
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


def test_a_verdict_line_is_always_one_printable_line() -> None:
    from harness.report.package import Verification

    line = Verification(True, "VALID p.zip: run \x1b[2Jx\nVALID forged").message
    assert line == "VALID p.zip: run ?[2Jx?VALID forged"


def test_a_file_verify_would_refuse_is_never_packaged(tmp_path: Path, signer: Signer) -> None:
    run, report = _run_dir(tmp_path)
    (run / "evidence" / "bad\\name.har").write_text("{}")
    with pytest.raises(ReportError, match="backslash"):
        build_package(run, report, signer)
    (run / "evidence" / "bad\\name.har").unlink()
    (run / "evidence" / "link.har").symlink_to("/etc/passwd")
    with zipfile.ZipFile(build_package(run, report, signer)) as z:
        assert "evidence/link.har" not in z.namelist()  # a link in the run directory is not followed


_NAME_PARTS = ["a", "b", ".", "/", "\\", ":", "C", "\x00", "\n", " ", "~", "..", "\u00e9"]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(_NAME_PARTS), max_size=12).map("".join))
def test_a_name_verify_accepts_stays_inside_the_extraction_directory(name: str) -> None:
    """Property: whatever `_unsafe_name` lets through, joined to a root and normalized, stays under the root
    (POSIX and Windows path rules alike) and names a file, not the root itself."""
    import ntpath
    import posixpath

    from harness.report.package import _unsafe_name

    if _unsafe_name(name) is not None:
        return
    windows = "\\".join(part.rstrip(". ") for part in name.split("/"))  # what Win32 makes of each part
    for paths, root, rooted in ((posixpath, "/x/root", name), (ntpath, "C:\\x\\root", windows)):
        joined = paths.normpath(paths.join(root, rooted))
        assert joined.startswith(root + paths.sep) and joined != root, (name, joined)


def report_target(package: Path) -> str:
    with zipfile.ZipFile(package) as z:
        return str(json.loads(z.read(MANIFEST))["target"])
