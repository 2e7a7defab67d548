"""`paycert init [DIR]`: what a team needs to run paycert in its own repository and CI.

Writes, only where nothing exists yet (an existing file is never changed, except a .gitignore that gains the
entries it lacks):

- `.env.example` — every setting, with the credentials left empty;
- `.gitignore` entries for `.env` (credentials) and `reports/` (run output and the local signing key);
- `paycert-waivers.yaml` — an empty waiver register with one commented example;
- `.github/workflows/paycert.yml` — GitHub Actions: nightly and on demand, one job per API, JUnit published,
  the report and the signed package uploaded, the job's result = `paycert certify`'s exit code;
- `.gitlab/paycert.gitlab-ci.yml` — the same for GitLab CI, and a `.gitlab-ci.yml` including it when the
  repository has none (otherwise a hint says which `include:` to add).

Running it again changes nothing. The templates are package data (harness/templates/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final, Literal

from harness import __version__
from harness.errors import ScaffoldError

Action = Literal["created", "appended", "kept"]
GITLAB_JOB: Final = ".gitlab/paycert.gitlab-ci.yml"
GITIGNORE_ENTRIES: Final = ((".env", "paycert: local settings with credentials"),
                            ("reports/", "paycert: run output and the local package signing key"))
#: target path -> template name
FILES: Final = {
    ".env.example": "env.example",
    "paycert-waivers.yaml": "waivers.yaml",
    ".github/workflows/paycert.yml": "github-workflow.yml",
    GITLAB_JOB: "gitlab-ci.yml",
}
_GITLAB_INCLUDE: Final = f"include:\n  - local: {GITLAB_JOB}\n"


@dataclass(frozen=True)
class Step:
    path: str  # relative to the target directory
    action: Action
    note: str = ""


def requirement() -> str:
    """What the CI templates pip-install: this paycert version (a team pins what it certified with)."""
    return f"paycert=={__version__}"


def template(name: str) -> str:
    text = resources.files("harness.templates").joinpath(name).read_text(encoding="utf-8")
    return text.replace("@PAYCERT_REQUIREMENT@", requirement())


def _create(path: Path, text: str) -> bool:
    """Write `text` to a new file; False (and nothing written) when the path exists already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8", newline="\n") as handle:  # "x": never replace, even in a race
            handle.write(text)
    except FileExistsError:
        return False
    return True


def _ignored(lines: list[str], entry: str) -> bool:
    bare = entry.strip("/")
    return any(line.strip().strip("/") in (bare, f"{bare}*", f"{bare}/*", f"{bare}/**") for line in lines)


def _gitignore(path: Path) -> Step:
    existing = path.read_text(encoding="utf-8") if path.is_file() else None
    lines = existing.splitlines() if existing is not None else []
    missing = [(entry, why) for entry, why in GITIGNORE_ENTRIES if not _ignored(lines, entry)]
    if not missing:
        return Step(path.name, "kept", "already ignores " + " and ".join(e for e, _ in GITIGNORE_ENTRIES))
    addition = "".join(f"# {why}\n{entry}\n" for entry, why in missing)
    if existing is None:
        _create(path, addition)
        return Step(path.name, "created")
    separator = "" if existing == "" or existing.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(separator + addition)
    return Step(path.name, "appended", ", ".join(e for e, _ in missing))


def init(directory: Path) -> list[Step]:
    """Write what is missing under `directory` (created if needed); one Step per file, in a fixed order."""
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"{directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            raise ScaffoldError(f"{directory}: not writable")
        steps: list[Step] = []
        for target, name in FILES.items():
            created = _create(directory / target, template(name))
            steps.append(Step(target, "created" if created else "kept", "" if created else "exists, left as is"))
        steps.append(_gitignore(directory / ".gitignore"))
        steps.append(_gitlab_root(directory / ".gitlab-ci.yml"))
    except OSError as exc:
        raise ScaffoldError(f"{exc.filename or directory}: {exc.strerror or exc}") from None
    return steps


def _gitlab_root(path: Path) -> Step:
    if _create(path, "# GitLab CI entry point (written by paycert init)\n" + _GITLAB_INCLUDE):
        return Step(path.name, "created")
    if GITLAB_JOB in path.read_text(encoding="utf-8", errors="replace"):
        return Step(path.name, "kept", f"already includes {GITLAB_JOB}")
    return Step(path.name, "kept", f"exists, left as is: add `include: [{{local: {GITLAB_JOB}}}]` to run the "
                                   "paycert job")
