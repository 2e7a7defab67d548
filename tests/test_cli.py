"""The `paycert` command reads well and never shows a traceback for user errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.cli import main


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_help_lists_every_command() -> None:
    out = run("--help").stdout
    for command in ("catalog", "simulate", "certify", "report", "verify", "diff"):
        assert command in out


def test_catalog_shows_the_documented_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog"]) == 0
    out = capsys.readouterr().out
    for kind, count in (("card", 27), ("email", 6), ("token", 1), ("state", 11), ("error", 28), ("decline", 7),
                        ("status", 13)):
        assert any(kind in line and f" {count} " in line for line in out.splitlines()), (kind, count, out)


def test_a_bad_setting_is_one_line_without_traceback() -> None:
    import os

    env = {**os.environ, "BETTERCHARGE_BASE_URL": "ftp://nowhere"}
    result = run("simulate", "--port", "0", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("paycert: BETTERCHARGE_BASE_URL")
    assert "Traceback" not in result.stderr
