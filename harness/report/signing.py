"""The ed25519 key that signs certification packages, and the signature format: OpenSSH's SSHSIG.

Where the key comes from, in order:

1. ``PAYCERT_SIGNING_KEY`` (environment or .env): a PEM private key (PKCS#8 or OpenSSH, unencrypted) or the
   base64 of the 32 raw private bytes;
2. ``<out>/.signing-key.pem``, created on first use with mode 0600 beside the reports (never inside a run
   directory or a package), with its public half in ``<out>/.signing-key.pub`` (OpenSSH public-key format, one
   line) and ``<out>/.signing-key.pub.pem`` (PEM) to hand to verifiers.

Why SSHSIG (OpenSSH's ``PROTOCOL.sshsig``): a verifier checks a package with ``ssh-keygen -Y verify`` and an
allowed-signers file, a tool installed wherever OpenSSH is, without trusting paycert's own code; and the same
allowed-signers file is paycert's trusted-keys file. The signature names a namespace (``paycert-package``) so
that it cannot be replayed as a git commit or e-mail signature made with the same key, nor the other way round.

The key is a secret like an API password: the leak audit looks for it in every artefact (``secret_forms``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.report.errors import ReportError

ENV_VAR: Final = "PAYCERT_SIGNING_KEY"
KEY_FILENAME: Final = ".signing-key.pem"
PUBLIC_FILENAME: Final = ".signing-key.pub"  # OpenSSH, for allowed-signers files and ssh-keygen
PUBLIC_PEM_FILENAME: Final = ".signing-key.pub.pem"  # the same key as PEM, for tools that read PEM only
#: The SSHSIG namespace of a package signature (``ssh-keygen -Y verify -n paycert-package``).
NAMESPACE: Final = "paycert-package"
_HASH: Final = "sha512"  # what ssh-keygen -Y sign uses by default
_ARMOR_BEGIN: Final = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END: Final = "-----END SSH SIGNATURE-----"


def openssh_public(public_key: Ed25519PublicKey) -> str:
    """The key as one OpenSSH line, ``ssh-ed25519 AAAA...``: what an allowed-signers line carries."""
    return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _key_blob(public_key: Ed25519PublicKey) -> bytes:
    return base64.b64decode(openssh_public(public_key).split()[1])


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``SHA256:`` + unpadded base64, exactly as ``ssh-keygen -l`` prints it, so both tools can be compared."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(_key_blob(public_key)).digest()).decode().rstrip("=")


def load_public_key(data: bytes, source: str) -> Ed25519PublicKey:
    """An ed25519 public key from an OpenSSH ``.pub`` line or PEM (a private PEM is reduced to its public half)."""
    text = data.strip()
    loaders = [lambda: serialization.load_pem_public_key(text), lambda: serialization.load_ssh_public_key(text),
               lambda: serialization.load_pem_private_key(text, password=None).public_key(),
               lambda: serialization.load_ssh_private_key(text, password=None).public_key()]
    for load in loaders:
        try:
            key = load()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if not isinstance(key, Ed25519PublicKey):
            raise ReportError(f"{source}: not an ed25519 key")
        return key
    raise ReportError(f"{source}: neither an OpenSSH public key (ssh-ed25519 AAAA...) nor a PEM ed25519 key")


def _string(value: bytes) -> bytes:
    """An SSH wire-format ``string``: uint32 length, then the bytes (RFC 4251 section 5)."""
    return struct.pack(">I", len(value)) + value


def sshsig_signed_data(message: bytes, namespace: str = NAMESPACE) -> bytes:
    """What an SSHSIG signature actually signs (``PROTOCOL.sshsig``: preamble, namespace, reserved, hash, H(m))."""
    digest = hashlib.new(_HASH, message).digest()
    return b"SSHSIG" + _string(namespace.encode()) + _string(b"") + _string(_HASH.encode()) + _string(digest)


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    source: str  # where the key came from, for the console (never the key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def sign(self, message: bytes, namespace: str = NAMESPACE) -> bytes:
        """An armored SSHSIG signature of `message`, byte for byte what ``ssh-keygen -Y sign -n NS`` writes."""
        raw = self.private_key.sign(sshsig_signed_data(message, namespace))
        blob = (b"SSHSIG" + struct.pack(">I", 1) + _string(_key_blob(self.public_key)) + _string(namespace.encode())
                + _string(b"") + _string(_HASH.encode()) + _string(_string(b"ssh-ed25519") + _string(raw)))
        body = base64.b64encode(blob).decode()
        lines = [body[i:i + 70] for i in range(0, len(body), 70)]
        return "\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END, ""]).encode()

    def secret_forms(self) -> list[str]:
        """Spellings of the private key an artefact could leak: raw base64, hex, and the PEM body lines."""
        raw = self.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
        pem = self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
        body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
        return [base64.b64encode(raw).decode(), raw.hex(), body]


def _from_text(value: str, source: str) -> Ed25519PrivateKey:
    text = value.strip()
    if "-----BEGIN" in text:
        pem = text.replace("\\n", "\n").encode()
        load = serialization.load_ssh_private_key if b"OPENSSH PRIVATE KEY" in pem else \
            serialization.load_pem_private_key
        try:
            key = load(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ReportError(f"{source}: not a readable unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ReportError(f"{source}: the PEM key is not an ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ReportError(f"{source}: neither a PEM key nor base64 of 32 raw ed25519 bytes") from None
    if len(raw) != 32:
        raise ReportError(f"{source}: base64 decodes to {len(raw)} bytes; an ed25519 private key has 32")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _check_mode(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ReportError(f"{path}: the signing key is readable by others (mode {mode:04o}); run chmod 600 on it")


def _create(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    _write_public(path.parent, key.public_key())
    return key


def _write_public(out_dir: Path, public_key: Ed25519PublicKey) -> None:
    """The public half beside the key, to hand to verifiers: an OpenSSH line and the same key as PEM."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        (out_dir / PUBLIC_FILENAME).write_text(f"{openssh_public(public_key)} paycert signing key "
                                               f"{fingerprint(public_key)}\n")
        (out_dir / PUBLIC_PEM_FILENAME).write_bytes(pem)
    except OSError as exc:
        raise ReportError(f"{out_dir}: cannot write the public signing key: {exc.strerror}") from None


def load_signer(environ: Mapping[str, str], out_dir: Path) -> Signer:
    """The run's signing key (see the module docstring); ReportError for a key that cannot be used."""
    value = environ.get(ENV_VAR, "")
    if value.strip():
        return Signer(_from_text(value, ENV_VAR), f"${ENV_VAR}")
    path = out_dir / KEY_FILENAME
    if path.is_file():
        _check_mode(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportError(f"{path}: cannot read the signing key: {exc}") from None
        signer = Signer(_from_text(text, str(path)), str(path))
        if not (path.parent / PUBLIC_FILENAME).exists():  # a key made before the OpenSSH line was written
            _write_public(path.parent, signer.public_key)
        return signer
    try:
        return Signer(_create(path), f"{path} (new)")
    except FileExistsError:  # another run created it in between
        return load_signer(environ, out_dir)
    except OSError as exc:
        raise ReportError(f"{path}: cannot create the signing key: {exc}") from None
