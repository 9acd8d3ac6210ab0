"""``gauntlet init``: scaffold the kit into any Python repository.

``init`` detects the repository's layout and writes what is missing:

- ``[tool.gauntlet]`` in pyproject.toml, rendered with tomlkit. The file is created, or the
  table is appended to it, so other tables, comments and formatting stay byte for byte;
- a ``ci`` target appended to the Makefile (created when missing);
- .pre-commit-config.yaml with the kit's hooks;
- .github/workflows/gauntlet.yml, a caller of the kit's reusable workflow;
- the reports directory, .venv and node_modules in .gitignore, for a git repository.

Configuration that already exists is never changed: an existing ``[tool.gauntlet]``, ``ci``
target, pre-commit config or workflow file is left alone, and init prints a note about it. A
second run therefore writes nothing, and ``--dry-run`` prints the unified diff instead of writing.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import re
import subprocess  # nosec B404
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Sequence

import tomlkit

from gauntlet import __version__
from gauntlet.detect import (
    contains_python_files,
    FlaskApp,
    Layout,
    Route,
    detect_layout,
    uses_sqlite,
)
from gauntlet.errors import UsageError

log = logging.getLogger(__name__)

DIST_NAME = "ci-gauntlet"
ALLURE_VERSION = "3.18.0"  # npm allure for the ci target; a test keeps it equal to package.json

# Stand-ins for the kit's public repository, which this checkout cannot know. The files that use
# them carry a comment asking the user to replace them.
PLACEHOLDER_REPO_URL = "https://github.com/OWNER/ci-gauntlet"
PLACEHOLDER_WORKFLOW_REPO = "OWNER/ci-gauntlet"
PLACEHOLDER_REQUIREMENT = f"ci-gauntlet[tools] @ git+{PLACEHOLDER_REPO_URL}@v{__version__}"

INIT_MARKER = "(written by `gauntlet init`)"  # on the first line of every generated file or block
MAKEFILE_MARKER = f"# ci-gauntlet {INIT_MARKER}"
MAKEFILE_NAMES = ("GNUmakefile", "makefile", "Makefile")  # the order GNU make looks for them
GITIGNORE_ENTRIES = ("/reports/", "/.venv/", "/node_modules/")

_GITHUB_URL = re.compile(r"^(?:git\+)?https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class KitSource:
    """Source of the kit for the generated files: pip, pre-commit and GitHub Actions."""

    pip_spec: str  # a pip requirement, for example "ci-gauntlet[tools] @ file:///src/kit"
    precommit_repo: str  # a URL or local path that git can clone
    precommit_rev: str  # a tag or commit of precommit_repo
    workflow_repo: str  # GitHub "owner/name" holding .github/workflows/gauntlet.yml
    workflow_ref: str  # tag or commit SHA of the reusable workflow
    workflow_requirement: str  # the pip requirement the workflow's jobs install on a runner
    placeholder: bool  # True when workflow_repo is a stand-in the user must replace


@dataclass
class FileChange:
    """The planned content of one file: ``old`` is None for a file that does not exist yet."""

    path: Path
    old: str | None
    new: str

    @property
    def changed(self) -> bool:
        """Return True when writing ``new`` would change the file."""
        return self.old != self.new


@dataclass
class Plan:
    """Every file ``init`` would write, and a note for each thing it leaves alone."""

    changes: list[FileChange]
    notes: list[str]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gauntlet init [PATH] [--dry-run]``; raise UsageError on bad input."""
    args = _parse_args(argv)
    root = resolve_root(args.path)

    layout = detect_layout(root)
    kit = detect_kit_source()
    plan = plan_init(layout, kit)

    if args.dry_run:
        sys.stdout.write(render_diff(plan, root))
    else:
        write_plan(plan)
    _print_summary(plan, root, dry_run=args.dry_run)
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gauntlet init",
        description=(
            "Scaffold ci-gauntlet into a Python repository: [tool.gauntlet] in pyproject.toml, "
            "a `ci` Makefile target, .pre-commit-config.yaml, a GitHub workflow and .gitignore "
            "entries for what `make ci` creates. Existing configuration is left alone."
        ),
    )
    parser.add_argument(
        "path", nargs="?", default=".", help="the repository's root directory (default: .)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the unified diff and write nothing"
    )
    return parser.parse_args(argv)


def resolve_root(path: str) -> Path:
    """Return ``path`` as an absolute directory, or raise UsageError naming it and the fix."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UsageError(
            f"{path!r} is not a directory; give the repository's root "
            f"directory, for example `gauntlet init .`"
        )
    return root.resolve()


# --- [tool.gauntlet] ------------------------------------------------------------------------------

# Placeholder credentials for the form and JSON fields of DAST targets: sqlmap replaces the value
# of the parameter under test and sends these in the others.
TARGET_FIELD_VALUE = "gauntlet"
# sqlmap sends a few hundred requests per parameter, which takes minutes when every request hashes
# a password, so such targets get this sqlmap time limit instead of the dast default.
SLOW_TARGET_TIME_LIMIT_S = 600.0
COMMENT_WIDTH = 98  # characters of a generated TOML comment after "# "
WHOLE_REPO_EXCLUDE = (".venv", "reports", "node_modules", "build", "dist")


def gauntlet_table(layout: Layout) -> tomlkit.items.Table:
    """Build ``[tool.gauntlet]`` for ``layout``, with a comment on every stage it turns off."""
    table = tomlkit.table()
    table.add(
        tomlkit.comment("Written by `gauntlet init` from the repository's layout; edit freely.")
    )
    table.add(tomlkit.comment("`gauntlet list` shows every stage and its gate."))

    source_paths = [*layout.packages, *layout.modules]
    if source_paths:
        table.add("paths", _array(source_paths))
    else:
        table.add(
            tomlkit.comment("No package or module found, so the whole repository is checked.")
        )
        table.add("paths", _array(["."]))
        table.add("exclude", _array(list(WHOLE_REPO_EXCLUDE)))

    if not source_paths and not contains_python_files(layout.root):
        for stage, tool in (("format", "black"), ("lint", "pylint"), ("sast", "bandit")):
            reason = f"No Python file in the repository yet, so {tool} has nothing to check."
            table.add(stage, _disabled_table(reason))

    table.add("unit", _unit_table(layout))
    table.add("bdd", _bdd_table(layout))
    if layout.tests_dir is None and layout.features_dir is None:
        table.add(
            "coverage", _disabled_table("unit and bdd are off, so there is no coverage data.")
        )
    table.add("image", _image_table(layout))
    table.add("dast", _dast_table(layout))
    return table


def _unit_table(layout: Layout) -> tomlkit.items.Table:
    if layout.tests_dir is None:
        return _disabled_table(
            "No tests/ or test/ directory: pytest would collect no tests, which is an error."
        )
    unit = tomlkit.table()
    unit.add("tests", _array([layout.tests_dir]))
    return unit


def _bdd_table(layout: Layout) -> tomlkit.items.Table:
    if layout.features_dir is None:
        return _disabled_table(
            "No features/ directory with .feature files: behave has no scenarios to run."
        )
    bdd = tomlkit.table()
    bdd.add("features", layout.features_dir)
    return bdd


def _image_table(layout: Layout) -> tomlkit.items.Table:
    image = tomlkit.table()
    if layout.dockerfile is None:
        image.add(
            tomlkit.comment("No Dockerfile at the root: the image stage skips itself and says so.")
        )
        image.add(
            tomlkit.comment(
                "Add one (or set dockerfile) to build the image and scan it with trivy."
            )
        )
    image.add("dockerfile", layout.dockerfile or "Dockerfile")
    return image


def _dast_table(layout: Layout) -> tomlkit.items.Table:
    app = layout.app
    if app is None or not app.routes:
        reason = (
            "No Flask app found"
            if app is None
            else "No route of the Flask app reads request fields"
        )
        dast = _disabled_table(f"{reason}: add a deployment and targets to scan with sqlmap.")
        return dast

    dast = tomlkit.table()
    dast.add(
        tomlkit.comment(f"The Flask app in {app.source}, run as a local process on a free port.")
    )
    if app.init_db_command is not None:
        dast.add(
            tomlkit.comment(
                f"`flask {app.init_db_command}` runs first so that the tables exist. Such a "
                f"command usually recreates"
            )
        )
        dast.add(tomlkit.comment("the app's local database: every scan starts from empty tables."))
    dast.add("deploy", "process")
    dast.add("command", _array(["sh", "-c", flask_command(app)]))
    dast.add("health_path", app.health_path)
    if uses_sqlite(layout):
        dast.add("dbms", "SQLite")
    for skipped in app.skipped_routes:
        lines = textwrap.wrap(f"Not scanned: {skipped}.", COMMENT_WIDTH, subsequent_indent="  ")
        for line in lines:
            dast.add(tomlkit.comment(line))

    writers = [route for route in app.routes if route.method != "GET"]
    if writers and len(app.routes) > 1:
        dast.add(
            tomlkit.comment(
                "The targets share the app's database and some write to it, so they run one "
                "after another:"
            )
        )
        dast.add(
            tomlkit.comment(
                "rows written by one scan change the pages that another scan compares, which "
                "hides injections."
            )
        )
        dast.add("parallel", False)

    targets = tomlkit.aot()
    for route in app.routes:
        targets.append(_target_table(route))
    dast.add("targets", targets)
    return dast


def flask_command(app: FlaskApp) -> str:
    """Return the sh command line that serves ``app`` on 127.0.0.1 and the port in ``$PORT``.

    The deployment sets PORT and runs the command without a shell, and ``flask run`` takes the
    port only as an option, so ``sh -c`` expands it. A detected ``init-db`` command runs first so
    that the tables exist.
    """
    serve = f'exec python -m flask --app {app.import_name} run --host 127.0.0.1 --port "$PORT"'
    if app.init_db_command is None:
        return serve
    return f"python -m flask --app {app.import_name} {app.init_db_command} && {serve}"


def _target_table(route: Route) -> tomlkit.items.Table:
    target = tomlkit.table()
    target.add("method", route.method)
    target.add("path", route.path)
    values = tomlkit.inline_table()
    for name in route.fields:
        values.append(name, TARGET_FIELD_VALUE)
    target.add(route.place, values)
    if route.hashes_passwords:
        target.add(tomlkit.comment("The view hashes passwords, so each request is slow."))
        target.add("time_limit", SLOW_TARGET_TIME_LIMIT_S)
    return target


def _disabled_table(reason: str) -> tomlkit.items.Table:
    table = tomlkit.table()
    table.add(tomlkit.comment(reason))
    table.add("enabled", False)
    return table


def _array(items: list[str]) -> tomlkit.items.Array:
    array = tomlkit.array()
    array.extend(items)
    return array


# --- where the kit comes from ------------------------------------------------------------------


def detect_kit_source() -> KitSource:
    """Describe the source this kit was installed from, read from its direct_url.json."""
    try:
        direct_url_text = metadata.distribution(DIST_NAME).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct_url_text = None
    return kit_source_from_direct_url(json.loads(direct_url_text) if direct_url_text else {})


def kit_source_from_direct_url(direct_url: dict) -> KitSource:
    """Build a KitSource from a PEP 610 direct_url.json record ({} for an index install).

    A kit installed from a local directory or a git URL is installed from the same place again.
    A kit installed from an index is pinned to its version there.
    """
    url = direct_url.get("url", "")
    if "vcs_info" in direct_url:
        return _vcs_source(url, direct_url["vcs_info"])
    if "dir_info" in direct_url and url.startswith("file://"):
        return _directory_source(url)

    index_spec = f"ci-gauntlet[tools]=={__version__}"
    if url:
        return _placeholder_source(f"ci-gauntlet[tools] @ {url}", PLACEHOLDER_REQUIREMENT)
    return _placeholder_source(index_spec, index_spec)


def _vcs_source(url: str, vcs_info: dict) -> KitSource:
    commit = vcs_info.get("commit_id") or vcs_info.get("requested_revision") or f"v{__version__}"
    clone_url = url.removeprefix("git+")
    pip_spec = f"ci-gauntlet[tools] @ git+{clone_url}@{commit}"
    github = _GITHUB_URL.match(clone_url)
    if github is None:
        return KitSource(
            pip_spec=pip_spec,
            precommit_repo=clone_url,
            precommit_rev=commit,
            workflow_repo=PLACEHOLDER_WORKFLOW_REPO,
            workflow_ref=f"v{__version__}",
            workflow_requirement=PLACEHOLDER_REQUIREMENT,
            placeholder=True,
        )
    return KitSource(
        pip_spec=pip_spec,
        precommit_repo=clone_url,
        precommit_rev=commit,
        workflow_repo=f"{github.group(1)}/{github.group(2)}",
        workflow_ref=commit,
        workflow_requirement=pip_spec,
        placeholder=False,
    )


def _directory_source(url: str) -> KitSource:
    directory = Path(url.removeprefix("file://"))
    pip_spec = f"ci-gauntlet[tools] @ {url}"
    commit = _git_head(directory)
    if commit is None:
        # Not a git checkout, so pre-commit cannot clone it: point at the public repository.
        return _placeholder_source(pip_spec, PLACEHOLDER_REQUIREMENT)
    # A GitHub copy of the kit contains the checkout's commit too, so the workflow pins it. Only
    # the repository's owner is unknown here.
    return KitSource(
        pip_spec=pip_spec,
        precommit_repo=str(directory),
        precommit_rev=commit,
        workflow_repo=PLACEHOLDER_WORKFLOW_REPO,
        workflow_ref=commit,
        workflow_requirement=f"ci-gauntlet[tools] @ git+{PLACEHOLDER_REPO_URL}@{commit}",
        placeholder=True,
    )


def _placeholder_source(pip_spec: str, workflow_requirement: str) -> KitSource:
    return KitSource(
        pip_spec=pip_spec,
        precommit_repo=PLACEHOLDER_REPO_URL,
        precommit_rev=f"v{__version__}",
        workflow_repo=PLACEHOLDER_WORKFLOW_REPO,
        workflow_ref=f"v{__version__}",
        workflow_requirement=workflow_requirement,
        placeholder=True,
    )


def _git_head(directory: Path) -> str | None:
    if not (directory / ".git").exists():
        return None
    try:
        # git from PATH with a fixed argument list and no shell.
        completed = subprocess.run(  # nosec B603 B607
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("cannot read the kit's git commit in %s: %s", directory, exc)
        return None
    commit = completed.stdout.strip()
    if completed.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}", commit):
        log.warning("cannot read the kit's git commit in %s: %s", directory, completed.stderr)
        return None
    return commit


# --- planning ----------------------------------------------------------------------------------


def plan_init(layout: Layout, kit: KitSource) -> Plan:
    """Compute the content of every file ``init`` writes, without writing anything."""
    root = layout.root
    plan = Plan(changes=[], notes=[])

    _plan_pyproject(plan, layout)
    _plan_makefile(plan, root, kit)
    _plan_new_file(plan, root, ".pre-commit-config.yaml", _render_precommit(layout, kit))
    _plan_new_file(plan, root, ".github/workflows/gauntlet.yml", _render_workflow(root, kit))
    _plan_gitignore(plan, root)

    return plan


def _plan_pyproject(plan: Plan, layout: Layout) -> None:
    path = layout.root / "pyproject.toml"
    old = _read_text(path) or ""
    try:
        existing = tomllib.loads(old)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"{path} is not valid TOML ({exc}); fix the file or move it "
            f"away, then run gauntlet init again"
        ) from exc

    tool = existing.get("tool", {})
    if isinstance(tool, dict) and "gauntlet" in tool:
        plan.notes.append(f"{path.name}: [tool.gauntlet] exists; left alone")
        return

    new = append_gauntlet_table(old, gauntlet_table(layout))
    try:
        tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"cannot add a [tool.gauntlet] table to {path}, because the file "
            f"defines `tool` in a form that closes it ({exc}); write `tool` as [tool.<name>] "
            f"tables, then run gauntlet init again"
        ) from exc
    plan.changes.append(FileChange(path, _read_text(path), new))


def append_gauntlet_table(old: str, table: tomlkit.items.Table) -> str:
    """Return ``old`` with ``[tool.gauntlet]`` appended; the lines of ``old`` stay as they are.

    TOML allows a ``[tool.gauntlet]`` header after other tables, so appending is valid unless
    the file closes ``tool`` (an inline table ``tool = {...}``, for example).
    """
    addition = tomlkit.document()
    addition.add("tool", tomlkit.table(is_super_table=True))
    addition["tool"].add("gauntlet", table)

    return append_block(old, tomlkit.dumps(addition).lstrip("\n"))


def _plan_makefile(plan: Plan, root: Path, kit: KitSource) -> None:
    path = makefile_path(root)
    old = _read_text(path)
    if old is not None and has_make_target(old, "ci"):
        if MAKEFILE_MARKER in old:
            plan.notes.append(f"{path.name}: the `ci` target of gauntlet init is in place")
        else:
            plan.notes.append(
                f"{path.name}: has its own `ci` target; left alone, so add `gauntlet run` to it "
                f"or run `gauntlet run` directly"
            )
        return

    snippet = render_template("Makefile.ci", kit, allure_version=ALLURE_VERSION)
    plan.changes.append(FileChange(path, old, append_block(old, snippet)))


def makefile_path(root: Path) -> Path:
    """Return the makefile GNU make reads in ``root`` (GNUmakefile, makefile, then Makefile)."""
    for name in MAKEFILE_NAMES:
        if (root / name).is_file():
            return root / name
    return root / "Makefile"


def has_make_target(makefile: str, target: str) -> bool:
    """Return True when a rule line of ``makefile`` names ``target`` before its colon."""
    for line in makefile.splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        match = re.match(r"^([^:=#]+?)\s*::?(?!=)", line)
        if match and target in match.group(1).split():
            return True
    return False


def _plan_new_file(plan: Plan, root: Path, relative: str, content: str) -> None:
    path = root / relative
    old = _read_text(path)
    if old == content:
        plan.notes.append(f"{relative}: up to date")
        return
    if old is not None and INIT_MARKER in old.partition("\n")[0]:
        plan.notes.append(
            f"{relative}: differs from what this kit would write now; left alone (delete it "
            f"and run gauntlet init again to regenerate it)"
        )
        return
    if path.exists():
        plan.notes.append(f"{relative}: exists with other content; left alone")
        return
    plan.changes.append(FileChange(path, None, content))


def _render_precommit(layout: Layout, kit: KitSource) -> str:
    """Render the hooks for the source paths that ``gauntlet run`` checks.

    A hook's ``additional_dependencies`` in the user's config replaces the kit's list, so the lint
    hook names the kit's pylint pin again, then the project's dependencies, because pylint
    imports the code it checks.
    """
    files = ""
    pattern = hook_files_pattern(layout)
    if pattern is not None:
        files = f"\n        files: {json.dumps(pattern)}"

    lint_extra = ""
    dependencies = project_dependencies(layout.root / "pyproject.toml")
    if dependencies:
        lint_extra = (
            f"\n        additional_dependencies: {json.dumps([kit_pylint_pin(), *dependencies])}"
        )
    return render_template(
        "pre-commit-config.yaml", kit, hook_files=files, lint_dependencies=lint_extra
    )


def hook_files_pattern(layout: Layout) -> str | None:
    """Return the pre-commit ``files`` regex for the source paths (None: the whole repository)."""
    parts = [re.escape(package) + "/" for package in layout.packages]
    parts += [re.escape(module) + "$" for module in layout.modules]
    if not parts:
        return None
    return f"^(?:{'|'.join(parts)})"


def kit_pylint_pin() -> str:
    """Return the kit's pylint requirement ("pylint==4.1.4" for kit 0.1.0), or "pylint"."""
    try:
        requirements = metadata.requires(DIST_NAME) or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        name = re.split(r"[\s=<>!~;\[]", requirement, maxsplit=1)[0]
        if name.lower() == "pylint":
            return requirement.split(";", 1)[0].strip()
    return "pylint"


def project_dependencies(pyproject: Path) -> list[str]:
    """Return ``[project] dependencies`` of a pyproject.toml ([] when absent or unreadable)."""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return []
    dependencies = project.get("dependencies", []) if isinstance(project, dict) else []
    return [item for item in dependencies if isinstance(item, str)]


def _render_workflow(root: Path, kit: KitSource) -> str:
    branch = _git_branch(root) or "main"
    note = ""
    if kit.placeholder:
        note = (
            f"# Replace {PLACEHOLDER_WORKFLOW_REPO} (twice below) with the kit's GitHub repository"
        )
        if re.fullmatch(r"[0-9a-f]{40}", kit.workflow_ref):
            note += ".\n"
        else:
            note += ",\n# and pin a full commit SHA of it in place of the tag.\n"
    return render_template("workflow.yml", kit, branch=branch, placeholder_note=note)


def _git_branch(root: Path) -> str | None:
    head = root / ".git" / "HEAD"
    text = _read_text(head)
    if text is None:
        return None
    match = re.match(r"ref: refs/heads/(\S+)", text)
    return match.group(1) if match else None


def _plan_gitignore(plan: Plan, root: Path) -> None:
    path = root / ".gitignore"
    old = _read_text(path)
    if old is None and not (root / ".git").exists():
        return

    present = {line.strip().strip("/") for line in (old or "").splitlines()}
    missing = [entry for entry in GITIGNORE_ENTRIES if entry.strip("/") not in present]
    if not missing:
        return

    lines = ["# ci-gauntlet: reports, the venv and the Allure CLI that `make ci` sets up", *missing]
    plan.changes.append(FileChange(path, old, append_block(old, "\n".join(lines) + "\n")))


def append_block(old: str | None, block: str) -> str:
    """Return ``old`` with ``block`` after one blank line, in the line endings ``old`` uses."""
    if old is None or not old.strip():
        return block
    newline = "\r\n" if "\r\n" in old else "\n"
    return old.rstrip("\r\n") + newline * 2 + block.replace("\n", newline)


# --- templates ---------------------------------------------------------------------------------


def render_template(name: str, kit: KitSource, **extra: str) -> str:
    """Fill ``{{name}}`` placeholders of ``templates/<name>`` from ``kit`` and ``extra``.

    Raises KeyError for a placeholder without a value, so a template typo never ships.
    """
    text = resources.files("gauntlet").joinpath("templates", name).read_text(encoding="utf-8")
    values = {
        "pip_spec": kit.pip_spec,
        "precommit_repo": kit.precommit_repo,
        "precommit_rev": kit.precommit_rev,
        "workflow_repo": kit.workflow_repo,
        "workflow_ref": kit.workflow_ref,
        "workflow_requirement": kit.workflow_requirement,
        "version": __version__,
        **extra,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


# --- output ------------------------------------------------------------------------------------


def render_diff(plan: Plan, root: Path) -> str:
    """Return the unified diff of every planned change, with paths relative to ``root``."""
    chunks = []
    for change in plan.changes:
        if not change.changed:
            continue
        relative = change.path.relative_to(root).as_posix()
        old_lines = (change.old or "").splitlines(keepends=True)
        new_lines = change.new.splitlines(keepends=True)
        from_file = f"a/{relative}" if change.old is not None else "/dev/null"
        diff = difflib.unified_diff(old_lines, new_lines, from_file, f"b/{relative}")
        chunks.append("".join(diff))
    return "".join(chunks)


def write_plan(plan: Plan) -> None:
    """Write every planned file whose content changes; leave identical files untouched."""
    for change in plan.changes:
        if not change.changed:
            continue
        change.path.parent.mkdir(parents=True, exist_ok=True)
        with open(change.path, "w", encoding="utf-8", newline="") as handle:
            handle.write(change.new)
        log.info("wrote %s", change.path)


def _print_summary(plan: Plan, root: Path, *, dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    written = [change for change in plan.changes if change.changed]
    for change in written:
        action = "create" if change.old is None else "update"
        print(f"{verb} {change.path.relative_to(root).as_posix()} ({action})")
    for note in plan.notes:
        print(f"{note}")
    if not written:
        print("nothing to change")


def _read_text(path: Path) -> str | None:
    """Return the file's text with its line endings as they are, or None if it does not exist."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8, "
            f"then run gauntlet init again"
        ) from exc
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror}; fix its permissions, then run gauntlet init again"
        ) from exc
