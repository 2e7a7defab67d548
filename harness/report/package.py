"""The signed certification package, and its verification.

A package is one zip:

    MANIFEST.json        run id, verdict, target, APIs, dates, key fingerprint, and sha256 + size of every file
    MANIFEST.json.sig    an OpenSSH SSHSIG signature (namespace ``paycert-package``) of MANIFEST.json's bytes
    report.html, report.json, junit.xml, evidence/...

Verification checks, in order: that every zip entry is a plain file with a safe relative name, listed once
(no absolute or ``..`` names, no links, no duplicates: an unzip of a verified package writes nowhere else);
the signature over the manifest; that the zip holds exactly the files the manifest lists, each streamed
through sha256 under a size cap and compared with its declared size and hash, so one changed byte anywhere
fails and a zip bomb is cut off after the declared size; and finally that the signer is a key the *verifier*
chose to trust (``harness.report.trust``). Nothing in the package vouches for itself: a package re-signed
with another key is intact but UNTRUSTED. ``ssh-keygen -Y verify`` checks the same signature (README).

A package is refused while the verdict is not ready (the OpenID Foundation suite does the same), and a
certificate past its expiry date no longer verifies unless asked to (``allow_expired``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sshsig
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness.report.errors import ReportError
from harness.report.metadata import iso, parse_iso, utc_now
from harness.report.signing import NAMESPACE, Signer, fingerprint
from harness.report.trust import TrustAnchor

FORMAT: Final = "paycert-package/2"
MANIFEST: Final = "MANIFEST.json"
SIGNATURE: Final = "MANIFEST.json.sig"
_CONTROL: Final = frozenset({MANIFEST, SIGNATURE})
_CHUNK: Final = 1 << 16
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
                         if p.is_file() and not p.is_symlink() and not p.name.endswith((".lock", ".tmp")))
        elif path.is_file() and not path.is_symlink():
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
    for name, _ in files:  # what verify would refuse is never packaged
        problem = _unsafe_name(name)
        if problem:
            raise ReportError(f"cannot package {run_dir / name}: its name {problem}")
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
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in files:  # hashed while written: the manifest describes exactly the bytes zipped
                digest, size = hashlib.sha256(), 0
                with path.open("rb") as source, archive.open(name, "w") as member:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        member.write(chunk)
                manifest["files"].append({"path": name, "sha256": digest.hexdigest(), "size": size})
            manifest_bytes = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
            archive.writestr(MANIFEST, manifest_bytes)
            archive.writestr(SIGNATURE, signer.sign(manifest_bytes))
        tmp.replace(dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write the package {dest}: {exc}") from None
    return dest


@dataclass(frozen=True)
class Limits:
    """What a verifier reads at most, whatever the zip claims: bounded memory, time and disk for any input."""

    member_bytes: int = 128 << 20  # one file, uncompressed
    total_bytes: int = 1 << 30  # all files, uncompressed
    entries: int = 100_000
    manifest_bytes: int = 16 << 20
    signature_bytes: int = 16 << 10


@dataclass(frozen=True)
class Verification:
    ok: bool
    message: str  # one line of printable characters
    signer: str | None = None  # the signing key's fingerprint, once the signature is known to be good

    def __post_init__(self) -> None:
        # names and messages come from a hostile zip: no newline to forge a second verdict line, no escape
        # sequence to repaint the terminal
        printable = "".join(c if c.isprintable() else "?" for c in self.message)
        object.__setattr__(self, "message", printable)

    def __str__(self) -> str:
        return self.message


class _Refused(Exception):
    """One reason the package is not valid; becomes the INVALID line."""


def _fail(path: Path, why: str, signer: str | None = None) -> Verification:
    return Verification(False, f"INVALID {path.name}: {why}", signer)


def verify_package(path: Path, trust: TrustAnchor, *, now: dt.datetime | None = None, allow_expired: bool = False,
                   limits: Limits = Limits()) -> Verification:
    """Check names, signature, trust and every file (see the module docstring); the message is the verdict line."""
    if not path.is_file():
        return _fail(path, "no such file")
    try:
        _check_directory_size(path, limits)
        with zipfile.ZipFile(path) as archive:
            return _verify(path, archive, trust, now or utc_now(), allow_expired, limits)
    except _Refused as exc:
        return _fail(path, str(exc))
    except zipfile.BadZipFile as exc:
        return _fail(path, f"not a readable zip ({exc})")
    except (OSError, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        # NotImplementedError: an unsupported compression; RuntimeError: an encrypted member; ValueError: a
        # malformed header field zipfile trips over
        return _fail(path, f"the zip is damaged ({type(exc).__name__}: {exc})")


_EOCD: Final = struct.Struct("<4s4H2LH")  # end of central directory record (APPNOTE.TXT 4.3.16)
_ZIP64_LOCATOR: Final = struct.Struct("<4sLQL")  # zip64 end of central directory locator (4.3.15)
_ZIP64_EOCD: Final = struct.Struct("<4sQ2H2L4Q")  # zip64 end of central directory record (4.3.14)


def _check_directory_size(path: Path, limits: Limits) -> None:
    """Refuse a zip whose central directory claims too many entries before zipfile parses it all into memory
    (a small file can list millions of entries: zipfile would build an object for each)."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        tail_start = max(0, size - (_EOCD.size + 0xFFFF))
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _EOCD.size:
            return  # zipfile will say it is not a zip
        _, _, _, _, entries, directory_bytes, _, _ = _EOCD.unpack_from(tail, at)
        if at >= _ZIP64_LOCATOR.size and (entries == 0xFFFF or directory_bytes == 0xFFFFFFFF):
            signature, _, record, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
            if signature == b"PK\x06\x07" and record + _ZIP64_EOCD.size <= size:
                handle.seek(record)
                fields = _ZIP64_EOCD.unpack(handle.read(_ZIP64_EOCD.size))
                if fields[0] == b"PK\x06\x06":
                    entries, directory_bytes = fields[7], fields[8]
    if entries > limits.entries:
        raise _Refused(f"the zip lists {entries} entries, more than the {limits.entries} a package may hold")
    if directory_bytes > limits.entries * 1024:
        raise _Refused(f"the zip's central directory is {directory_bytes} bytes, too large for a package")


def _unsafe_name(name: str) -> str | None:
    """Why `name` could not be unzipped safely inside one directory, or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a control character"
    if "\\" in name:
        return "uses a backslash (a Windows path separator)"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "climbs out of the package with '..'"
    if "" in parts or "." in parts:
        return "is not a normalized relative path"
    if any(part.endswith((".", " ")) for part in parts):
        return "has a part ending in a dot or a space (Windows drops those: '.. ' would become '..')"
    return None


def _check_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> dict[str, zipfile.ZipInfo]:
    """Every zip entry a plain file with a safe, unique name; name -> entry."""
    by_name: dict[str, zipfile.ZipInfo] = {}
    folded: dict[str, str] = {}
    for info in infos:
        name = info.filename
        problem = _unsafe_name(name.rstrip("/") if info.is_dir() else name)
        if problem:
            raise _Refused(f"member {name!r} {problem}")
        if info.is_dir():
            raise _Refused(f"member {name!r} is a directory entry; a package holds files only")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _Refused(f"member {name!r} is a symbolic link")
        if kind and kind != stat.S_IFREG:
            raise _Refused(f"member {name!r} is not a regular file (mode {info.external_attr >> 16:o})")
        if info.flag_bits & 0x1:
            raise _Refused(f"member {name!r} is encrypted")
        if name in by_name:
            raise _Refused(f"the zip holds {name!r} more than once")
        other = folded.setdefault(unicodedata.normalize("NFC", name).casefold(), name)
        if other != name:  # one file on a case-insensitive or normalizing file system (Windows, macOS)
            raise _Refused(f"members {other!r} and {name!r} differ only in case or Unicode form")
        by_name[name] = info
    missing = sorted(_CONTROL - set(by_name))
    if missing:
        raise _Refused(f"not a paycert package ({', '.join(missing)} missing)")
    return by_name


def _read_small(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise _Refused(f"{info.filename} is {info.file_size} bytes, more than the {limit} allowed")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _Refused(f"{info.filename} is more than the {limit} bytes allowed")
    return data


def _signer(manifest_bytes: bytes, armored: bytes) -> Ed25519PublicKey:
    """The key that made a valid SSHSIG signature of the manifest (any key: trust is decided later)."""
    try:
        key = sshsig.check_signature(manifest_bytes, armored, namespace=NAMESPACE)
    except sshsig.InvalidSignature:
        raise _Refused("the signature does not match the manifest (manifest or signature changed, or not a "
                       f"{NAMESPACE} signature)") from None
    except Exception as exc:  # hostile bytes reach a parser: whatever it raises, the package is refused
        raise _Refused(f"{SIGNATURE} is not a readable SSH signature ({type(exc).__name__})") from None
    public = serialization.load_ssh_public_key(key.openssh_str().encode())
    if not isinstance(public, Ed25519PublicKey):
        raise _Refused(f"signed with a {key.algo_name} key; paycert packages are signed with ed25519")
    return public


def _manifest(manifest_bytes: bytes, limits: Limits) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    try:
        manifest = json.loads(manifest_bytes)
    except (ValueError, RecursionError):
        raise _Refused("the manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise _Refused(f"the manifest's format is {found!r}, not {FORMAT!r}")
    entries = manifest.get("files")
    if not isinstance(entries, list):
        raise _Refused("the manifest has no list of files")
    listed: dict[str, dict[str, Any]] = {}
    total = 0
    for entry in entries:
        name = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise _Refused("the manifest lists a file without a path")
        sha, size = entry.get("sha256"), entry.get("size")
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
            raise _Refused(f"the manifest's sha256 of {name!r} is not 64 hex digits")
        if type(size) is not int or size < 0:
            raise _Refused(f"the manifest's size of {name!r} is not a byte count")
        problem = _unsafe_name(name)
        if problem or name in _CONTROL:
            raise _Refused(f"the manifest lists {name!r}, which {problem or 'is a control file'}")
        if name in listed:
            raise _Refused(f"the manifest lists {name!r} more than once")
        if size > limits.member_bytes:
            raise _Refused(f"{name} declares {size} bytes, more than the {limits.member_bytes} a member may hold")
        total += size
        listed[name] = entry
    if total > limits.total_bytes:
        raise _Refused(f"the files declare {total} bytes in all, more than the {limits.total_bytes} allowed")
    return manifest, listed


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, entry: dict[str, Any]) -> None:
    """Stream one member through sha256, reading at most one byte past its declared size."""
    name, declared = info.filename, entry["size"]
    if info.file_size != declared:
        raise _Refused(f"{name} was changed after signing ({info.file_size} bytes in the zip, {declared} in the "
                       "manifest)")
    digest, size = hashlib.sha256(), 0
    with archive.open(info) as handle:
        while chunk := handle.read(min(_CHUNK, declared - size + 1)):
            size += len(chunk)
            if size > declared:
                raise _Refused(f"{name} holds more than the {declared} bytes the manifest declares")
            digest.update(chunk)
    if size != declared or digest.hexdigest() != entry["sha256"]:
        raise _Refused(f"{name} was changed after signing (sha256 differs from the manifest)")


def _verify(path: Path, archive: zipfile.ZipFile, trust: TrustAnchor, now: dt.datetime, allow_expired: bool,
            limits: Limits) -> Verification:
    members = _check_entries(archive.infolist(), limits)
    manifest_bytes = _read_small(archive, members[MANIFEST], limits.manifest_bytes)
    key = _signer(manifest_bytes, _read_small(archive, members[SIGNATURE], limits.signature_bytes))
    signer = fingerprint(key)
    trusted = trust.match(key, now)
    if trusted is None:
        lapsed = trust.expired_entry(key, now)
        why = (f"the entry {lapsed.where} is not valid now" if lapsed else
               f"not a key you trust ({trust.describe()})")
        return Verification(False, f"UNTRUSTED {path.name}: signed by {signer}, {why}; {trust.how_to_pin()}",
                            signer)
    try:
        manifest, listed = _manifest(manifest_bytes, limits)
        contents = set(members) - _CONTROL
        if contents - set(listed):
            raise _Refused(f"{sorted(contents - set(listed))[0]} is in the zip but not in the manifest")
        if set(listed) - contents:
            raise _Refused(f"{sorted(set(listed) - contents)[0]} is in the manifest but missing from the zip")
        if manifest.get("public_key_fingerprint") != signer:
            raise _Refused("the manifest names a different signing key than the one that signed it")
        for name in sorted(listed):
            _check_member(archive, members[name], listed[name])
        run_id, verdict = manifest.get("run_id"), manifest.get("verdict")
        try:
            expires = parse_iso(manifest["certificate_expires_at"])
        except (KeyError, TypeError, ValueError):
            raise _Refused("the manifest has no readable certificate_expires_at") from None
    except _Refused as exc:
        return _fail(path, str(exc), signer)
    if verdict != "ready":
        return _fail(path, f"the manifest's verdict is {verdict!r}, not ready", signer)
    if expires < now and not allow_expired:
        return _fail(path, f"intact, but the certificate expired on {iso(expires)}", signer)
    validity = (f"certificate expired on {iso(expires)} (accepted: allow expired)" if expires < now
                else f"certificate valid until {iso(expires)}")
    apis = manifest.get("apis")
    scope = f"{manifest.get('target')}, {'+'.join(map(str, apis)) if isinstance(apis, list) else apis}"
    return Verification(True, f"VALID {path.name}: run {run_id} ({scope}), {len(listed)} files intact, signed by "
                              f"{signer} (trusted as {trusted.principal}, {trusted.where}); {validity}", signer)
