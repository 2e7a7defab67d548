"""report.html in a real headless browser (Debian's chromium), opened from file:// with networking disabled.

Skipped when chromium is not installed (`apt-get install -y chromium`). Checks that the page renders to a
full-size screenshot and that the rendered DOM leads with the verdict and the failing requirement.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from report_support import bc_requirements, make_report, passing, record_card_exchange

from harness.report.html import render_html

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
WIDTH, HEIGHT = 1280, 2000


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False)


def _page(tmp_path: Path) -> Path:
    cards = bc_requirements("card")
    raw = passing(cards)
    raw[2].update(outcome="failed", classification="contract", message="AssertionError: state FAILED != AUTHORIZED")
    evidence = tmp_path / "evidence"
    for i in range(3):
        record_card_exchange(evidence, raw[i]["nodeid"], i)
    page = tmp_path / "report.html"
    page.write_text(render_html(make_report(cards, raw, evidence_dir=evidence)), encoding="utf-8")
    return page


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = _page(tmp_path)
    shot = tmp_path / "report.png"
    result = _chromium(tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
                       page.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(png) > 50_000  # a rendered page, not a blank canvas

    dom = _chromium(tmp_path / "profile2", "--dump-dom", page.as_uri()).stdout
    assert "NOT READY for go-live" in dom
    assert dom.index("NOT READY for go-live") < dom.index('<code class="rid">BC-CARD-03</code>')
    first_req = dom.index('<article class="req')
    assert dom.index("BC-CARD-03", first_req) < dom.index("BC-CARD-01", first_req)
