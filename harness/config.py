"""Run settings: read once, validated once, handed to every consumer of a run.

Where they come from: the real environment overlaid on an optional ``.env`` file (python-dotenv's syntax,
parsed strictly: a line it cannot parse, or a file that is not UTF-8, is an error naming file and line). Every
variable any code of paycert reads is listed in `VARIABLES` (and in README.md and .env.example; a test holds
the three and the code together).

Who reads them: ``paycert certify`` builds one `Settings` for exactly the APIs in scope and writes it to one
file (mode 0600, in a private temporary directory outside the run directory, deleted after the run). The child
pytest and its xdist workers find the file through ``PAYCERT_SETTINGS_FILE`` and never read the environment or
``.env`` again, so the plugin, the report plugin, the suites and the contract suite all see the same values.
`current_settings()` is that one accessor; a plain ``pytest suites/...`` run loads the settings lazily once
per process from the pytest options the paycert plugin registered.

URL policy (one function, `check_url`, for every URL setting): the host is normalized (case, trailing dot,
IDNA/UTS-46 mapping, port) before the production guard; URLs with user info, a query or a fragment are refused;
a non-loopback URL must be https, so no API password or key crosses a network in clear.

Every problem is one ConfigError line naming the variable, so a CI log says what to fix.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import ipaddress
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import idna
from dotenv import dotenv_values
from dotenv.parser import parse_stream

from harness.errors import ConfigError
from harness.paths import APIS

Target = Literal["simulator", "sandbox"]
TARGETS: tuple[Target, ...] = ("simulator", "sandbox")
PREFIXES: Final = ("PAYCERT_", "BETTERPAYMENT_", "BETTERCHARGE_")
SETTINGS_FILE_ENV: Final = "PAYCERT_SETTINGS_FILE"
_FORMAT: Final = "paycert-settings/1"

#: Every variable paycert reads, with what it means. README.md and .env.example list the same names.
VARIABLES: Final[dict[str, str]] = {
    "PAYCERT_TARGET": "simulator (default) or sandbox",
    "PAYCERT_SIMULATOR_URL": "use a simulator already running there instead of starting one per run",
    "BETTERPAYMENT_BASE_URL": "Better Payment API base URL (sandbox default: the documented test host)",
    "BETTERPAYMENT_API_KEY": "Better Payment API key (Basic auth user)",
    "BETTERPAYMENT_API_PASSWORD": "Better Payment API password (Basic auth password)",
    "BETTERPAYMENT_INCOMING_KEY": "Better Payment incoming key (request and postback checksums)",
    "BETTERPAYMENT_WEBHOOK_KEY": "Better Payment webhook key (postback signatures)",
    "BETTERCHARGE_BASE_URL": "BetterCharge API base URL (sandbox default: the documented sandbox host)",
    "BETTERCHARGE_API_KEY": "BetterCharge x-api-key",
    "BETTERCHARGE_PARTNER_ID": "BetterCharge x-partner-id",
    "BETTERCHARGE_MERCHANT_ID": "BetterCharge merchant the contract suite's generated requests use",
    "PAYCERT_POSTBACK_URL": "public https URL forwarding Better Payment postbacks to the suites' receiver",
    "PAYCERT_POSTBACK_PORT": "local port of the suites' postback receiver (default: a free port)",
    "PAYCERT_CA_BUNDLE": "PEM file of the CA certificates to trust for https targets (replaces the default store)",
    "PAYCERT_BUDGET_DIR": "directory of the shared per-API-key request budget files",
    "PAYCERT_OPERATOR": "who certified (report metadata)",
    "PAYCERT_SIGNING_KEY": "package signing key (ed25519 PEM or base64 raw)",
    "PAYCERT_TRUSTED_KEYS": "paycert verify: the allowed-signers file of the keys you trust",
    "PAYCERT_SUITES_DIR": "run these suites instead of the shipped ones",
    "PAYCERT_CONTRACT_MAX_EXAMPLES": "contract suite: generated cases per operation and phase",
    "PAYCERT_CONTRACT_SEED": "contract suite: the generation seed",
    "PAYCERT_CONTRACT_COVERAGE": "contract suite: run the coverage phase against a sandbox too (1/true/yes)",
    "PAYCERT_CONTRACT_STATS": "contract suite: write the case counts as JSON to this file",
    "PAYCERT_CACHE_DIR": "contract suite: where generated cases are cached (default ~/.cache/paycert)",
    "PAYCERT_SIMULATOR_DEFECTS": "project tests only: allow (1) or switch on (a name) deliberate simulator defects",
    "PAYCERT_SIMULATOR_BP_ERROR_TRANSPORT": "simulator: how Better Payment errors travel at start (catalog "
                                            "error_transport.modes; default in_band)",
    "PAYCERT_SIMULATOR_CONTROL_TOKEN": "the control token of a shared simulator (sent on every /_simulator call)",
    "PAYCERT_FIXTURES": "another API version's fixtures directory (what certify --fixtures DIR sets)",
    "PAYCERT_MUTATION_FIRST": "project tests only: suite tests whose node id contains this run first in defect runs",
    SETTINGS_FILE_ENV: "set by paycert certify for its child pytest: the run's settings file (never set it)",
}
#: Not handed to the child pytest: it signs nothing.
_PARENT_ONLY: Final = frozenset({"PAYCERT_SIGNING_KEY", SETTINGS_FILE_ENV})



@dataclass(frozen=True)
class BetterPaymentSettings:
    base_url: str
    api_key: str
    api_password: str
    incoming_key: str
    webhook_key: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_password, self.incoming_key, self.webhook_key)


@dataclass(frozen=True)
class BetterChargeSettings:
    base_url: str
    api_key: str
    partner_id: str
    merchant_id: str | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,)


@dataclass(frozen=True)
class Settings:
    target: Target
    simulator_url: str | None
    betterpayment: BetterPaymentSettings
    bettercharge: BetterChargeSettings
    #: the APIs this run is for; on a sandbox only their credentials are required (others are left empty)
    apis: tuple[str, ...] = APIS
    postback_url: str | None = None
    postback_port: int = 0
    ca_bundle: str | None = None
    budget_dir: str | None = None
    allow_production: bool = False
    #: the control token of a shared simulator (`paycert simulate --control-token`), sent on every control call
    simulator_control_token: str | None = None
    #: the effective PAYCERT_/BETTER* variables (.env overlaid by the environment), for consumers that own
    #: the validation of their variables (the contract suite's run options, the report's operator and key)
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an artefact (the leak audit looks for them)."""
        token = (self.simulator_control_token,) if self.simulator_control_token else ()
        return tuple(s for s in (*self.betterpayment.secrets, *self.bettercharge.secrets, *token) if len(s) >= 4)

    def api(self, name: str) -> BetterPaymentSettings | BetterChargeSettings:
        if name not in self.apis:
            raise ConfigError(f"{name}: not in this run's scope (--api {','.join(self.apis)})")
        settings: BetterPaymentSettings | BetterChargeSettings = getattr(self, name)
        return settings

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["variables"] = {k: v for k, v in self.variables.items() if k not in _PARENT_ONLY}
        data["apis"] = list(self.apis)
        return {"format": _FORMAT, "settings": data}

    @classmethod
    def from_json(cls, document: Any) -> Settings:
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ConfigError(f"{SETTINGS_FILE_ENV}: not a {_FORMAT} document")
        try:
            data = dict(document["settings"])
            data["betterpayment"] = BetterPaymentSettings(**data["betterpayment"])
            data["bettercharge"] = BetterChargeSettings(**data["bettercharge"])
            data["apis"] = tuple(data["apis"])
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{SETTINGS_FILE_ENV}: malformed settings ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------- URL policy


def _production_hosts() -> set[str]:
    from harness.catalog import bettercharge, betterpayment

    return {normalize_host(urlsplit(bettercharge().hosts.production).hostname or ""),
            normalize_host(urlsplit(betterpayment().hosts.production).hostname or "")}


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot, IDNA (UTS-46) A-labels: the form two spellings of one host share.

    Raises ValueError for a host no resolver would accept (empty labels, percent escapes, bad IDNA).
    """
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:  # an IPv6 literal
        return str(ipaddress.IPv6Address(host.split("%")[0]))
    host = host.removesuffix(".")
    if not host or "%" in host or any(ch.isspace() for ch in host):
        raise ValueError("not a host name")
    try:
        return idna.encode(host, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        if host.isascii() and all(label and len(label) <= 63 for label in host.split(".")):
            return host.lower()  # e.g. underscores, which IDNA refuses but resolvers and httpx accept
        raise ValueError("not a valid host name") from None


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(name: str, value: str, *, allow_production: bool = False) -> str:
    """The URL, normalized, if the policy allows it; else ConfigError naming `name`."""
    value = value.strip()
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: not an http(s) URL: {value!r}")
    if "@" in parts.netloc:
        raise ConfigError(f"{name}: a URL must not carry a user name or password; set the credential variables")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigError(f"{name}: a base URL takes no query or fragment: {value!r}")
    try:
        port = parts.port
        host = normalize_host(parts.hostname or "")
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc} in {value!r}") from None
    if host in _production_hosts() and not allow_production:
        raise ConfigError(f"{name}: {host} is a production host; pass --allow-production to use it")
    if scheme == "http" and not is_loopback(host):
        raise ConfigError(f"{name}: http:// to {host} would send credentials in clear; use https:// "
                          "(plain http is for loopback only)")
    shown = f"[{host}]" if ":" in host else host
    default_port = {"http": 80, "https": 443}[scheme]
    netloc = shown if port in (None, default_port) else f"{shown}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


# ---------------------------------------------------------------- reading


def _read_env_file(path: Path) -> dict[str, str]:
    """python-dotenv's syntax, strictly: a line it cannot parse is an error (dotenv itself only warns)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
                          ) from None
    text = text.removeprefix("\ufeff")
    for binding in parse_stream(io.StringIO(text)):
        raw_text = binding.original.string  # dotenv counts a binding from the blank lines before it
        line = binding.original.line + raw_text[: len(raw_text) - len(raw_text.lstrip())].count("\n")
        if binding.error:  # the line's content is not shown: it may hold a secret
            raise ConfigError(f"{path}:{line}: cannot parse this line (expected NAME=value)")
        if binding.key is not None and binding.value is None and binding.key.startswith(PREFIXES):
            raise ConfigError(f"{path}:{line}: {binding.key} has no '=' (write {binding.key}=value)")
        if binding.key is not None and binding.key.startswith(PREFIXES) and binding.key not in VARIABLES:
            close = difflib.get_close_matches(binding.key, list(VARIABLES), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"{path}:{line}: unknown variable {binding.key}{hint}")
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def read_environment(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The effective variables: the .env file (if any) overlaid by the real environment."""
    env = os.environ if environ is None else environ
    if env_file is not None and not env_file.is_file():
        raise ConfigError(f"--env-file: no such file: {env_file}")
    path = env_file if env_file is not None else Path(".env")
    values = _read_env_file(path) if path.is_file() else {}
    values.update({k: v for k, v in env.items() if k.startswith(PREFIXES)})
    return values


def load_settings(
    env_file: Path | None = None,
    *,
    target: str | None = None,
    allow_production: bool = False,
    apis: tuple[str, ...] = APIS,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validated settings for a run against `target` (argument, else PAYCERT_TARGET, else simulator).

    Against the simulator every credential has a catalog default; against a sandbox the credentials of each
    API in `apis` are required, and those of the other API are neither required nor used.
    """
    unknown = [a for a in apis if a not in APIS]
    if unknown or not apis:
        raise ConfigError(f"--api: must be among {', '.join(APIS)}, got {', '.join(apis) or 'nothing'}")
    env = read_environment(env_file, environ)
    raw_target = (target or env.get("PAYCERT_TARGET") or "simulator").strip().lower()
    if raw_target not in TARGETS:
        raise ConfigError(f"PAYCERT_TARGET: must be one of {', '.join(TARGETS)}, got {raw_target!r}")
    chosen: Target = "sandbox" if raw_target == "sandbox" else "simulator"
    sandbox = chosen == "sandbox"

    def get(name: str, default: str | None) -> str:
        value = env.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(f"{name}: required when PAYCERT_TARGET={chosen}")
        return default

    def url(name: str, default: str) -> str:
        value = env.get(name, "").strip()
        return check_url(name, value or default, allow_production=allow_production) if value or sandbox else default

    from harness.catalog import bettercharge, betterpayment

    bp_cat, bc_cat = betterpayment(), bettercharge()
    bp_sim, bc_sim = bp_cat.simulator, bc_cat.simulator

    def credential(api: str, name: str, simulator_default: str) -> str:
        if not sandbox:
            return get(name, simulator_default)
        return get(name, None) if api in apis else env.get(name, "").strip()

    bp = BetterPaymentSettings(
        base_url=url("BETTERPAYMENT_BASE_URL", bp_cat.hosts.test if sandbox else "http://simulator"),
        api_key=credential("betterpayment", "BETTERPAYMENT_API_KEY", bp_sim.api_key),
        api_password=credential("betterpayment", "BETTERPAYMENT_API_PASSWORD", bp_sim.api_password),
        incoming_key=credential("betterpayment", "BETTERPAYMENT_INCOMING_KEY", bp_sim.incoming_key),
        webhook_key=credential("betterpayment", "BETTERPAYMENT_WEBHOOK_KEY", bp_sim.webhook_key),
    )
    bc = BetterChargeSettings(
        base_url=url("BETTERCHARGE_BASE_URL", bc_cat.hosts.sandbox if sandbox else "http://simulator"),
        api_key=credential("bettercharge", "BETTERCHARGE_API_KEY", bc_sim.api_key),
        partner_id=credential("bettercharge", "BETTERCHARGE_PARTNER_ID", bc_sim.partner_id),
        merchant_id=env.get("BETTERCHARGE_MERCHANT_ID", "").strip() or None,
    )
    sim_url = env.get("PAYCERT_SIMULATOR_URL", "").strip() or None
    postback = env.get("PAYCERT_POSTBACK_URL", "").strip() or None
    return Settings(
        target=chosen,
        simulator_url=check_url("PAYCERT_SIMULATOR_URL", sim_url) if sim_url else None,
        betterpayment=bp, bettercharge=bc, apis=tuple(a for a in APIS if a in apis),
        postback_url=check_url("PAYCERT_POSTBACK_URL", postback) if postback else None,
        postback_port=_port("PAYCERT_POSTBACK_PORT", env.get("PAYCERT_POSTBACK_PORT", "")),
        ca_bundle=_ca_bundle(env.get("PAYCERT_CA_BUNDLE", "")),
        budget_dir=env.get("PAYCERT_BUDGET_DIR", "").strip() or None,
        allow_production=allow_production,
        simulator_control_token=env.get("PAYCERT_SIMULATOR_CONTROL_TOKEN", "").strip() or None,
        variables={k: v for k, v in env.items() if k != SETTINGS_FILE_ENV},
    )


def _port(name: str, raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return 0
    if not raw.isascii() or not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(f"{name}: must be a port number 0-65535, got {raw!r}")
    return int(raw)


def _ca_bundle(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ConfigError(f"PAYCERT_CA_BUNDLE: cannot read {path}: {exc.strerror or exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"PAYCERT_CA_BUNDLE: {path} holds no PEM certificate")
    return str(path.resolve())


# ---------------------------------------------------------------- the run's one settings object


def write_settings_file(settings: Settings) -> Path:
    """The run's settings as one file only this user can read, in a fresh private directory."""
    directory = Path(tempfile.mkdtemp(prefix="paycert-settings-"))  # mode 0700
    path = directory / "settings.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(settings.to_json(), handle)
    return path


def remove_settings_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def read_settings_file(path: Path) -> Settings:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{SETTINGS_FILE_ENV}: cannot read {path}: {exc}") from None
    return Settings.from_json(document)


@dataclass
class _Loader:
    env_file: Path | None = None
    target: str | None = None
    allow_production: bool = False
    apis: tuple[str, ...] = APIS
    settings: Settings | None = None


_LOADER = _Loader()


def configure_loading(*, env_file: Path | None = None, target: str | None = None, allow_production: bool = False,
                      apis: tuple[str, ...] = APIS) -> None:
    """How `current_settings()` loads when no settings file was handed over (a plain pytest run)."""
    global _LOADER
    _LOADER = _Loader(env_file, target, allow_production, apis)


def use_settings(settings: Settings | None) -> None:
    """Make `settings` this process's current settings (None: load again on the next call)."""
    _LOADER.settings = settings


def current_settings() -> Settings:
    """This process's settings, loaded once: the file paycert certify handed over, else .env and environment.

    Raises ConfigError (one line) when they are invalid.
    """
    if _LOADER.settings is None:
        handed = os.environ.get(SETTINGS_FILE_ENV, "").strip()
        if handed:
            _LOADER.settings = read_settings_file(Path(handed))
        else:
            _LOADER.settings = load_settings(_LOADER.env_file, target=_LOADER.target,
                                             allow_production=_LOADER.allow_production, apis=_LOADER.apis)
    return _LOADER.settings

