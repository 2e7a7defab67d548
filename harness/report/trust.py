"""Which signing keys a verifier trusts: chosen by the verifier, never taken from the package.

A package proves only that *some* key signed it; anyone can make a key. So ``paycert verify`` calls a package
valid only when its signer is a key the verifier pinned beforehand, from (first that applies):

1. ``--public-key FILE``: exactly that key (an OpenSSH ``.pub`` line, e.g. ``<out>/.signing-key.pub``, or PEM);
2. ``--trusted-keys FILE``, else ``$PAYCERT_TRUSTED_KEYS``, else ``$XDG_CONFIG_HOME/paycert/allowed_signers``
   (``~/.config/paycert/allowed_signers``): an OpenSSH *allowed signers* file (ssh-keygen(1), section ALLOWED
   SIGNERS), one ``principal [options] ssh-ed25519 AAAA... [comment]`` per line. The same file serves
   ``ssh-keygen -Y verify -f FILE``, so the tool and paycert can never disagree about whom to trust.

A line counts for paycert as ssh-keygen would count it: its key is ssh-ed25519 (other types cannot have made
a package signature and are skipped), it is not a ``cert-authority`` line (paycert signs with plain keys),
its ``namespaces`` (when given) include ``paycert-package``, and now lies within ``valid-after`` /
``valid-before``. A line that cannot be parsed is an error naming file and line, not a line silently ignored.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sshsig.allowed_signers import AllowedSigner

from harness.report.errors import ReportError
from harness.report.files import read_small, utf8_text
from harness.report.signing import NAMESPACE, fingerprint, load_public_key

ENV_VAR: Final = "PAYCERT_TRUSTED_KEYS"
_MAX_FILE_BYTES: Final = 1 << 20


def default_trusted_keys(environ: Mapping[str, str]) -> Path:
    """``$PAYCERT_TRUSTED_KEYS``, else ``$XDG_CONFIG_HOME/paycert/allowed_signers`` (``~/.config`` by default)."""
    explicit = environ.get(ENV_VAR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    config = environ.get("XDG_CONFIG_HOME", "").strip() or str(Path("~/.config").expanduser())
    return Path(config) / "paycert" / "allowed_signers"


@dataclass(frozen=True)
class TrustedKey:
    principal: str  # who the verifier says this key is ("acme-payments"); printed in the verdict
    key: Ed25519PublicKey
    where: str  # "FILE:LINE" or "--public-key FILE"
    valid_after: dt.datetime | None = None
    valid_before: dt.datetime | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    def valid_at(self, now: dt.datetime) -> bool:
        return (self.valid_after is None or now >= self.valid_after) and (
            self.valid_before is None or now < self.valid_before)


@dataclass(frozen=True)
class TrustAnchor:
    keys: tuple[TrustedKey, ...]
    source: str  # where the keys came from, for the one-line verdict
    missing: bool = False  # the default trusted-keys file does not exist (yet)

    def describe(self) -> str:
        if self.missing:
            return f"no trusted-keys file {self.source}"
        return f"{len(self.keys)} key{'' if len(self.keys) == 1 else 's'} trusted in {self.source}"

    def match(self, key: Ed25519PublicKey, now: dt.datetime) -> TrustedKey | None:
        """The trusted entry for `key` valid at `now`, if any."""
        wanted = fingerprint(key)
        return next((k for k in self.keys if k.fingerprint == wanted and k.valid_at(now)), None)

    def expired_entry(self, key: Ed25519PublicKey, now: dt.datetime) -> TrustedKey | None:
        """An entry for `key` that exists but is outside its validity window (to say so instead of 'unknown')."""
        wanted = fingerprint(key)
        return next((k for k in self.keys if k.fingerprint == wanted and not k.valid_at(now)), None)

    def how_to_pin(self) -> str:
        return (f"pin the signer's key (their <out>/.signing-key.pub, fingerprint compared with them) with "
                f"--public-key FILE or a line 'NAME namespaces=\"{NAMESPACE}\" ssh-ed25519 AAAA...' in "
                f"{self.source} (README: Verifying a package)")


def pinned_key(path: Path) -> TrustAnchor:
    """Trust exactly the key in `path` (``--public-key``)."""
    data = _read(path, "--public-key")
    key = load_public_key(data, str(path))
    return TrustAnchor((TrustedKey("pinned key", key, f"--public-key {path}"),), f"--public-key {path}")


def load_trusted_keys(path: Path, *, required: bool) -> TrustAnchor:
    """The allowed-signers file at `path`; a missing file is an error only when the user named it (`required`)."""
    if not required and not path.exists():
        return TrustAnchor((), str(path), missing=True)
    decoded = utf8_text(_read(path, "trusted keys"), path, "trusted keys", "an OpenSSH allowed-signers file")
    keys: list[TrustedKey] = []
    for number, raw in enumerate(decoded.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        entry = _parse_line(line, f"{path}:{number}")
        if entry is not None:
            keys.append(entry)
    return TrustAnchor(tuple(keys), str(path))


def _read(path: Path, what: str) -> bytes:
    return read_small(path, what, "a key file", _MAX_FILE_BYTES)


def _parse_line(line: str, where: str) -> TrustedKey | None:
    try:
        entry = AllowedSigner.parse(line)
    except (ValueError, IndexError) as exc:
        raise ReportError(f"{where}: not an allowed-signers line ({exc})".replace("\n", " ")) from None
    options = entry.options or {}
    if entry.key_type != "ssh-ed25519" or "cert-authority" in options:
        return None
    namespaces = options.get("namespaces")
    if namespaces is not None and not _namespace_allowed(namespaces):
        return None
    try:
        key = serialization.load_ssh_public_key(f"{entry.key_type} {entry.base64_key}".encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ReportError(f"{where}: the ssh-ed25519 key is not valid base64 of an ed25519 public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReportError(f"{where}: not an ed25519 key")
    return TrustedKey(entry.principals, key, where, _time(options.get("valid-after"), where),
                      _time(options.get("valid-before"), where))


def _namespace_allowed(patterns: str) -> bool:
    """ssh-keygen matches namespaces as a comma-separated pattern list (``*`` and ``?`` wildcards, ``!`` negates)."""
    from fnmatch import fnmatchcase

    allowed = False
    for pattern in (p.strip() for p in patterns.split(",")):
        negated = pattern.startswith("!")
        if fnmatchcase(NAMESPACE, pattern.lstrip("!").replace("[", "[[]")):
            if negated:
                return False
            allowed = True
    return allowed


def _time(value: str | None, where: str) -> dt.datetime | None:
    """ssh-keygen's absolute times: YYYYMMDD[HHMM[SS]], local time unless a trailing Z says UTC."""
    if value is None:
        return None
    text, utc = (value[:-1], True) if value.upper().endswith("Z") else (value, False)
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    try:
        moment = dt.datetime.strptime(text, formats[len(text)])
    except (KeyError, ValueError):
        raise ReportError(f"{where}: {value!r} is not a time YYYYMMDD[HHMM[SS]][Z]") from None
    return moment.replace(tzinfo=dt.UTC) if utc else moment.astimezone(dt.UTC)


def trust_anchor(public_key: Path | None, trusted_keys: Path | None, environ: Mapping[str, str] | None = None
                 ) -> TrustAnchor:
    """The verifier's choice: the pinned key, else the named trusted-keys file, else the default one."""
    if public_key is not None:
        return pinned_key(public_key)
    env = os.environ if environ is None else environ
    if trusted_keys is not None:
        return load_trusted_keys(trusted_keys, required=True)
    return load_trusted_keys(default_trusted_keys(env), required=bool(env.get(ENV_VAR, "").strip()))
