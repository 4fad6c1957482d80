"""Publishing and hygiene configuration: GitHub workflows, pre-commit, ruff.

Everything here runs offline. The workflows are validated against the GitHub
workflow schema that ships inside the check-jsonschema package (no download),
and their jobs are checked for what the project needs from them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
PRE_COMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def tool(name: str) -> str:
    """A command-line tool from the test venv (beside this Python) or PATH.

    Missing: fails in CI (scripts/install-test-deps.sh installs every tool), skips elsewhere.
    """
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found:
        return found
    reason = f"`{name}` is not installed; run scripts/install-test-deps.sh (requirements-test.txt)"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, **kwargs)


def load_workflow(name: str) -> dict:
    path = WORKFLOWS / name
    assert path.is_file(), f"missing workflow {path.relative_to(ROOT)}"
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def run_lines(job: dict) -> list[str]:
    return [line.strip() for step in steps(job) for line in str(step.get("run", "")).splitlines()]


def uses(job: dict) -> list[str]:
    return [step["uses"] for step in steps(job) if "uses" in step]


# --- GitHub workflows -------------------------------------------------------------


def test_workflows_exist():
    names = sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))
    assert {"tests.yml", "book.yml"} <= set(names), names


def test_workflows_validate_against_the_github_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.y*ml"))
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_tests_workflow_runs_the_readme_test_command_on_every_push_and_pull_request():
    workflow = load_workflow("tests.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    # No branch or path filters: every push and every pull request.
    for event in ("push", "pull_request"):
        assert not (workflow["on"][event] or {}), f"{event} is filtered: {workflow['on'][event]}"
    commands = [line for job in workflow["jobs"].values() for line in run_lines(job)]
    assert "make test" in commands
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme


def test_tests_workflow_keeps_the_screenshots():
    job = next(iter(load_workflow("tests.yml")["jobs"].values()))
    uploads = [s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"].rstrip("/") == "artifacts"
    assert uploads[0].get("if") == "always()"


def test_book_workflow_builds_the_full_book_and_deploys_it_from_main():
    workflow = load_workflow("book.yml")
    triggers = workflow["on"]
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    build = jobs["build"]
    assert "make book" in run_lines(build)
    upload = next(s for s in steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "book/_build/html"
    deploy = jobs["deploy"]
    assert deploy["needs"] == "build"
    assert "refs/heads/main" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(u.startswith("actions/deploy-pages@") for u in uses(deploy))
    # Only the deploy job may write: the workflow's default token is read-only.
    assert workflow["permissions"] == {"contents": "read"}


def test_book_workflow_has_a_weekly_full_build():
    workflow = load_workflow("book.yml")
    schedules = workflow["on"]["schedule"]
    assert len(schedules) == 1
    minute, hour, day, month, weekday = schedules[0]["cron"].split()
    assert day == "*" and month == "*" and re.fullmatch(r"[0-6]", weekday), schedules
    # The scheduled run builds the full book (job `build` has no `if`) and also
    # tries the newest releases that pyproject.toml's ranges allow.
    assert "if" not in workflow["jobs"]["build"]
    latest = workflow["jobs"]["latest-releases"]
    assert "schedule" in latest["if"]
    assert any("--upgrade" in line and ".[tensorflow,book,test]" in line for line in run_lines(latest))


def test_actions_are_pinned_to_a_major_version():
    for path in WORKFLOWS.glob("*.y*ml"):
        workflow = load_workflow(path.name)
        for job in workflow["jobs"].values():
            for action in uses(job):
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", action), (path.name, action)


# --- pre-commit, nbstripout, ruff -----------------------------------------------


def pre_commit_hooks() -> dict[str, dict]:
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text())
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_config_is_valid():
    result = run([tool("pre-commit"), "validate-config", str(PRE_COMMIT_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_has_the_hygiene_hooks():
    hooks = pre_commit_hooks()
    for hook_id in ("nbstripout", "ruff-check", "trailing-whitespace", "check-yaml"):
        assert hook_id in hooks, f"missing pre-commit hook {hook_id}"
    assert "jupyter" in hooks["ruff-check"]["types_or"] and "python" in hooks["ruff-check"]["types_or"]
    assert hooks["nbstripout"]["files"] == "^notebooks/"


def test_pre_commit_pins_the_versions_of_requirements_test():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements-test.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    )
    for hook in pre_commit_hooks().values():
        for requirement in hook.get("additional_dependencies", []):
            name, version = requirement.split("==")
            assert pins.get(name) == version, f"{hook['id']}: {requirement} but requirements-test.txt pins {pins.get(name)}"


def notebook_with_outputs() -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": 3,
                "id": "params",
                "metadata": {
                    "tags": ["parameters"],
                    "nbmake": {"mock": {"epochs": 2}},
                    "execution": {"iopub.execute_input": "2026-01-01T00:00:00Z"},
                    "papermill": {"duration": 0.1},
                },
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["hi\n"]}],
                "source": ["epochs = 10"],
            },
            {
                "cell_type": "code",
                "execution_count": 4,
                "id": "plot",
                "metadata": {"tags": ["hide-input"]},
                "outputs": [{"data": {"text/plain": ["1"]}, "execution_count": 4, "metadata": {},
                             "output_type": "execute_result"}],
                "source": ["1"],
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "papermill": {"parameters": {"epochs": 2}},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_nbstripout_as_configured_strips_outputs_and_keeps_tags(tmp_path):
    hook = pre_commit_hooks()["nbstripout"]
    notebook = tmp_path / "chapter.ipynb"
    notebook.write_text(json.dumps(notebook_with_outputs(), indent=1))
    result = run([tool("nbstripout"), *hook.get("args", []), str(notebook)])
    assert result.returncode == 0, result.stdout + result.stderr
    stripped = json.loads(notebook.read_text())
    parameters, plot = stripped["cells"]
    assert parameters["outputs"] == [] and plot["outputs"] == []
    assert parameters["execution_count"] is None and plot["execution_count"] is None
    assert parameters["metadata"]["tags"] == ["parameters"]
    assert plot["metadata"]["tags"] == ["hide-input"]
    assert parameters["metadata"]["nbmake"] == {"mock": {"epochs": 2}}
    assert "execution" not in parameters["metadata"] and "papermill" not in parameters["metadata"]
    assert "papermill" not in stripped["metadata"]
    assert [c["id"] for c in stripped["cells"]] == ["params", "plot"]
    assert stripped["metadata"]["kernelspec"]["name"] == "python3"


def test_stored_notebooks_are_what_nbstripout_leaves():
    hook = pre_commit_hooks()["nbstripout"]
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        pytest.skip("no notebooks yet")
    result = run([tool("nbstripout"), "--verify", *hook.get("args", []), *notebooks])
    assert result.returncode == 0, (
        "run `pre-commit run nbstripout --all-files` (or nbstripout with the hook's arguments):\n"
        + result.stdout
        + result.stderr
    )


def test_ruff_passes_on_src_tests_and_notebooks():
    """The same check as the pre-commit hook, without fixing: ruff.toml's rules."""
    targets = [t for t in ("src", "tests", "notebooks") if (ROOT / t).exists()]
    result = run([tool("ruff"), "check", "--no-fix", "--output-format", "concise", *targets])
    assert result.returncode == 0, result.stdout + result.stderr


# --- README -----------------------------------------------------------------------


def test_readme_opens_every_chapter_in_colab():
    from rnn_mnist.book import chapter_names

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repository = config["repository"]["url"].removeprefix("https://github.com/").strip("/")
    readme = (ROOT / "README.md").read_text()
    for chapter in chapter_names(ROOT):
        link = f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/{chapter}.ipynb"
        assert f"]({link})" in readme, f"README.md has no Colab link for {chapter}: {link}"
