"""What every project test shares: it runs in an empty working directory.

Why: paycert reads `.env` from the working directory and writes `reports/` there, so a test run from the
checkout would see the developer's own `.env` (sandbox credentials, PAYCERT_TARGET=sandbox) and leave files
behind. Every path a test needs is absolute (harness.paths, tmp_path); a test that means to use the working
directory changes into its own tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.simulator.server import RunningSimulator, start


@pytest.fixture(scope="session", autouse=True)
def _empty_working_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    """The simulator as `paycert simulate` starts it (default settings, both APIs), one per test module that asks;
    a module needing other settings defines its own `sim`."""
    running = start()
    yield running
    running.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A skip that does not say why is refused at collection: whoever reads "skipped" must learn the reason."""
    silent = [item.nodeid for item in items for mark in item.iter_markers()
              if mark.name in ("skip", "skipif") and not str(mark.kwargs.get("reason", "")).strip()
              and not (mark.name == "skip" and mark.args)]
    if silent:
        raise pytest.UsageError("skip marks without a reason:\n  " + "\n  ".join(sorted(set(silent))))
