"""Settings come from .env and the environment; every mistake is one line naming the variable."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from harness.catalog import bettercharge, betterpayment
from harness.config import (
    SETTINGS_FILE_ENV,
    VARIABLES,
    ConfigError,
    check_url,
    current_settings,
    load_settings,
    read_settings_file,
    remove_settings_file,
    use_settings,
    write_settings_file,
)


def test_defaults_target_the_simulator_with_catalog_credentials() -> None:
    s = load_settings(environ={})
    assert s.target == "simulator"
    assert s.bettercharge.api_key == bettercharge().simulator.api_key
    assert s.betterpayment.api_key == betterpayment().simulator.api_key


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("PAYCERT_TARGET=sandbox\nBETTERCHARGE_API_KEY=from-file\nBETTERCHARGE_PARTNER_ID=p1\n")
    s = load_settings(env, apis=("bettercharge",), environ={"BETTERCHARGE_API_KEY": "from-env"})
    assert s.target == "sandbox"
    assert s.bettercharge.api_key == "from-env"
    assert s.bettercharge.base_url == bettercharge().hosts.sandbox


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PAYCERT_TARGET": "prod"}, "PAYCERT_TARGET"),
        ({"PAYCERT_TARGET": "sandbox"}, "BETTERPAYMENT_API_KEY"),
        ({"PAYCERT_TARGET": "sandbox", "BETTERPAYMENT_API_KEY": "k", "BETTERPAYMENT_API_PASSWORD": "p",
          "BETTERPAYMENT_INCOMING_KEY": "i", "BETTERPAYMENT_WEBHOOK_KEY": "w"}, "BETTERCHARGE_API_KEY"),
        ({"BETTERCHARGE_BASE_URL": "ftp://x"}, "BETTERCHARGE_BASE_URL"),
        ({"PAYCERT_SIMULATOR_URL": "not a url"}, "PAYCERT_SIMULATOR_URL"),
    ],
)
def test_a_bad_setting_is_named(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(environ=environ)
    assert str(exc.value).startswith(named)
    assert "\n" not in str(exc.value)


def test_production_hosts_are_refused_unless_allowed() -> None:
    environ = {"BETTERCHARGE_BASE_URL": bettercharge().hosts.production}
    with pytest.raises(ConfigError, match="production host"):
        load_settings(environ=environ)
    allowed = load_settings(environ=environ, allow_production=True)
    assert allowed.bettercharge.base_url == bettercharge().hosts.production


def test_missing_env_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--env-file"):
        load_settings(tmp_path / "nope.env", environ={})


def test_secrets_cover_every_credential() -> None:
    s = load_settings(environ={"BETTERPAYMENT_API_PASSWORD": "pw-123456", "BETTERCHARGE_API_KEY": "key-123456"})
    assert {"pw-123456", "key-123456"} <= set(s.secrets)


def test_a_dot_env_in_the_working_directory_is_read_and_the_environment_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented default (README "Configuration"): ./.env, when no --env-file is given."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("BETTERCHARGE_API_KEY=from-dot-env\nBETTERCHARGE_PARTNER_ID=p-dot\n")
    s = load_settings(environ={"BETTERCHARGE_PARTNER_ID": "p-env"})
    assert (s.bettercharge.api_key, s.bettercharge.partner_id) == ("from-dot-env", "p-env")


def test_the_tests_do_not_run_in_the_checkout() -> None:
    """tests/conftest.py: no test sees the developer's own ./.env (that default is what the test above proves)."""
    assert not Path(".env").exists() and Path.cwd() != Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- scoped runs


BP_VARS = {"BETTERPAYMENT_API_KEY": "bp-k", "BETTERPAYMENT_API_PASSWORD": "bp-pass-1",
           "BETTERPAYMENT_INCOMING_KEY": "bp-in-1", "BETTERPAYMENT_WEBHOOK_KEY": "bp-wh-1"}
BC_VARS = {"BETTERCHARGE_API_KEY": "bc-key-1", "BETTERCHARGE_PARTNER_ID": "bc-partner"}


@pytest.mark.parametrize(("api", "own", "other"), [("bettercharge", BC_VARS, BP_VARS),
                                                   ("betterpayment", BP_VARS, BC_VARS)])
def test_a_scoped_sandbox_run_needs_only_its_apis_credentials(api: str, own: dict[str, str],
                                                              other: dict[str, str]) -> None:
    s = load_settings(target="sandbox", apis=(api,), environ=own)
    assert s.apis == (api,)
    secret_names = {"BETTERCHARGE_API_KEY", "BETTERPAYMENT_API_PASSWORD", "BETTERPAYMENT_INCOMING_KEY",
                    "BETTERPAYMENT_WEBHOOK_KEY"}
    assert set(s.secrets) == {v for k, v in own.items() if k in secret_names}
    with pytest.raises(ConfigError, match="not in this run's scope"):
        s.api(next(a for a in ("bettercharge", "betterpayment") if a != api))
    for name in own:  # and each of its own credentials is required
        with pytest.raises(ConfigError) as exc:
            load_settings(target="sandbox", apis=(api,), environ={**other, **{k: v for k, v in own.items()
                                                                            if k != name}})
        assert str(exc.value) == f"{name}: required when PAYCERT_TARGET=sandbox"


# ---------------------------------------------------------------- URL policy


@pytest.mark.parametrize("url", [
    "https://api.bettercharge.ai", "https://API.BetterCharge.AI", "https://api.bettercharge.ai.",
    "https://api.bettercharge.ai:443/", "https://api.bettercharge.ai:8443", "https://ａｐｉ.bettercharge.ai",
    "HTTPS://api.bettercharge.ai./v1", "https://api.betterpayment.de.", "https://Api.BetterPayment.DE:443",
])
def test_every_spelling_of_a_production_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="production host; pass --allow-production") as exc:
        check_url("BETTERCHARGE_BASE_URL", url)
    assert str(exc.value).startswith("BETTERCHARGE_BASE_URL: ")
    assert check_url("BETTERCHARGE_BASE_URL", url, allow_production=True).startswith("https://api.better")


@pytest.mark.parametrize(("url", "problem"), [
    ("http://sandbox-api.bettercharge.ai", "would send credentials in clear"),
    ("http://10.0.0.5:8080", "would send credentials in clear"),
    ("http://example.test", "would send credentials in clear"),
    ("https://user:pw@sandbox-api.bettercharge.ai", "user name or password"),
    ("https://user@api.bettercharge.ai", "user name or password"),
    ("https://sandbox-api.bettercharge.ai?x=1", "no query or fragment"),
    ("https://sandbox-api.bettercharge.ai:99999", "Port out of range"),
    ("https://api%2ebettercharge%2eai", "not a host name"),
    ("https://", "not an http(s) URL"),
    ("ftp://sandbox-api.bettercharge.ai", "not an http(s) URL"),
])
def test_url_policy_refusals_are_one_line(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as exc:
        check_url("BETTERCHARGE_BASE_URL", url)
    assert "\n" not in str(exc.value) and str(exc.value).startswith("BETTERCHARGE_BASE_URL: ")
    assert "pw" not in str(exc.value).split("BETTERCHARGE_BASE_URL")[1] or "user name" in str(exc.value)


@pytest.mark.parametrize(("url", "normalized"), [
    ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
    ("http://LOCALHOST.:9000", "http://localhost:9000"),
    ("http://[::1]:9000", "http://[::1]:9000"),
    ("https://Sandbox-API.BetterCharge.AI.:443/", "https://sandbox-api.bettercharge.ai"),
    ("https://bücher.example/api/", "https://xn--bcher-kva.example/api"),
])
def test_loopback_http_and_https_are_normalized(url: str, normalized: str) -> None:
    assert check_url("X", url) == normalized


def test_the_policy_applies_to_every_url_setting() -> None:
    for name in ("BETTERCHARGE_BASE_URL", "BETTERPAYMENT_BASE_URL", "PAYCERT_SIMULATOR_URL", "PAYCERT_POSTBACK_URL"):
        with pytest.raises(ConfigError, match=f"^{name}: .*production host"):
            load_settings(environ={name: "https://api.bettercharge.ai."})
        with pytest.raises(ConfigError, match=f"^{name}: .*in clear"):
            load_settings(environ={name: "http://sandbox.example.test"})


# ---------------------------------------------------------------- .env strictness


@pytest.mark.parametrize(("content", "line", "problem"), [
    (b"PAYCERT_TARGET=sandbox\nPAYCERT_TARGET sandbox\n", 2, "cannot parse this line"),
    (b"# comment\n\nPAYCERT_TARGET='sandbox\n", 3, "cannot parse this line"),
    (b"BETTERCHARGE_API_KEY\n", 1, "BETTERCHARGE_API_KEY has no '='"),
    (b"PAYCERT_TARGT=sandbox\n", 1, "unknown variable PAYCERT_TARGT; did you mean PAYCERT_TARGET?"),
    (b"PAYCERT_TARGET=sandbox\nBETTERCHARGE_API_KEY=k\xe9y\n", 2, "not UTF-8 text (byte 0xe9)"),
])
def test_an_unparseable_env_line_is_an_error_naming_file_and_line(tmp_path: Path, content: bytes, line: int,
                                                                   problem: str) -> None:
    env = tmp_path / ".env"
    env.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_settings(env, environ={})
    assert str(exc.value).startswith(f"{env}:{line}: ") and problem in str(exc.value)
    assert "k\xe9y" not in str(exc.value) and "\n" not in str(exc.value)


def test_the_default_env_file_is_as_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case python-dotenv only warns about: a malformed PAYCERT_TARGET line must not fall back to the simulator."""
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text("PAYCERT_TARGET = 'sandbox\n")
    with pytest.raises(ConfigError, match=r"^\.env:1: cannot parse"):
        load_settings(environ={})


def test_env_file_and_environment_mean_the_same(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("\ufeffPAYCERT_POSTBACK_URL=https://hooks.example.test/pb\nPAYCERT_POSTBACK_PORT=8099\n"
                   "BETTERCHARGE_MERCHANT_ID=m-1\nPAYCERT_CONTRACT_STATS=/tmp/x.json\n"
                   "PAYCERT_SIMULATOR_CONTROL_TOKEN=ctl-token-77\n")
    from_file = load_settings(env, environ={})
    from_env = load_settings(environ={"PAYCERT_POSTBACK_URL": "https://hooks.example.test/pb",
                                      "PAYCERT_POSTBACK_PORT": "8099", "BETTERCHARGE_MERCHANT_ID": "m-1",
                                      "PAYCERT_CONTRACT_STATS": "/tmp/x.json",
                                      "PAYCERT_SIMULATOR_CONTROL_TOKEN": "ctl-token-77"})
    assert from_file == from_env
    assert (from_file.postback_url, from_file.postback_port, from_file.bettercharge.merchant_id,
            from_file.simulator_control_token) == ("https://hooks.example.test/pb", 8099, "m-1", "ctl-token-77")
    # the control token is a secret like the credentials: the leak audit looks for it
    assert "ctl-token-77" in from_file.secrets
    handed = write_settings_file(from_file)
    try:
        assert read_settings_file(handed).simulator_control_token == "ctl-token-77"
    finally:
        remove_settings_file(handed)


# ---------------------------------------------------------------- one settings object, handed over in a file


def test_settings_file_round_trips_at_mode_0600_and_is_what_every_process_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(target="sandbox", apis=("bettercharge",),
                      environ={**BC_VARS, "PAYCERT_SIGNING_KEY": "sign-secret", "PAYCERT_OPERATOR": "qa"})
    path = write_settings_file(s)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        again = read_settings_file(path)
        assert "sign-secret" not in path.read_text()  # the child signs nothing
        assert again.bettercharge == s.bettercharge and again.apis == ("bettercharge",)
        assert again.variables["PAYCERT_OPERATOR"] == "qa"
        monkeypatch.setenv(SETTINGS_FILE_ENV, str(path))
        monkeypatch.setenv("BETTERCHARGE_API_KEY", "changed-in-the-environment")
        use_settings(None)
        try:
            assert current_settings().bettercharge.api_key == "bc-key-1"  # read once: the file, not the env
        finally:
            use_settings(None)
    finally:
        remove_settings_file(path)
    assert not path.parent.exists()


def test_a_broken_settings_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match=f"^{SETTINGS_FILE_ENV}: not a"):
        read_settings_file(bad)


# ---------------------------------------------------------------- every variable read is documented

_NAME = re.compile(r"""["'](?P<name>(?:PAYCERT|BETTERCHARGE|BETTERPAYMENT)_[A-Z0-9_]+)["']""")


def test_every_variable_the_code_reads_is_declared_and_documented() -> None:
    root = Path(__file__).resolve().parents[1]
    named: set[str] = set()
    for folder in ("harness", "suites"):
        for source in (root / folder).rglob("*.py"):
            named |= {m["name"] for m in _NAME.finditer(source.read_text(encoding="utf-8"))}
    named -= {"PAYCERT_FAKE_SUITE"}  # a variable of the project's own fake suite (tests/), not of paycert
    assert named - set(VARIABLES) == set(), "read somewhere but not declared in harness.config.VARIABLES"
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / ".env.example").read_text(encoding="utf-8")
    assert [v for v in VARIABLES if v not in readme] == []
    assert [v for v in VARIABLES if v != SETTINGS_FILE_ENV and v not in example] == []
