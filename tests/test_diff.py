"""`paycert diff A B`: requirements whose outcome changed, appeared or disappeared between two runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_support import bc_requirements, make_report, passing

from harness.cli import main
from harness.report.diff import diff_reports
from harness.report.model import dump_report
from harness.report.runs import update_latest


def _write(root: Path, run_id: str, report: dict) -> Path:
    run = root / run_id
    run.mkdir(parents=True)
    (run / "report.json").write_text(dump_report(report))
    return run


@pytest.fixture
def pair() -> tuple[dict, dict]:
    cards = bc_requirements("card")
    a_reqs, b_reqs = cards[:5], cards[1:6]  # B drops card 1, adds card 6
    a = make_report(a_reqs, passing(a_reqs), run_id="20260302T100000Z-aaaaaa")
    b_raw = passing(b_reqs)
    b_raw[1].update(outcome="failed", classification="contract")  # card 3 now fails
    b_raw[2].update(outcome="failed", classification="infrastructure")  # card 4 now blocked by infra
    b = make_report(b_reqs, b_raw, run_id="20260302T110000Z-bbbbbb", target="sandbox")
    return a, b


def test_diff_finds_changed_appeared_disappeared(pair: tuple[dict, dict]) -> None:
    a, b = pair
    d = diff_reports(a, b)
    assert not d.identical
    assert [(c.requirement, c.change, c.before, c.after) for c in d.changes] == [
        ("BC-CARD-03", "changed", "passed", "failed"),
        ("BC-CARD-04", "changed", "passed", "infrastructure"),
        ("BC-CARD-06", "appeared", None, "passed"),
        ("BC-CARD-01", "disappeared", "passed", None),
    ]
    assert (d.a_verdict, d.b_verdict) == ("ready", "not_ready")
    assert (d.count("changed"), d.count("appeared"), d.count("disappeared")) == (2, 1, 1)


def test_same_behaviour_is_identical_even_with_other_metadata(pair: tuple[dict, dict]) -> None:
    a, _ = pair
    cards = bc_requirements("card")[:5]
    again = make_report(cards, passing(cards), run_id="20260303T100000Z-cccccc", target="sandbox")
    assert diff_reports(a, again).identical


def test_cli_diff_table_and_exit_codes(tmp_path: Path, pair: tuple[dict, dict], capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    a, b = pair
    run_a = _write(tmp_path, a["run"]["run_id"], a)
    run_b = _write(tmp_path, b["run"]["run_id"], b)
    assert main(["diff", str(run_a), str(run_b / "report.json")]) == 1
    out = capsys.readouterr().out
    for text in ("BC-CARD-03", "changed", "appeared", "disappeared", "2 changed, 1 appeared, 1 disappeared",
                 "ready → not_ready"):
        assert text in out
    assert main(["diff", str(run_a), str(run_a)]) == 0
    assert "no behavioural difference" in capsys.readouterr().out
    update_latest(tmp_path, b["run"]["run_id"])
    assert main(["diff", a["run"]["run_id"], "latest", "--out", str(tmp_path)]) == 1


def test_cli_diff_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(tmp_path / "nope"), str(tmp_path / "nope2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("paycert: no report found for") and len(err.splitlines()) == 1
    (tmp_path / "junk.json").write_text("[]")
    assert main(["diff", str(tmp_path / "junk.json"), str(tmp_path / "junk.json")]) == 2
    assert "not a paycert report" in capsys.readouterr().err
