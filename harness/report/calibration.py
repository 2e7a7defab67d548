"""Calibration of adopted assumptions: what a sandbox showed where the catalog could only guess.

Three parts, one concept:

- `Mismatch` (harness.catalog.overlay, re-exported here): what a suite raises when an answer differs from a
  catalog value — the catalog entry and field the expectation came from, the expected and the observed value.
  The paycert plugin records it with the test, so the report puts expected and observed side by side.
- `unconfirmed_assumptions`: on a sandbox, a failing requirement whose provenance is ``adopted`` is an
  *unconfirmed assumption*, reported in its own section, apart from documented requirements that failed.
- `calibrate`: ``paycert calibrate RUN`` turns a run's unconfirmed assumptions into entries of the calibration
  overlay (harness.catalog.overlay), for the user to review; the catalog loader applies it on the next run.

Verdict rule (also in every report's rules and in README): an unconfirmed assumption blocks the go-live verdict
like any failure — the integration was built for behaviour the sandbox does not show — until it is calibrated
(the next run then checks the observed behaviour) or waived. A documented requirement is never calibrated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from harness.catalog.overlay import FORMAT, OVERLAY_FILE, Mismatch, find_entry, get_field, load_overlay

__all__ = ["RULE", "Mismatch", "apply_to_report", "calibrate", "calibrate_command", "unconfirmed_assumptions"]

RULE: Final = ("on a sandbox, a failing adopted requirement is an unconfirmed assumption: it blocks like a failure "
               "until `paycert calibrate RUN` records the observed behaviour (reviewed, then a new run) or it is "
               "waived; a documented requirement is never calibrated, only waived")


def unconfirmed_assumptions(report: Mapping[str, Any], raw_results: Sequence[Mapping[str, Any]]
                            ) -> list[dict[str, Any]]:
    """The section: each failing adopted requirement of a sandbox run, with the observations of its tests."""
    if report["run"]["target"] != "sandbox":
        return []
    failing = set(report["verdict"]["contract_failures"])
    by_test = {str(r.get("nodeid")): r for r in raw_results}
    evidence = {t["nodeid"]: t["evidence"]["file"] for t in report["tests"]}
    section = []
    for requirement in report["requirements"]:
        if requirement["id"] not in failing or requirement["provenance"] != "adopted":
            continue
        observations, files = [], []
        for test in requirement["tests"]:
            nodeid = test if isinstance(test, str) else test.get("nodeid", "")
            for observation in by_test.get(nodeid, {}).get("observations", []):
                if observation not in observations:
                    observations.append(observation)
            if evidence.get(nodeid):
                files.append(evidence[nodeid])
        section.append({"requirement": requirement["id"], "title": requirement["title"],
                        "source": requirement["source"], "observations": observations, "evidence": files})
    return section


def _blocked_by_assumptions(report: Mapping[str, Any], raw_results: Sequence[Mapping[str, Any]],
                            unconfirmed: set[str]) -> list[str]:
    """Failing requirements whose every failed test stopped at a Mismatch on an unconfirmed assumption.

    A transition test also proves the (documented) states it passes through; when it stops at an adopted status,
    those states were not seen to fail, they were not reached. They still block, but as a consequence of the
    assumption, not as contract failures of their own.
    """
    if report["run"]["target"] != "sandbox":
        return []
    observed = {str(r.get("nodeid")) for r in raw_results if r.get("observations")}
    failed = {t["nodeid"] for t in report["tests"] if t["outcome"] in ("failed", "error")}
    blocked = []
    for requirement in report["requirements"]:
        rid = requirement["id"]
        if rid in unconfirmed or rid not in report["verdict"]["contract_failures"]:
            continue
        failing = [t for t in requirement["tests"] if t in failed]
        if failing and all(t in observed for t in failing):
            blocked.append(rid)
    return blocked


def apply_to_report(report: dict[str, Any], raw_results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Split the report's contract failures into documented failures and unconfirmed assumptions."""
    section = unconfirmed_assumptions(report, raw_results)
    ids = [a["requirement"] for a in section]
    verdict = report["verdict"]
    blocked = _blocked_by_assumptions(report, raw_results, set(ids)) if ids else []
    verdict["contract_failures"] = [i for i in verdict["contract_failures"] if i not in ids and i not in blocked]
    verdict["unconfirmed_assumptions"] = ids
    verdict["blocked_by_assumptions"] = blocked
    if RULE not in verdict["rules"]:
        verdict["rules"].append(RULE)
    report["unconfirmed_assumptions"] = section
    return report


# ---------------------------------------------------------------- paycert calibrate RUN


def _raw_catalog(api: str) -> dict[str, Any]:
    from harness.catalog.common import load_yaml

    return load_yaml(f"{api}.yaml")


def calibrate(report: Mapping[str, Any], overlay: Path | None = None, *,
              say: Callable[[str], None] = print, today: dt.date | None = None) -> int:
    """Write the run's observations into the overlay (merged with what it holds); 0 when entries were written."""
    from harness.report.errors import ReportError

    run = report["run"]
    if run["target"] != "sandbox":
        raise ReportError(f"run {run['run_id']} ran against the {run['target']}: only a sandbox run can calibrate")
    path = overlay or Path.cwd() / OVERLAY_FILE
    existing = load_overlay(path)
    entries = {(e["api"], e["entry"], e["field"]): e for e in existing}
    date = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    written = 0
    for assumption in report.get("unconfirmed_assumptions", []):
        if not assumption["observations"]:
            say(f"  {assumption['requirement']}: failed without a recorded observation (see its evidence); "
                "nothing to calibrate automatically")
            continue
        for obs in assumption["observations"]:
            raw = _raw_catalog(obs["api"])
            item = find_entry(raw, obs["entry"])
            provenance = str(item.get("provenance", "adopted")) if item is not None else "unknown"
            if item is None or provenance not in ("adopted", "observed"):
                say(f"  {obs['entry']} {obs['field']}: the catalog entry is {provenance}; not calibrated "
                    "(a documented fact is only waived)")
                continue
            adopted = _adopted_value(item, obs)
            entries[(obs["api"], obs["entry"], obs["field"])] = {
                "api": obs["api"], "entry": obs["entry"], "field": obs["field"], "adopted": adopted,
                "observed": obs["observed"], "provenance": "observed", "run": run["run_id"], "target": run["target"],
                "base_url": run["base_urls"].get(obs["api"], ""), "date": date,
                "requirements": [assumption["requirement"]], "evidence": assumption["evidence"][:3],
            }
            written += 1
            say(f"  {obs['entry']} {obs['field']}: {adopted!r} -> {obs['observed']!r} "
                f"(observed in run {run['run_id']})")
    documented = list(report["verdict"]["contract_failures"])
    if documented:
        say(f"  not calibrated: {len(documented)} documented requirement(s) failed ({', '.join(documented[:5])}"
            f"{' …' if len(documented) > 5 else ''}); a sandbox that differs from the documents is broken: "
            "report it, or waive with owner and expiry")
    if not written:
        say(f"paycert calibrate: nothing to calibrate in run {run['run_id']}")
        return 1
    _write_overlay(path, list(entries.values()))
    say(f"paycert calibrate: {written} observed value(s) written to {path}; review it, then run certify again")
    return 0


def _adopted_value(item: dict[str, Any], obs: Mapping[str, Any]) -> Any:
    """The value the entry replaces: the catalog file's (the overlay is not applied to the raw file)."""
    try:
        return get_field(item, obs["field"])
    except KeyError:
        return obs["expected"]


def _write_overlay(path: Path, entries: list[dict[str, Any]]) -> None:
    header = ("# paycert calibration overlay: behaviour observed on a sandbox where the catalog had only an adopted\n"
              "# assumption. Written by `paycert calibrate RUN`; review every entry before committing it. The catalog\n"
              "# loader applies it (suites, simulator and report follow it); documented facts can never be changed.\n")
    body = yaml.safe_dump({"format": FORMAT, "entries": entries}, sort_keys=False, allow_unicode=True, width=120)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(path)


def calibrate_command(run_ref: str, out: Path, say: Callable[[str], None]) -> int:
    """``paycert calibrate RUN``: the overlay from a written run (a run directory, report.json, id or latest)."""
    from harness.report.model import load_report
    from harness.report.runs import resolve_report

    path = resolve_report(run_ref, out)
    report = load_report(path)
    say(f"paycert calibrate: run {report['run']['run_id']} ({report['run']['target']}, "
        f"{len(report.get('unconfirmed_assumptions', []))} unconfirmed assumption(s))")
    return calibrate(report, say=say)
