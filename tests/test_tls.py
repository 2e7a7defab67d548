"""harness/tls.py: every httpx client paycert makes shares one SSL context per trust source, and that context
trusts exactly what httpx's own `verify=True` would (SSL_CERT_FILE, else SSL_CERT_DIR, else certifi)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
import trustme
from rehearsal import posing_sandbox

from harness import tls
from harness.clients.bettercharge import BetterChargeClient
from harness.evidence import RecordingTransport
from harness.simulator_control import SimulatorControl, control_client


def _subjects(ctx: ssl.SSLContext) -> list[Any]:
    return sorted(str(c["subject"]) for c in ctx.get_ca_certs())


def _ca_file(directory: Path, name: str) -> Path:
    path = directory / f"{name}.pem"
    trustme.CA(organization_name=name).cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    tls._context.cache_clear()
    yield
    tls._context.cache_clear()


def test_every_client_kind_shares_one_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted at the source: httpx builds its own context through ssl.create_default_context too, so a client
    that is not handed the shared one shows up here."""
    calls: list[object] = []
    real: Callable[..., ssl.SSLContext] = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        calls.append(kwargs.get("cafile"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    made: list[Any] = []
    for _ in range(3):
        made.append(BetterChargeClient("https://api.example.test", "key", "partner", timeout=5))
        made.append(control_client("http://127.0.0.1:1"))
        made.append(SimulatorControl("http://127.0.0.1:1"))
        made.append(RecordingTransport())
    assert len(calls) == 1, f"{len(calls)} SSL contexts built for {len(made)} clients"
    shared = tls.trust_context()
    api_client = made[0]
    # httpx keeps the context on its connection pool (httpx/_transports/default.py HTTPTransport.__init__).
    assert api_client.http._transport._inner._pool._ssl_context is shared
    assert made[1]._transport._pool._ssl_context is shared
    for client in made:
        client.close()


def test_trust_follows_httpx_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _ca_file(tmp_path, "first-ca")
    second = _ca_file(tmp_path, "second-ca")
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    monkeypatch.setenv("SSL_CERT_FILE", str(first))
    assert _subjects(tls.trust_context()) == _subjects(ssl.create_default_context(cafile=str(first)))
    assert tls.trust_context() is tls.trust_context()

    monkeypatch.setenv("SSL_CERT_FILE", str(second))  # a changed setting is a new trust source, not the cached one
    assert _subjects(tls.trust_context()) == _subjects(ssl.create_default_context(cafile=str(second)))
    assert tls.trust_context(str(first)) is not tls.trust_context()  # an explicit file wins over the environment
    assert _subjects(tls.trust_context(str(first))) == _subjects(ssl.create_default_context(cafile=str(first)))

    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty-dir"))
    (tmp_path / "empty-dir").mkdir()
    # A directory's certificates load when a handshake needs them, so none are listed: not certifi's bundle.
    assert _subjects(tls.trust_context()) == []
    assert tls.trust_context().verify_mode == ssl.CERT_REQUIRED and tls.trust_context().check_hostname

    monkeypatch.delenv("SSL_CERT_DIR")
    certifi_subjects = _subjects(ssl.create_default_context(cafile=certifi.where()))
    assert certifi_subjects and _subjects(tls.trust_context()) == certifi_subjects


def test_a_shared_context_verifies_for_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two clients on the one context: the one whose trust holds the server's CA connects, and a context for
    another CA refuses the same server (the cache never hands one source's trust to another)."""
    other = _ca_file(tmp_path, "other-ca")
    with posing_sandbox(tmp_path) as sandbox:
        monkeypatch.setenv("SSL_CERT_FILE", str(sandbox.ca_bundle))
        for _ in range(2):
            with httpx.Client(verify=tls.trust_context(), timeout=10) as client:
                assert client.get(f"{sandbox.url}/_simulator/clock").status_code < 500
        with httpx.Client(verify=tls.trust_context(str(other)), timeout=10) as client, \
                pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"{sandbox.url}/_simulator/clock")
