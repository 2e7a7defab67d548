"""What CI dashboards show of each certification test: JUnit properties and Allure labels from the catalog.

A dashboard (GitHub's test summary, GitLab's test report, Jenkins, Allure) shows test cases, not requirements.
So each case carries its requirement ids, their provenance and weight, and a failure message that starts with
the requirement's title: a red row then reads "Test card 4 ... ends DECLINED: assert ..." instead of a bare
assertion. Allure additionally groups cases by API and area (suite tree and behaviours view), marks mandatory
requirements as critical, and gets the case's HAR evidence (masked by harness.evidence when it was recorded).

Used by harness.report.run_plugin inside the `paycert certify` pytest run.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, Final

from harness.catalog import Requirement, all_requirements

API_NAMES: Final = {"bettercharge": "BetterCharge", "betterpayment": "Better Payment"}
EVIDENCE_NAME: Final = "evidence (HAR, masked)"


@cache
def requirement_index() -> dict[str, Requirement]:
    return {r.id: r for r in all_requirements()}


def requirements(ids: Sequence[str]) -> list[Requirement]:
    """The catalog requirements among `ids`, in the order given (unknown ids are the paycert plugin's concern)."""
    known = requirement_index()
    return [known[i] for i in ids if i in known]


def junit_properties(ids: Sequence[str]) -> list[tuple[str, str]]:
    """One `requirement`, `provenance` and `weight` property per requirement, in the order the test names them.

    Repeated property names are valid JUnit; values stay aligned by position for tests naming several.
    """
    props: list[tuple[str, str]] = []
    for r in requirements(ids):
        props += [("requirement", r.id), ("provenance", r.provenance.value), ("weight", r.weight.value)]
    return props


def title_of(ids: Sequence[str]) -> str | None:
    found = requirements(ids)
    if not found:
        return None
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return f"{found[0].title} ({found[0].id}{more})"


def titled(message: str, ids: Sequence[str]) -> str:
    """`message` led by the requirement's title (once: a rerun hook must not stack titles)."""
    title = title_of(ids)
    if title is None or message.startswith(title):
        return message
    return f"{title}: {message}"


def title_failure(report: Any, ids: Sequence[str]) -> None:
    """Lead the failure's one-line message (JUnit's `message` attribute, pytest's short summary) with the title."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and isinstance(getattr(crash, "message", None), str):
        crash.message = titled(crash.message, ids)


def case_id(name: str) -> str | None:
    """The parametrization id in a test item's name (`test_x[POST /payments]` -> `POST /payments`), if any."""
    start = name.find("[")
    return name[start + 1 : -1] if start >= 0 and name.endswith("]") else None


def allure_labels(ids: Sequence[str]) -> None:
    """Suite tree API > area > requirement; behaviours epic/feature/story; severity from weight; tags."""
    found = requirements(ids)
    if not found:
        return
    import allure
    from allure_commons.types import LabelType

    from harness.report.model import area_label

    first = found[0]
    api = API_NAMES.get(first.api, first.api)
    allure.dynamic.parent_suite(api)
    allure.dynamic.suite(area_label(first.kind))
    allure.dynamic.sub_suite(f"{first.id} {first.title}")
    allure.dynamic.epic(api)
    for area in dict.fromkeys(area_label(r.kind) for r in found):
        allure.dynamic.feature(area)
    for r in found:
        allure.dynamic.story(f"{r.id} {r.title}")
        allure.dynamic.label("requirement", r.id)
        allure.dynamic.label("provenance", r.provenance.value)
        allure.dynamic.tag(r.id)
    allure.dynamic.label("api", first.api)
    mandatory = any(r.weight.value == "mandatory" for r in found)
    allure.dynamic.label(LabelType.SEVERITY, "critical" if mandatory else "minor")


def attach_evidence(har: dict[str, Any]) -> None:
    """Attach a test's masked HAR document to its Allure result (harness.report.run_plugin does it for the
    tests that did not pass; every test's evidence is in evidence/ and report.html)."""
    import json

    import allure

    allure.attach(json.dumps(har, ensure_ascii=False), name=EVIDENCE_NAME, attachment_type="application/json",
                  extension="har")
