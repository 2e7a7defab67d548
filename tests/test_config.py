"""Settings come from .env and the environment; every mistake is one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalog import bettercharge, betterpayment
from harness.config import ConfigError, load_settings


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
