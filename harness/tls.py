"""The TLS trust every httpx client of paycert uses: one `ssl.SSLContext` per trust source and process, shared.

Why shared: httpx builds a new context for every `Client` and `HTTPTransport` it is not given one
(`create_ssl_context` in httpx/_config.py), and building one loads the whole CA bundle. A suite test makes an
API client and a control client, so a suite run spent about a seventh of its time loading the same
certificates again (py-spy, benchmarks/README.md). An SSLContext may be shared by any number of connections and
threads; paycert never changes one after building it, which is what makes a cached one safe (the objection
raised against caching it inside httpx itself, encode/httpx pull request 3053).

Which certificates: httpx's own rule for `verify=True`, so handing the context over changes nothing a client
trusts — the file named by SSL_CERT_FILE, else the directory named by SSL_CERT_DIR, else certifi's bundle.
PAYCERT_CA_BUNDLE reaches every client through SSL_CERT_FILE (harness/plugin.py, harness/report/certify.py);
a caller holding the setting itself passes it as `cafile`.
"""

from __future__ import annotations

import functools
import os
import ssl

__all__ = ["trust_context"]


def trust_context(cafile: str | None = None) -> ssl.SSLContext:
    """The shared context trusting `cafile`, or by httpx's rule when None. Never modify what it returns."""
    if cafile:
        return _context(cafile, None)
    env_file = os.environ.get("SSL_CERT_FILE") or None
    env_dir = None if env_file else os.environ.get("SSL_CERT_DIR") or None
    if env_file is None and env_dir is None:
        import certifi

        env_file = certifi.where()
    return _context(env_file, env_dir)


@functools.cache
def _context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile, capath=capath)
