"""The `paycert` command reads well and never shows a traceback for user errors."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
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
    env = {**os.environ, "BETTERCHARGE_BASE_URL": "ftp://nowhere"}
    result = run("simulate", "--port", "0", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("paycert: BETTERCHARGE_BASE_URL")
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- every bad invocation: one line, exit 2

_BAD_UTF8 = b"BETTERCHARGE_API_KEY=\xff\xfe\n"
_WAIVER = "waivers:\n  - requirement: {req}\n    owner: qa@example.com\n    reason: r\n    expiry: {expiry}\n"

#: (argv, extra environment, what the one line must name). {tmp}: a scratch directory holding the files made by
#: `_scratch`; {busy}: a port another socket listens on. Every case must fail before any long work starts.
BAD_INVOCATIONS: dict[str, tuple[str, dict[str, str], str]] = {
    "no-command": ("", {}, "no command given"),
    "unknown-command": ("bogus", {}, "invalid choice: 'bogus'"),
    "unknown-global-flag": ("--nope", {}, "unrecognized arguments: --nope"),
    "catalog-extra-argument": ("catalog extra", {}, "unrecognized arguments: extra"),
    "catalog-unknown-flag": ("catalog --json", {}, "unrecognized arguments: --json"),
    "simulate-port-too-big": ("simulate --port 99999", {}, "99999 is not a TCP port"),
    "simulate-port-negative": ("simulate --port -1", {}, "-1 is not a TCP port"),
    "simulate-port-not-a-number": ("simulate --port abc", {}, "not a port number: 'abc'"),
    "simulate-port-in-use": ("simulate --port {busy}", {}, "is already in use"),
    "simulate-host-bad-ipv4": ("simulate --host 999.1.1.1 --port 0", {}, "'999.1.1.1' is neither"),
    "simulate-host-garbage": ("simulate --host not_a_host! --port 0", {}, "'not_a_host!' is neither"),
    "simulate-host-empty": ("simulate --host= --port 0", {}, "'' is neither"),
    "simulate-host-ipv6-loopback": ("simulate --host ::1 --port 0", {}, "IPv4 only"),
    "simulate-host-not-local": ("simulate --host 192.0.2.1 --port 0", {}, "not an address of this machine"),
    "simulate-data-dir-under-proc": ("simulate --data-dir /proc/paycert-test --port 0", {}, "--data-dir /proc"),
    "simulate-data-dir-proc": ("simulate --data-dir /proc --port 0", {}, "--data-dir /proc: cannot write"),
    "simulate-data-dir-is-a-file": ("simulate --data-dir {tmp}/afile --port 0", {}, "is a file, not a directory"),
    "simulate-data-dir-under-a-file": ("simulate --data-dir {tmp}/afile/sub --port 0", {}, "afile is a file"),
    "simulate-corrupt-store": ("simulate --data-dir {tmp}/corrupt --port 0", {}, "store cannot be used"),
    "simulate-store-is-a-directory": ("simulate --data-dir {tmp}/storedir --port 0", {}, "--data-dir"),
    "simulate-env-file-missing": ("simulate --env-file {tmp}/nope.env --port 0", {}, "--env-file"),
    "simulate-env-file-not-utf8": ("simulate --env-file {tmp}/bad.env --port 0", {}, "utf-8"),
    "simulate-env-file-directory": ("simulate --env-file {tmp} --port 0", {}, "--env-file"),
    "simulate-bad-setting": ("simulate --port 0", {"BETTERCHARGE_BASE_URL": "ftp://nowhere"},
                             "BETTERCHARGE_BASE_URL"),
    "simulate-extra-argument": ("simulate now --port 0", {}, "unrecognized arguments: now"),
    "simulate-flag-with-value": ("simulate --strict=yes --port 0", {}, "--strict"),
    "certify-unknown-api": ("certify --api nope", {}, "invalid choice: 'nope'"),
    "certify-unknown-target": ("certify --target prod", {}, "invalid choice: 'prod'"),
    "certify-negative-workers": ("certify --workers -1", {}, "must be 0 or more"),
    "certify-workers-not-a-number": ("certify --workers many", {}, "not a whole number: 'many'"),
    "certify-waivers-missing": ("certify --waivers {tmp}/nope.yaml", {}, "no such file"),
    "certify-waivers-bad-date": ("certify --waivers {tmp}/bad_date.yaml", {}, "expiry"),
    "certify-waivers-binary": ("certify --waivers {tmp}/binary.bin", {}, "not utf-8"),
    "certify-waivers-directory": ("certify --waivers {tmp}", {}, "is a directory"),
    "certify-waivers-unknown-requirement": ("certify --waivers {tmp}/unknown.yaml", {}, "not in the catalog"),
    "certify-waivers-not-yaml": ("certify --waivers {tmp}/notyaml.yaml", {}, "not valid yaml"),
    "certify-waivers-wrong-shape": ("certify --waivers {tmp}/scalar.yaml", {}, "expected a list of waivers"),
    "certify-env-file-not-utf8": ("certify --env-file {tmp}/bad.env", {}, "utf-8"),
    "certify-env-file-missing": ("certify --env-file {tmp}/nope.env", {}, "--env-file"),
    "certify-out-is-a-file": ("certify --out {tmp}/afile", {}, "--out"),
    "certify-out-under-proc": ("certify --out /proc/paycert-out", {}, "--out"),
    "certify-suites-missing": ("certify --suites {tmp}/nope", {}, "suites directory not found"),
    "certify-bad-target-variable": ("certify", {"PAYCERT_TARGET": "bogus"}, "PAYCERT_TARGET"),
    "certify-bad-signing-key": ("certify --out {tmp}/out", {"PAYCERT_SIGNING_KEY": "not base64!"},
                                "PAYCERT_SIGNING_KEY"),
    "certify-sandbox-without-credentials": ("certify --target sandbox", {}, "required when"),
    "mutate-unknown-api": ("mutate --api nope", {}, "invalid choice: 'nope'"),
    "mutate-unknown-defect": ("mutate --defect nope", {}, "unknown defects: nope"),
    "mutate-zero-workers": ("mutate --workers 0", {}, "must be 1 or more"),
    "mutate-suites-missing": ("mutate --suites {tmp}/nope", {}, "suite in"),
    "report-missing-argument": ("report", {}, "the following arguments are required: RUN"),
    "report-unknown-run": ("report nope --out {tmp}", {}, "no report found for nope"),
    "report-not-json": ("report {tmp}/notjson.json", {}, "not a readable JSON report"),
    "report-binary": ("report {tmp}/binary.bin", {}, "binary.bin"),
    "report-json-not-a-report": ("report {tmp}/other.json", {}, "not a paycert report"),
    "report-empty-directory": ("report {tmp}/emptydir", {}, "no report found"),
    "report-latest-nowhere": ("report latest --out {tmp}/nowhere", {}, "no report found for latest"),
    "verify-missing-argument": ("verify", {}, "the following arguments are required: PACKAGE"),
    "verify-no-such-package": ("verify {tmp}/nope.zip", {}, "no such file"),
    "verify-package-is-a-directory": ("verify {tmp}", {}, "is a directory"),
    "verify-public-key-missing": ("verify {tmp}/afile --public-key {tmp}/nope.pub", {}, "--public-key: no such"),
    "verify-public-key-garbage": ("verify {tmp}/afile --public-key {tmp}/binary.bin", {}, "neither an OpenSSH"),
    "verify-trusted-keys-missing": ("verify {tmp}/afile --trusted-keys {tmp}/nope", {}, "no such file"),
    "verify-trusted-keys-binary": ("verify {tmp}/afile --trusted-keys {tmp}/binary.bin", {}, "not utf-8"),
    "verify-trusted-keys-bad-line": ("verify {tmp}/afile --trusted-keys {tmp}/badline", {}, "badline:1:"),
    "verify-trusted-keys-variable": ("verify {tmp}/afile", {"PAYCERT_TRUSTED_KEYS": "{tmp}/nope"}, "no such file"),
    "verify-two-trust-anchors": ("verify {tmp}/afile --public-key {tmp}/afile --trusted-keys {tmp}/afile", {},
                                 "not allowed with argument"),
    "verify-device-as-package": ("verify /dev/zero", {}, "is not a regular file"),
    "verify-device-as-key": ("verify {tmp}/afile --public-key /dev/zero", {}, "larger than"),
    "verify-undecodable-file-name": ("verify {tmp}/\udcff\udcfe.zip", {}, "no such file"),
    "unknown-undecodable-command": ("\udcff", {}, "invalid choice"),
    "verify-unknown-flag": ("verify {tmp}/afile --pubkey x", {}, "unrecognized arguments: --pubkey"),
    "diff-missing-argument": ("diff", {}, "required"),
    "diff-unknown-runs": ("diff nope1 nope2 --out {tmp}", {}, "no report found for nope1"),
    "diff-not-json": ("diff {tmp}/notjson.json {tmp}/notjson.json", {}, "not a readable JSON report"),
}


def _scratch(tmp: Path) -> None:
    (tmp / "afile").write_text("x")
    (tmp / "corrupt").mkdir()
    (tmp / "corrupt" / "simulator.sqlite3").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    (tmp / "storedir" / "simulator.sqlite3").mkdir(parents=True)
    (tmp / "bad.env").write_bytes(_BAD_UTF8)
    (tmp / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp / "bad_date.yaml").write_text(_WAIVER.format(req="BC-CARD-01", expiry="2025-13-45"))
    (tmp / "unknown.yaml").write_text(_WAIVER.format(req="BC-NOPE-99", expiry="2030-01-01"))
    (tmp / "notyaml.yaml").write_text("waivers: [1, 2\n")
    (tmp / "scalar.yaml").write_text("42\n")
    (tmp / "notjson.json").write_text("{not json")
    (tmp / "other.json").write_text('{"format": "something-else"}')
    (tmp / "emptydir").mkdir()
    (tmp / "badline").write_text("acme ssh-ed25519\n")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No setting from the machine running the tests, no .env in the working directory."""
    for name in list(os.environ):
        if name.startswith(("PAYCERT_", "BETTERPAYMENT_", "BETTERCHARGE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _scratch(tmp_path)
    return tmp_path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", BAD_INVOCATIONS)
def test_bad_invocation_is_one_line_and_exit_2(case: str, clean_env: Path, busy_port: int,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    argv, env, names = BAD_INVOCATIONS[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=clean_env))
    args = [a.format(tmp=clean_env, busy=busy_port) for a in shlex.split(argv)]
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert lines[0].startswith("paycert: ") and names.lower() in lines[0].lower(), lines[0]
    assert "unexpected error" not in lines[0] or case.endswith("not-utf8"), lines[0]


def test_bad_invocations_in_a_real_process(tmp_path: Path, busy_port: int) -> None:
    """The same promise end to end (interpreter start-up, imports, exit status): a few cases as subprocesses."""
    _scratch(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYCERT_", "BETTERPAYMENT_", "BETTERCHARGE_"))}
    for argv in ("", f"simulate --port {busy_port}", "simulate --port 99999",
                 f"certify --waivers {tmp_path}/binary.bin", f"verify {tmp_path}/nope.zip"):
        result = subprocess.run([sys.executable, "-m", "harness.cli", *shlex.split(argv)], capture_output=True,
                                text=True, timeout=120, env=env, cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (argv, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_defect_is_one_line_pointing_at_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The last resort: a bug in paycert still ends in one line and exit 2, the traceback kept in a file."""
    import harness.cli as cli

    def broken(args: object) -> int:
        raise TypeError("deliberate defect")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cli, "_cmd_catalog", broken)
    assert cli.main(["catalog"]) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and "unexpected error (TypeError: deliberate defect)" in line
    crash = next(tmp_path.glob("paycert-crash-*.txt"))
    assert "Traceback" in crash.read_text() and str(crash) in line


# ---------------------------------------------------------------- the simulate banner

def test_simulate_banner_never_shows_a_credential(tmp_path: Path) -> None:
    secrets = {"BETTERCHARGE_API_KEY": "bc-key-4f9a2c7e1d", "BETTERPAYMENT_API_KEY": "bp-key-8e1b3a5c",
               "BETTERPAYMENT_API_PASSWORD": "pw-3c9d7e2f1a"}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PAYCERT_", "BETTER"))}, **secrets}
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "simulate", "--port", "0"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line)
            if "Ctrl-C stops it" in line:
                break
        url = banner[0].split(" on ", 1)[1].split()[0]
        deadline = time.monotonic() + 30
        while True:  # the simulator answers on the URL the banner names
            try:
                assert httpx.get(f"{url}/_simulator/clock", timeout=5).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"nothing answers on {url}"
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = "".join(banner)
    assert "x-api-key: <hidden, 17 characters>" in text and "Ctrl-C stops it" in text, text
    assert "127.0.0.1:0" not in text  # --port 0: the banner names the port actually picked
    for secret in secrets.values():
        assert secret not in text
        assert not any(secret[i:i + 6] in text for i in range(len(secret) - 5)), secret
