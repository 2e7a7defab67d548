"""The ed25519 key that signs certification packages.

Where the key comes from, in order:

1. ``PAYCERT_SIGNING_KEY`` (environment or .env): a PEM private key (PKCS#8, unencrypted) or the base64 of
   the 32 raw private bytes;
2. ``<out>/.signing-key.pem``, created on first use with mode 0600 beside the reports (never inside a run
   directory or a package), with its public half in ``<out>/.signing-key.pub.pem`` to hand to verifiers.

The key is a secret like an API password: the leak audit looks for it in every artefact (``secret_forms``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
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
PUBLIC_FILENAME: Final = ".signing-key.pub.pem"


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """'sha256:' + hex digest of the 32 raw public bytes: what a verifier compares by eye."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(data: bytes, source: str) -> Ed25519PublicKey:
    """An ed25519 public key from PEM (a private key PEM is accepted and reduced to its public half)."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ReportError(f"{source}: not a PEM ed25519 public key") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ReportError(f"{source}: not an ed25519 key") from None
        return private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ReportError(f"{source}: not an ed25519 key")
    return key


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

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

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
        try:
            key = serialization.load_pem_private_key(text.replace("\\n", "\n").encode(), password=None)
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
    path.with_name(PUBLIC_FILENAME).write_bytes(public_pem(key.public_key()))
    return key


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
        return Signer(_from_text(text, str(path)), str(path))
    try:
        return Signer(_create(path), f"{path} (new)")
    except FileExistsError:  # another run created it in between
        return load_signer(environ, out_dir)
    except OSError as exc:
        raise ReportError(f"{path}: cannot create the signing key: {exc}") from None
