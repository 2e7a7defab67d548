"""The signed certification package, and its verification.

A package is one zip:

    MANIFEST.json        run id, verdict, target, APIs, dates, key fingerprint, and sha256 + size of every file
    MANIFEST.json.sig    detached ed25519 signature of MANIFEST.json's exact bytes (base64)
    signing-key.pub.pem  the public key that made the signature
    report.html, report.json, junit.xml, evidence/...

Verification checks the signature over the manifest, then that the zip holds exactly the files the manifest
lists with exactly those hashes, so one changed byte anywhere fails. The embedded key proves integrity; who
signed is proven by comparing the fingerprint (printed by verify) or by pinning the key (``--public-key``).

A package is refused while the verdict is not ready (the OpenID Foundation suite does the same), and a
certificate past its expiry date no longer verifies unless asked to (``allow_expired``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness.report.errors import ReportError
from harness.report.metadata import iso, parse_iso, utc_now
from harness.report.signing import Signer, fingerprint, load_public_key, public_pem

FORMAT: Final = "paycert-package/1"
MANIFEST: Final = "MANIFEST.json"
SIGNATURE: Final = "MANIFEST.json.sig"
PUBLIC_KEY: Final = "signing-key.pub.pem"
_CONTROL: Final = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY})
#: What goes into a package, relative to the run directory (directories are taken whole).
CONTENTS: Final = ("report.html", "report.json", "junit.xml", "leak-audit.json", "evidence")


class PackageRefused(ReportError):
    """The run's verdict does not allow a certification package."""


def package_name(run_id: str) -> str:
    return f"paycert-certification-{run_id}.zip"


def _files(run_dir: Path, contents: Iterable[str]) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for name in contents:
        path = run_dir / name
        if path.is_dir():
            found.extend((p.relative_to(run_dir).as_posix(), p) for p in sorted(path.rglob("*"))
                         if p.is_file() and not p.name.endswith((".lock", ".tmp")))
        elif path.is_file():
            found.append((name, path))
    return found


def build_package(run_dir: Path, report: dict[str, Any], signer: Signer, dest: Path | None = None,
                  *, contents: Iterable[str] = CONTENTS) -> Path:
    """Zip the report and evidence with a signed manifest; PackageRefused unless the verdict is ready."""
    verdict = report.get("verdict", {})
    if not verdict.get("ready"):
        raise PackageRefused(f"no certification package: the verdict is not ready ({verdict.get('summary', '')})")
    run = report["run"]
    dest = dest or run_dir / package_name(run["run_id"])
    files = _files(run_dir, contents)
    manifest = {
        "format": FORMAT,
        "run_id": run["run_id"],
        "verdict": verdict["status"],
        "target": run["target"],
        "apis": run["apis"],
        "created_at": iso(utc_now()),
        "certificate_expires_at": run["certificate_expires_at"],
        "public_key_fingerprint": signer.fingerprint,
        "files": [],
    }
    datas: list[tuple[str, bytes]] = []
    for name, path in files:
        data = path.read_bytes()
        datas.append((name, data))
        manifest["files"].append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    manifest_bytes = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    signature = base64.b64encode(signer.sign(manifest_bytes)) + b"\n"
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, manifest_bytes)
        archive.writestr(SIGNATURE, signature)
        archive.writestr(PUBLIC_KEY, public_pem(signer.public_key))
        for name, data in datas:
            archive.writestr(name, data)
    tmp.replace(dest)
    return dest


@dataclass(frozen=True)
class Verification:
    ok: bool
    message: str  # one line

    def __str__(self) -> str:
        return self.message


def _fail(path: Path, why: str) -> Verification:
    return Verification(False, f"INVALID {path.name}: {why}")


def verify_package(path: Path, *, public_key: Ed25519PublicKey | None = None, now: dt.datetime | None = None,
                   allow_expired: bool = False) -> Verification:
    """Check signature, manifest and every file; the message is the one-line verdict."""
    if not path.is_file():
        return _fail(path, "no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            return _verify(path, archive, public_key, now or utc_now(), allow_expired)
    except zipfile.BadZipFile as exc:
        return _fail(path, f"not a readable zip ({exc})")
    except (OSError, zlib.error, EOFError) as exc:
        return _fail(path, f"the zip is damaged ({type(exc).__name__}: {exc})")


def _verify(path: Path, archive: zipfile.ZipFile, pinned: Ed25519PublicKey | None, now: dt.datetime,
            allow_expired: bool) -> Verification:
    names = [i.filename for i in archive.infolist() if not i.is_dir()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        return _fail(path, f"the zip holds {duplicates[0]} more than once")
    missing = sorted(_CONTROL - set(names))
    if missing:
        return _fail(path, f"not a paycert package ({', '.join(missing)} missing)")
    try:
        key = load_public_key(archive.read(PUBLIC_KEY), PUBLIC_KEY)
    except ReportError as exc:
        return _fail(path, str(exc))
    if pinned is not None and fingerprint(pinned) != fingerprint(key):
        return _fail(path, f"signed by key {fingerprint(key)}, not by the expected key {fingerprint(pinned)}")
    manifest_bytes = archive.read(MANIFEST)
    try:
        signature = base64.b64decode(archive.read(SIGNATURE).strip(), validate=True)
        key.verify(signature, manifest_bytes)
    except (binascii.Error, ValueError, InvalidSignature):
        return _fail(path, "the signature does not match the manifest (manifest or signature changed)")
    try:
        manifest = json.loads(manifest_bytes)
        listed = {f["path"]: f for f in manifest["files"]}
        expires = parse_iso(manifest["certificate_expires_at"])
        run_id, verdict = manifest["run_id"], manifest["verdict"]
    except (ValueError, KeyError, TypeError) as exc:
        return _fail(path, f"the manifest is malformed ({type(exc).__name__})")
    if manifest.get("public_key_fingerprint") != fingerprint(key):
        return _fail(path, "the manifest names a different signing key than the one embedded")
    contents = set(names) - _CONTROL
    if contents - set(listed):
        return _fail(path, f"{sorted(contents - set(listed))[0]} is in the zip but not in the manifest")
    if set(listed) - contents:
        return _fail(path, f"{sorted(set(listed) - contents)[0]} is in the manifest but missing from the zip")
    for name in sorted(listed):
        try:
            data = archive.read(name)
        except (zipfile.BadZipFile, zlib.error) as exc:
            return _fail(path, f"{name} is damaged ({exc})")
        if hashlib.sha256(data).hexdigest() != listed[name].get("sha256") or len(data) != listed[name].get("size"):
            return _fail(path, f"{name} was changed after signing (sha256 differs from the manifest)")
    if verdict != "ready":
        return _fail(path, f"the manifest's verdict is {verdict!r}, not ready")
    if expires < now and not allow_expired:
        return _fail(path, f"intact, but the certificate expired on {iso(expires)}")
    validity = (f"certificate expired on {iso(expires)} (accepted: allow expired)" if expires < now
                else f"certificate valid until {iso(expires)}")
    return Verification(True, f"VALID {path.name}: run {run_id}, {len(listed)} files intact, signed by "
                              f"{fingerprint(key)}; {validity}")
