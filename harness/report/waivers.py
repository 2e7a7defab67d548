"""The waiver register: a requirement its owner accepts as not met, for a reason, until a date.

File format (YAML), either a top-level list or a mapping with a ``waivers`` list::

    waivers:
      - requirement: BC-CARD-07          # a catalog requirement id
        owner: payments-team@example.com
        reason: sandbox returns 500 for this card (ticket PAY-123)
        expiry: 2025-12-31               # last day the waiver counts (UTC), inclusive

Why owner and expiry are required: a waiver without either is how a known failure becomes permanent
(OpenID Foundation's expected-failure lists have the same shape). An expired waiver is ignored and listed as
expired, so the run says why the requirement blocks again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from harness.report.errors import ReportError
from harness.report.files import read_small, utf8_text

_MAX_BYTES = 4 << 20


class _Loader(yaml.SafeLoader):
    """Safe YAML with dates left as text: PyYAML would raise a bare ValueError on 2025-13-45 before the entry
    could be named; pydantic parses the date and says which entry and field is wrong."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class Waiver(BaseModel):
    """One entry of the register; unknown keys are errors so a misspelt `expiry` cannot make a waiver eternal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requirement: str
    owner: str
    reason: str
    expiry: dt.date

    @field_validator("requirement", "owner", "reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("expiry", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        # The waiver counts whole days: a time of day (2025-12-31T00:00:00Z) is accepted and dropped.
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, str) and "T" in value:
            try:
                return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
            except ValueError:
                return value  # pydantic names the problem
        return value

    def active_on(self, day: dt.date) -> bool:
        """True while `day` is on or before the expiry date."""
        return day <= self.expiry


@dataclass(frozen=True)
class WaiverFile:
    path: Path
    waivers: tuple[Waiver, ...]


def parse_waivers(data: Any, source: str = "waivers") -> tuple[Waiver, ...]:
    """Waivers from decoded YAML; ReportError names the entry and field of the first problem."""
    if data is None:
        return ()
    entries = data.get("waivers") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) - {"waivers"}:
        raise ReportError(f"{source}: unknown top-level key(s): {', '.join(sorted(set(data) - {'waivers'}))}")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ReportError(f"{source}: expected a list of waivers (or a mapping with a 'waivers' list)")
    waivers: list[Waiver] = []
    first_entry: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ReportError(f"{source}: entry {number}: expected a mapping with requirement, owner, reason, expiry")
        try:
            waiver = Waiver.model_validate(entry)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"]) or "entry"
            given = f" (got {str(problem['input'])[:40]!r})" if isinstance(problem.get("input"), str | int) else ""
            raise ReportError(f"{source}: entry {number}: {field}: {problem['msg']}{given}") from None
        if waiver.requirement in first_entry:
            raise ReportError(f"{source}: entry {number}: requirement {waiver.requirement} is already waived "
                              f"by entry {first_entry[waiver.requirement]}")
        first_entry[waiver.requirement] = number
        waivers.append(waiver)
    return tuple(waivers)


def load_waivers(path: Path, known_requirements: Iterable[str] | None = None) -> WaiverFile:
    """Read and check a waiver file; with `known_requirements`, an id the catalog lacks is an error."""
    kind = "a YAML waiver register"
    text = utf8_text(read_small(path, "--waivers", kind, _MAX_BYTES), path, "--waivers", kind)
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or exc
        raise ReportError(f"--waivers: cannot read {where}: not valid YAML ({problem})".splitlines()[0]) from None
    except RecursionError:
        raise ReportError(f"{path}: nested too deeply to be a waiver register") from None
    waivers = parse_waivers(data, source=str(path))
    if known_requirements is not None:
        known = set(known_requirements)
        for number, waiver in enumerate(waivers, start=1):
            if waiver.requirement not in known:
                raise ReportError(f"{path}: entry {number}: requirement {waiver.requirement} is not in the catalog")
    return WaiverFile(path=path, waivers=waivers)
