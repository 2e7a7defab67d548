"""Forged certification packages: every one refused by `paycert verify` and, where it applies, by the standard tool.

The attacker can edit any byte of a package and sign with any key but the trusted one. Each forgery below is run
through `paycert verify --trusted-keys FILE` (exit 1, one line) with Python's allocations traced (a zip bomb must
not cost memory), and the signature-level ones through `ssh-keygen -Y verify` exactly as README shows it, so a
verifier who does not run paycert's code is protected too. The positive controls (a genuine package passes both,
ssh-keygen's own signature is byte-identical to paycert's) prove the checks can pass, so a refusal means
something.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.cli import main
from harness.report.package import MANIFEST, SIGNATURE, Limits, build_package, verify_package
from harness.report.signing import NAMESPACE, Signer, openssh_public
from harness.report.trust import load_trusted_keys

NOW = dt.datetime.now(dt.UTC)
BOMB_BYTES = 200 * 1000 * 1000  # the review's 200 MB member, about 0.2 MB deflated
MEMORY_CAP = 16 << 20  # peak Python allocations while verifying any forgery
SSH_KEYGEN = shutil.which("ssh-keygen")
PRINCIPAL = "acme-payments"


def _report(run_id: str = "20260101T000000Z-genuine") -> dict:
    expires = (NOW + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"verdict": {"ready": True, "status": "ready", "summary": "ready"},
            "run": {"run_id": run_id, "target": "simulator", "apis": ["bettercharge"], "operator": "alice",
                    "certificate_expires_at": expires}}


def _genuine(root: Path, signer: Signer, run_id: str = "20260101T000000Z-genuine") -> Path:
    run = root / run_id
    (run / "evidence").mkdir(parents=True)
    report = _report(run_id)
    (run / "report.json").write_text(json.dumps(report, indent=1))
    (run / "report.html").write_text("<html>ready</html>")
    (run / "junit.xml").write_text("<testsuite tests='1'/>")
    (run / "evidence" / "card.har").write_text('{"log": {"entries": []}}')
    return build_package(run, report, signer)


def _members(path: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def _write(dest: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some forgeries need
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for info, data in members:
                archive.writestr(info, data)
    return dest


def _manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(MANIFEST))


def _resign(manifest: dict, files: dict[str, bytes], signer: Signer, namespace: str = NAMESPACE
            ) -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    """A package as the attacker builds it: a manifest describing `files`, signed by `signer`."""
    import hashlib

    manifest = {**manifest, "public_key_fingerprint": signer.fingerprint,
                "files": [{"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                          for n, d in files.items()]}
    body = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    return [(MANIFEST, body), (SIGNATURE, signer.sign(body, namespace)), *files.items()]


def _link(name: str, target: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def _bomb_entry(archive: zipfile.ZipFile, name: str, size: int) -> None:
    zeros = bytes(1_000_000)
    with archive.open(name, "w", force_zip64=True) as member:
        for _ in range(size // len(zeros)):
            member.write(zeros)
        member.write(bytes(size % len(zeros)))


def _central_entry(data: bytes, start: int, name: str) -> int:
    at = data.index(b"PK\x01\x02", start)
    while data[at + 46: at + 46 + len(name)] != name.encode():
        at = data.index(b"PK\x01\x02", at + 4)
    return at


def _patch_central(path: Path, name: str, patch: Callable[[bytearray, int], None]) -> None:
    """Edit `name`'s central-directory record in place (what a hand-made hostile zip does)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        start = archive.start_dir  # type: ignore[attr-defined]
    patch(data, _central_entry(bytes(data), start, name))
    path.write_bytes(bytes(data))


def _shrink_declared_size(path: Path, name: str, size: int) -> None:
    """Make the central directory lie about `name`'s uncompressed size."""
    def patch(data: bytearray, at: int) -> None:
        data[at + 24: at + 28] = size.to_bytes(4, "little")
        extra_len = int.from_bytes(data[at + 30: at + 32], "little")
        cursor = extra = at + 46 + len(name)
        while cursor < extra + extra_len:  # zip64: the real sizes live in the extra field (header id 1)
            tag = int.from_bytes(data[cursor: cursor + 2], "little")
            length = int.from_bytes(data[cursor + 2: cursor + 4], "little")
            if tag == 1:
                data[cursor + 4: cursor + 12] = size.to_bytes(8, "little")
                data[at + 24: at + 28] = b"\xff\xff\xff\xff"
            cursor += 4 + length
    _patch_central(path, name, patch)


@dataclass
class Ctx:
    tmp: Path
    genuine: Path
    trusted: Signer
    attacker: Signer

    @property
    def files(self) -> dict[str, bytes]:
        return {i.filename: d for i, d in _members(self.genuine) if i.filename not in (MANIFEST, SIGNATURE)}


@dataclass(frozen=True)
class Forgery:
    build: Callable[[Ctx], Path | tuple[Path, str]]  # the forged zip (and, optionally, the allowed-signers text)
    refusal: str  # what verify's one line must say
    tool: str | None  # "ssh-keygen": the signature check refuses it; "sha256sum": the content check does


def _edited_report(ctx: Ctx) -> dict[str, bytes]:
    files = ctx.files
    report = json.loads(files["report.json"])
    report["run"].update(target="sandbox", operator="mallory")
    return {**files, "report.json": json.dumps(report).encode()}


def edited_and_resigned(ctx: Ctx) -> Path:
    return _write(ctx.tmp / "f.zip", _resign(_manifest(ctx.genuine), _edited_report(ctx), ctx.attacker))


def made_from_nothing(ctx: Ctx) -> Path:
    invented = {**_manifest(ctx.genuine), "run_id": "20991231T235959Z-invented", "target": "sandbox"}
    return _write(ctx.tmp / "f.zip", _resign(invented, {"report.json": b'{"verdict": "ready"}'}, ctx.attacker))


def edited_manifest_old_signature(ctx: Ctx) -> Path:
    forged = dict(_resign(_manifest(ctx.genuine), _edited_report(ctx), ctx.attacker))
    forged[SIGNATURE] = _signature(ctx.genuine)
    return _write(ctx.tmp / "f.zip", list(forged.items()))


def _signature(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(SIGNATURE)


def edited_member_only(ctx: Ctx) -> Path:
    members = [(i, d) for i, d in _members(ctx.genuine) if i.filename != "report.json"]
    return _write(ctx.tmp / "f.zip", [*members, ("report.json", _edited_report(ctx)["report.json"])])


def signature_for_another_namespace(ctx: Ctx) -> Path:
    return _write(ctx.tmp / "f.zip", _resign(_manifest(ctx.genuine), _edited_report(ctx), ctx.trusted, "file"))


def signature_transplanted(ctx: Ctx) -> Path:
    other = _genuine(ctx.tmp / "other", ctx.trusted, "20260102T000000Z-other")
    members = [(i, d) for i, d in _members(ctx.genuine) if i.filename != SIGNATURE]
    return _write(ctx.tmp / "f.zip", [*members, (SIGNATURE, _signature(other))])


def key_trusted_for_git_only(ctx: Ctx) -> tuple[Path, str]:
    signers = f'{PRINCIPAL} namespaces="git" {openssh_public(ctx.trusted.public_key)}\n'
    return ctx.genuine, signers


def key_past_valid_before(ctx: Ctx) -> tuple[Path, str]:
    signers = f'{PRINCIPAL} valid-before="20200101Z" {openssh_public(ctx.trusted.public_key)}\n'
    return ctx.genuine, signers


def _added(name: str, data: bytes = b"#!/bin/sh\nrm -rf ~\n") -> Callable[[Ctx], Path]:
    def build(ctx: Ctx) -> Path:
        return _write(ctx.tmp / "f.zip", [*_members(ctx.genuine), (name, data)])
    return build


def dotdot_in_a_trusted_manifest(ctx: Ctx) -> Path:
    members = _resign(_manifest(ctx.genuine), ctx.files, ctx.trusted)
    manifest = json.loads(members[0][1])
    manifest["files"].append({"path": "../../evil.sh", "sha256": "0" * 64, "size": 1})
    body = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    return _write(ctx.tmp / "f.zip", [(MANIFEST, body), (SIGNATURE, ctx.trusted.sign(body)), *members[2:]])


def duplicate_member(ctx: Ctx) -> Path:
    return _write(ctx.tmp / "f.zip", [*_members(ctx.genuine), ("report.json", _edited_report(ctx)["report.json"])])


def unicode_twins(ctx: Ctx) -> Path:
    """café composed and decomposed: two names in the zip, one file on macOS."""
    return _write(ctx.tmp / "f.zip", [*_members(ctx.genuine), ("evidence/caf\u00e9.har", b"a"),
                                      ("evidence/cafe\u0301.har", b"b")])


def too_many_entries(ctx: Ctx) -> Path:
    """A small zip whose directory lists 200,000 entries (each one an object, were zipfile to parse them)."""
    dest = _write(ctx.tmp / "f.zip", _members(ctx.genuine))
    data = bytearray(dest.read_bytes())
    at = data.rindex(b"PK\x05\x06")
    data[at + 8: at + 12] = (0xFFFF).to_bytes(2, "little") * 2  # entries on this disk, entries in all
    locator = (b"PK\x06\x07" + (0).to_bytes(4, "little") + at.to_bytes(8, "little")
               + (1).to_bytes(4, "little"))
    record = (b"PK\x06\x06" + (44).to_bytes(8, "little") + (45).to_bytes(2, "little") * 2 + bytes(8)
              + (200_000).to_bytes(8, "little") * 2 + bytes(16))
    dest.write_bytes(bytes(data[:at]) + record + locator + bytes(data[at:]))
    return dest


def symlink_member(ctx: Ctx) -> Path:
    return _write(ctx.tmp / "f.zip", [*_members(ctx.genuine), _link("evidence/passwd", b"/etc/passwd")])


def listed_member_turned_symlink(ctx: Ctx) -> Path:
    """report.html keeps its signed bytes but becomes a link entry: refused for its type, not its hash."""
    members = [(_link(i.filename, d)[0] if i.filename == "report.html" else i, d) for i, d in _members(ctx.genuine)]
    return _write(ctx.tmp / "f.zip", members)


def directory_entry(ctx: Ctx) -> Path:
    return _write(ctx.tmp / "f.zip", [*_members(ctx.genuine), ("evidence/", b"")])


def encrypted_member(ctx: Ctx) -> Path:
    dest = _write(ctx.tmp / "f.zip", _members(ctx.genuine))

    def patch(data: bytearray, at: int) -> None:
        data[at + 8] |= 0x1  # general purpose flag bit 0: encrypted

    _patch_central(dest, "junit.xml", patch)
    return dest


def _bomb(ctx: Ctx, *, lie: bool) -> Path:
    dest = ctx.tmp / "bomb.zip"
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in _members(ctx.genuine):
            if info.filename != "junit.xml":
                archive.writestr(info, data)
        _bomb_entry(archive, "junit.xml", BOMB_BYTES)
    if lie:
        _shrink_declared_size(dest, "junit.xml", len(ctx.files["junit.xml"]))
    assert dest.stat().st_size < 1 << 20  # a 200 MB member in a zip under 1 MB
    return dest


def bomb_with_true_header(ctx: Ctx) -> Path:
    return _bomb(ctx, lie=False)


def bomb_with_lying_header(ctx: Ctx) -> Path:
    return _bomb(ctx, lie=True)


def bomb_declared_by_a_trusted_manifest(ctx: Ctx) -> Path:
    members = _resign(_manifest(ctx.genuine), ctx.files, ctx.trusted)
    manifest = json.loads(members[0][1])
    manifest["files"][0]["size"] = BOMB_BYTES
    body = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    return _write(ctx.tmp / "f.zip", [(MANIFEST, body), (SIGNATURE, ctx.trusted.sign(body)), *members[2:]])


def old_format_with_embedded_key(ctx: Ctx) -> Path:
    """paycert-package/1: a raw signature and the public key inside the package (what the review forged)."""
    import base64

    manifest = {**_manifest(ctx.genuine), "format": "paycert-package/1"}
    body = json.dumps(manifest).encode()
    pem = ctx.attacker.public_key.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = base64.b64encode(ctx.attacker.private_key.sign(body)) + b"\n"
    return _write(ctx.tmp / "f.zip", [(MANIFEST, body), (SIGNATURE, raw), ("signing-key.pub.pem", pem),
                                      *ctx.files.items()])


FORGERIES: dict[str, Forgery] = {
    "report-edited-and-resigned-with-another-key": Forgery(edited_and_resigned, "UNTRUSTED", "ssh-keygen"),
    "made-up-from-nothing": Forgery(made_from_nothing, "UNTRUSTED", "ssh-keygen"),
    "manifest-edited-signature-kept": Forgery(edited_manifest_old_signature, "signature does not match",
                                              "ssh-keygen"),
    "member-edited-manifest-kept": Forgery(edited_member_only, "report.json was changed after signing", "sha256sum"),
    "trusted-key-signature-for-another-namespace": Forgery(signature_for_another_namespace,
                                                           "signature does not match", "ssh-keygen"),
    "signature-of-another-genuine-package": Forgery(signature_transplanted, "signature does not match",
                                                    "ssh-keygen"),
    "key-trusted-for-git-only": Forgery(key_trusted_for_git_only, "UNTRUSTED", "ssh-keygen"),
    "key-past-its-valid-before": Forgery(key_past_valid_before, "is not valid now", "ssh-keygen"),
    "member-dotdot": Forgery(_added("../../evil.sh"), "climbs out of the package", None),
    "member-absolute": Forgery(_added("/etc/cron.d/x", b"* * * * * root sh -c 'id'\n"), "is an absolute path", None),
    "member-backslash": Forgery(_added("..\\..\\evil.bat"), "uses a backslash", None),
    "member-windows-trailing-dots": Forgery(_added(".. /.. /evil.bat"), "ending in a dot or a space", None),
    "member-drive-letter": Forgery(_added("C:/Windows/evil.bat"), "is an absolute path", None),
    "member-control-character": Forgery(_added("evidence/x\x1b[2J.har"), "control character", None),
    "member-newline-forging-a-verdict-line": Forgery(_added("x\nVALID pkg.zip: run forged"),
                                                     "holds a control character", None),
    "member-not-in-manifest": Forgery(_added("evidence/extra.har", b"{}"), "is in the zip but not in the manifest",
                                      None),
    "dotdot-in-a-trusted-manifest": Forgery(dotdot_in_a_trusted_manifest, "the manifest lists '../../evil.sh'", None),
    "duplicate-member": Forgery(duplicate_member, "holds 'report.json' more than once", None),
    "case-colliding-member": Forgery(_added("REPORT.json", b"{}"), "differ only in case", None),
    "unicode-form-colliding-members": Forgery(unicode_twins, "differ only in case or Unicode form", None),
    "too-many-entries": Forgery(too_many_entries, "entries, more than the 100000", None),
    "symlink-member": Forgery(symlink_member, "is a symbolic link", None),
    "listed-member-turned-symlink": Forgery(listed_member_turned_symlink, "'report.html' is a symbolic link", None),
    "directory-entry": Forgery(directory_entry, "is a directory entry", None),
    "encrypted-member": Forgery(encrypted_member, "is encrypted", None),
    "zip-bomb-true-header": Forgery(bomb_with_true_header,
                                    "junit.xml was changed after signing (200000000 bytes in the zip", None),
    "zip-bomb-lying-header": Forgery(bomb_with_lying_header, "INVALID", None),
    "zip-bomb-declared-in-trusted-manifest": Forgery(bomb_declared_by_a_trusted_manifest,
                                                     "more than the 134217728 a member may hold", None),
    "old-format-with-embedded-key": Forgery(old_format_with_embedded_key, "INVALID", "ssh-keygen"),
}


@pytest.fixture(scope="module")
def keys() -> tuple[Signer, Signer]:
    return Signer(Ed25519PrivateKey.generate(), "trusted"), Signer(Ed25519PrivateKey.generate(), "attacker")


@pytest.fixture
def ctx(tmp_path: Path, keys: tuple[Signer, Signer]) -> Ctx:
    trusted, attacker = keys
    return Ctx(tmp_path, _genuine(tmp_path / "genuine", trusted), trusted, attacker)


def _allowed_signers(ctx: Ctx, text: str | None = None) -> Path:
    path = ctx.tmp / "allowed_signers"
    path.write_text(text or f'{PRINCIPAL} namespaces="{NAMESPACE}" {openssh_public(ctx.trusted.public_key)}\n')
    return path


def standard_tool(package: Path, allowed_signers: Path, workdir: Path) -> tuple[bool, str]:
    """README's check without paycert: ssh-keygen on the manifest, then sha256sum over the listed files."""
    workdir.mkdir()
    with zipfile.ZipFile(package) as archive:
        (workdir / MANIFEST).write_bytes(archive.read(MANIFEST))
        (workdir / SIGNATURE).write_bytes(archive.read(SIGNATURE))
    with (workdir / MANIFEST).open("rb") as manifest:
        signature = subprocess.run([SSH_KEYGEN or "ssh-keygen", "-Y", "verify", "-f", str(allowed_signers),
                                    "-I", PRINCIPAL, "-n", NAMESPACE, "-s", str(workdir / SIGNATURE)],
                                   stdin=manifest, capture_output=True, text=True, timeout=30)
    if signature.returncode != 0:
        return False, "ssh-keygen: " + (signature.stderr or signature.stdout).strip()
    contents = workdir / "pkg"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(contents)
    listing = json.loads((workdir / MANIFEST).read_text())["files"]
    lines = "".join(f"{f['sha256']}  {f['path']}\n" for f in listing)
    sums = subprocess.run(["sha256sum", "--check", "--strict", "--quiet"], input=lines, cwd=contents,
                          capture_output=True, text=True, timeout=30)
    return sums.returncode == 0, "sha256sum: " + (sums.stdout + sums.stderr).strip()


needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen (OpenSSH) is not installed here; "
                                      "the signature is checked by paycert's own verify only")


@pytest.mark.parametrize("name", FORGERIES)
def test_forgery_is_refused(name: str, ctx: Ctx, capsys: pytest.CaptureFixture[str]) -> None:
    forgery = FORGERIES[name]
    built = forgery.build(ctx)
    path, signers = built if isinstance(built, tuple) else (built, None)
    allowed = _allowed_signers(ctx, signers)
    tracemalloc.start()
    try:
        result = verify_package(path, load_trusted_keys(allowed, required=True), now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not result.ok, f"ACCEPTED forgery {name}: {result.message}"
    assert forgery.refusal in result.message and "\n" not in result.message, result.message
    assert peak < MEMORY_CAP, f"{name}: verify allocated {peak} bytes"
    if path.stat().st_size < 1 << 16:  # the CLI says the same in one line, exit 1 (bombs: once is enough)
        assert main(["verify", str(path), "--trusted-keys", str(allowed)]) == 1
        out = capsys.readouterr().out.strip()
        assert len(out.splitlines()) == 1 and forgery.refusal in out


@needs_ssh_keygen
@pytest.mark.parametrize("name", [n for n, f in FORGERIES.items() if f.tool])
def test_forgery_is_refused_by_the_standard_tool(name: str, ctx: Ctx) -> None:
    forgery = FORGERIES[name]
    built = forgery.build(ctx)
    path, signers = built if isinstance(built, tuple) else (built, None)
    accepted, output = standard_tool(path, _allowed_signers(ctx, signers), ctx.tmp / "check")
    assert not accepted, f"the standard tool ACCEPTED forgery {name}: {output}"
    assert output.startswith(f"{forgery.tool}:"), output


@needs_ssh_keygen
def test_genuine_package_passes_the_standard_tool_and_paycert(ctx: Ctx) -> None:
    allowed = _allowed_signers(ctx)
    accepted, output = standard_tool(ctx.genuine, allowed, ctx.tmp / "check")
    assert accepted, output
    result = verify_package(ctx.genuine, load_trusted_keys(allowed, required=True), now=NOW)
    assert result.ok and f"trusted as {PRINCIPAL}" in result.message, result.message


@needs_ssh_keygen
def test_signature_is_byte_identical_to_ssh_keygen_sign(ctx: Ctx) -> None:
    """ssh-keygen -Y sign with the same key writes exactly paycert's signature (ed25519 is deterministic)."""
    key = ctx.tmp / "id_ed25519"
    key.write_bytes(ctx.trusted.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    key.chmod(0o600)
    message = ctx.tmp / "MANIFEST.json"
    with zipfile.ZipFile(ctx.genuine) as archive:
        message.write_bytes(archive.read(MANIFEST))
    subprocess.run([SSH_KEYGEN or "ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(message)],
                   check=True, capture_output=True, timeout=30)
    assert (ctx.tmp / "MANIFEST.json.sig").read_bytes() == _signature(ctx.genuine)


def test_a_200_mb_member_is_streamed_in_bounded_memory(tmp_path: Path, keys: tuple[Signer, Signer]) -> None:
    """A genuine, trusted package with a 200 MB member verifies when the caps allow it, in little memory."""
    import hashlib

    trusted, _ = keys
    genuine = _genuine(tmp_path / "g", trusted)
    dest = tmp_path / "big.zip"
    digest = hashlib.sha256(bytes(BOMB_BYTES // 200) * 200).hexdigest()
    manifest = _manifest(genuine)
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "junit.xml"]
    manifest["files"].append({"path": "junit.xml", "sha256": digest, "size": BOMB_BYTES})
    body = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, body)
        archive.writestr(SIGNATURE, trusted.sign(body))
        for info, data in _members(genuine):
            if info.filename not in (MANIFEST, SIGNATURE, "junit.xml"):
                archive.writestr(info, data)
        _bomb_entry(archive, "junit.xml", BOMB_BYTES)
    trust = load_trusted_keys(_write_signers(tmp_path, trusted), required=True)
    tracemalloc.start()
    try:
        result = verify_package(dest, trust, now=NOW, limits=Limits(member_bytes=256 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok, result.message
    assert peak < MEMORY_CAP, peak
    refused = verify_package(dest, trust, now=NOW, limits=Limits(member_bytes=256 << 20, total_bytes=100 << 20))
    assert not refused.ok and "bytes in all, more than" in refused.message


def _write_signers(tmp: Path, signer: Signer) -> Path:
    path = tmp / "allowed_signers"
    path.write_text(f"{PRINCIPAL} {openssh_public(signer.public_key)}\n")
    return path


# ---------------------------------------------------------------- README's commands, run as written

def _readme_block(marker: str) -> str:
    """The README's ```sh block that contains `marker`."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1)[1] for b in readme.split("```sh")[1:]]
    return next(b.split("```")[0] for b in blocks if marker in b)


def _run_readme(block: str, package: Path, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = "set -e\n" + block.replace("PACKAGE.zip", str(package))
    env = {**os.environ, "HOME": str(home), "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("PAYCERT_TRUSTED_KEYS", None)
    env.pop("XDG_CONFIG_HOME", None)
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@needs_ssh_keygen
@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed here (README's first step)")
def test_readme_standard_tool_commands_accept_genuine_and_refuse_forged(ctx: Ctx) -> None:
    block = _readme_block("ssh-keygen -Y verify")
    home = ctx.tmp / "home"
    (home / ".config" / "paycert").mkdir(parents=True)
    (home / ".config" / "paycert" / "allowed_signers").write_text(
        f'{PRINCIPAL} namespaces="{NAMESPACE}" {openssh_public(ctx.trusted.public_key)}\n')
    for name, package, accepted in (("genuine", ctx.genuine, True),
                                    ("resigned", edited_and_resigned(ctx), False),
                                    ("member-edited", edited_member_only(ctx), False)):
        work = ctx.tmp / f"run-{name}"
        work.mkdir()
        result = _run_readme(block, package, home, work)
        assert (result.returncode == 0) is accepted, (name, result.stdout, result.stderr)


@pytest.mark.skipif(shutil.which("paycert", path=str(Path(sys.executable).parent)) is None,
                    reason="the paycert script is not installed beside this interpreter")
def test_readme_pinning_commands_work_as_written(ctx: Ctx) -> None:
    block = _readme_block("--public-key acme.pub")
    home, work = ctx.tmp / "home", ctx.tmp / "work"
    home.mkdir()
    work.mkdir()
    (work / "acme.pub").write_text(openssh_public(ctx.trusted.public_key) + " paycert signing key\n")
    result = _run_readme(block, ctx.genuine, home, work)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.count("VALID") == 2 and "trusted as acme-payments" in result.stdout, result.stdout
    (work / "acme.pub").write_text(openssh_public(ctx.attacker.public_key) + "\n")
    (home / ".config" / "paycert" / "allowed_signers").unlink()
    assert _run_readme(block, ctx.genuine, home, work).returncode != 0


def test_any_damaged_byte_is_one_verdict_line_and_never_valid_with_other_content(ctx: Ctx) -> None:
    """Bounded byte-level fuzz (fixed seed): flips, truncations and insertions anywhere in a genuine zip. Each
    gives one verdict line and no exception; a package still VALID must hold exactly the signed contents
    (flips in zip metadata such as timestamps change no content)."""
    import random

    trust = load_trusted_keys(_allowed_signers(ctx), required=True)
    original = ctx.genuine.read_bytes()
    contents = {i.filename: d for i, d in _members(ctx.genuine)}
    rng = random.Random(11)
    forged, outcomes = ctx.tmp / "fuzz.zip", {"VALID": 0, "INVALID": 0, "UNTRUSTED": 0}
    for _ in range(300):
        data = bytearray(original)
        at = rng.randrange(len(data))
        kind = rng.choice(("flip", "truncate", "insert"))
        if kind == "flip":
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        forged.write_bytes(bytes(data))
        result = verify_package(forged, trust, now=NOW)
        assert result.message.isprintable(), result.message
        outcomes[result.message.split()[0]] += 1
        if result.ok:
            assert {i.filename: d for i, d in _members(forged)} == contents, (kind, at, result.message)
    assert outcomes["INVALID"] > 200, outcomes  # most damage is caught; the rest is in bytes no one reads
