"""The catalog holds every documented fact exactly once, and the loader refuses a broken catalog clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.catalog import CatalogError, all_requirements, bettercharge
from harness.catalog.bettercharge import BetterChargeCatalog
from harness.catalog.common import validation_message
from harness.paths import fixtures_dir


def _seed(pattern: str) -> tuple[Path | None, str]:
    """The seed file, from the `shared/seeds/` beside the checkout or beside any folder above it (a CI clone
    has shared/ as a sibling; a git worktree under wt/ finds the one a level higher); and the reason to skip
    when there is none."""
    checkout = Path(__file__).resolve().parents[1]
    places = [parent / "shared" / "seeds" for parent in checkout.parents]
    found = [match for place in places if place.is_dir() for match in sorted(place.glob(pattern))]
    where = ", ".join(str(p) for p in places)
    return (found[0] if found else None), f"no seed {pattern} in a shared/seeds/ beside the checkout ({where})"


BC_SEED, NO_BC_SEED = _seed("004_*.description.md")


def test_bettercharge_counts() -> None:
    c = bettercharge()
    assert (len(c.cards), len(c.emails), len(c.tokens), len(c.states)) == (27, 6, 1, 11)
    assert (len(c.errors), len(c.decline_reasons)) == (28, 7)


@pytest.mark.skipif(BC_SEED is None, reason=NO_BC_SEED)
def test_cards_match_the_seed_row_by_row() -> None:
    rows = re.findall(r"^\| (\d+) \| (\d{13,19}) \|$", BC_SEED.read_text(), flags=re.M)
    assert [(int(n), pan) for n, pan in rows] == [(c.row, c.pan) for c in bettercharge().cards]


@pytest.mark.skipif(BC_SEED is None, reason=NO_BC_SEED)
def test_error_rows_match_the_seed_row_by_row() -> None:
    text = BC_SEED.read_text()
    seed_rows = []
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        status = re.match(r"(\d{3})", block)
        if not status:
            continue
        for code, error, message in re.findall(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|", block, flags=re.M):
            message = message.strip().replace("\\[", "[").replace("\\]", "]")
            seed_rows.append((int(status.group(1)), code, error.strip(), message))
    ours = [(e.status, e.code, e.error, e.message) for e in bettercharge().errors]
    # Templates with a list placeholder are written as format fields in the catalog.
    normalised = [(s, c, e, m.replace("[{fields}]", "[field1, field2, ...]").replace("[{details}]", "[details]"))
                  for s, c, e, m in ours]
    assert normalised == seed_rows


@pytest.mark.skipif(BC_SEED is None, reason=NO_BC_SEED)
def test_emails_and_decline_reasons_match_the_seed() -> None:
    text = BC_SEED.read_text()
    for e in bettercharge().emails:
        assert f"[{e.email}]" in text
        assert yaml.safe_load(re.search(rf"\[{re.escape(e.email)}\].*\| (\{{.*\}}) \|", text).group(1)) == e.decision
    for d in bettercharge().decline_reasons:
        assert f"| `{d.reason}` | {d.description} |" in text
    assert bettercharge().tokens[0].token in text


def test_every_state_operation_pair_has_a_cell() -> None:
    c = bettercharge()
    cells = {(t.from_, t.operation) for t in c.transitions}
    for situation in c.situations:
        for op in ("capture", "void", "refund", "stop"):
            assert (situation, op) in cells, f"no transition cell for {op} from {situation}"


def test_requirement_ids_are_unique_and_stable() -> None:
    ids = [r.id for r in all_requirements()]
    assert len(ids) == len(set(ids))
    assert "BC-TX-AUTHORIZED-CAPTURE-FULL" in ids


def test_masked_pan_keeps_six_and_four() -> None:
    for card in bettercharge().cards:
        assert card.masked[:6] == card.pan[:6] and card.masked[-4:] == card.pan[-4:]
        assert set(card.masked[6:-4]) == {"*"}


def test_no_second_copy_of_a_test_card_in_code() -> None:
    root = fixtures_dir().parent
    pans = {c.pan for c in bettercharge().cards}
    offenders = [str(p.relative_to(root)) for d in ("harness", "suites") for p in (root / d).rglob("*.py")
                 if any(pan in p.read_text(encoding="utf-8") for pan in pans)]
    assert offenders == []


def _broken(mutate) -> str:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((fixtures_dir() / "catalog" / "bettercharge.yaml").read_text())
    mutate(data)
    with pytest.raises(Exception) as exc:
        BetterChargeCatalog.model_validate(data)
    return validation_message("bettercharge.yaml", exc.value)  # type: ignore[arg-type]


def test_a_typo_in_the_catalog_is_named() -> None:
    msg = _broken(lambda d: d["cards"][0].update(brnd="visa"))
    assert "cards.0.brnd" in msg


def test_a_dangling_reference_is_refused() -> None:
    msg = _broken(lambda d: d["transitions"][0]["expect"].update(error="BC-ERR-NOPE", state=None))
    assert "unknown error BC-ERR-NOPE" in msg


def test_unreadable_catalog_raises_catalog_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.catalog import common

    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "x.yaml").write_text("a: [unclosed")
    monkeypatch.setattr(common, "fixtures_dir", lambda: tmp_path)
    with pytest.raises(CatalogError, match=r"x\.yaml"):
        common.load_yaml("x.yaml")


def test_a_state_only_the_control_interface_reaches_is_simulator_only() -> None:
    """A sandbox run cannot show RECEIVED (a forced state) or PROCESSING (the retry email's window, a simulator
    convention); it can show AUTHORIZED and DECLINED. The flag is derived from the situations, not hand-set."""
    from harness.catalog import bettercharge as bc

    flags = {r.id: r.simulator_only for r in bc().requirements if r.kind == "state"}
    assert flags["BC-STATE-RECEIVED"] and flags["BC-STATE-PROCESSING"] and flags["BC-STATE-UNKNOWN"]
    assert not flags["BC-STATE-AUTHORIZED"] and not flags["BC-STATE-DECLINED"] and not flags["BC-STATE-VOIDED"]
