"""Detect a repository's layout for ``gauntlet init``: packages, tests, features, a Dockerfile.

A Flask application is found by static analysis (``ast``), never by importing the code: a
module-level ``create_app`` factory or ``app = Flask(...)`` in a module that imports flask. Its
views become DAST targets when they read request fields (``request.form``, ``request.args``,
JSON) on a fixed path without a guarding decorator such as ``login_required``.
"""

from __future__ import annotations

import ast
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Directories at the root (or under src/) that never contain the package under test.
NON_SOURCE_DIRS = frozenset(
    {
        "tests",
        "test",
        "testing",
        "docs",
        "doc",
        "build",
        "dist",
        "node_modules",
        "venv",
        "env",
        "reports",
        "features",
        "site-packages",
        "__pycache__",
    }
)
NON_CODE_DIRS = frozenset(
    {"node_modules", "venv", "env", "build", "dist", "reports", "__pycache__"}
)
NON_SOURCE_MODULES = frozenset({"setup.py", "conftest.py", "noxfile.py"})
APP_MODULE_NAMES = ("__init__.py", "app.py", "wsgi.py")  # where a Flask app is looked for
ROUTE_DECORATORS = frozenset({"route", "get", "post", "put", "patch", "delete"})
REQUEST_PLACES = {"form": "form", "args": "query", "json": "json", "get_json": "json"}
BODY_METHODS = ("POST", "PUT", "PATCH")
# Password hashing is slow by design: werkzeug's scrypt, bcrypt, PBKDF2.
PASSWORD_HASH_CALLS = frozenset(
    {"generate_password_hash", "check_password_hash", "hashpw", "checkpw", "pbkdf2_hmac", "scrypt"}
)
INIT_DB_COMMAND = re.compile(r"^init[-_]?db$", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    """A view that reads request fields: one DAST target per route and place."""

    method: str  # HTTP method
    path: str  # URL path including the blueprint's url_prefix
    place: str  # where the fields go: "form", "query" or "json"
    fields: tuple[str, ...]  # parameter names the view reads
    hashes_passwords: bool = False  # the view calls a password hash, so each request is slow


@dataclass(frozen=True)
class FlaskApp:
    """A Flask application found in the source, with the views DAST can scan without a session."""

    import_name: str  # the value of ``flask --app``
    source: str  # file that defines the app, relative to the root
    init_db_command: str | None  # a ``flask`` CLI command that creates the database
    routes: tuple[Route, ...]
    skipped_routes: tuple[str, ...]  # "POST /create: <reason>", for the TOML comment
    health_path: str  # a GET route without parameters or guarding decorators


@dataclass(frozen=True)
class Layout:
    """Layout of a repository as ``init`` detected it."""

    root: Path
    packages: tuple[str, ...]  # package directories, relative POSIX paths
    modules: tuple[str, ...]  # top-level modules outside any package
    tests_dir: str | None
    features_dir: str | None
    dockerfile: str | None
    app: FlaskApp | None


def detect_layout(root: Path) -> Layout:
    """Find packages, tests, features, a Dockerfile and a Flask app under ``root``."""
    packages = find_packages(root)
    modules = tuple(
        path.name
        for path in sorted(root.glob("*.py"))
        if path.is_file() and path.name not in NON_SOURCE_MODULES
    )
    tests_dir = next((name for name in ("tests", "test") if (root / name).is_dir()), None)

    features_dir = None
    if (root / "features").is_dir() and any((root / "features").rglob("*.feature")):
        features_dir = "features"

    dockerfile = "Dockerfile" if (root / "Dockerfile").is_file() else None
    app = find_flask_app(root, packages, modules)
    return Layout(root, packages, modules, tests_dir, features_dir, dockerfile, app)


def contains_python_files(root: Path) -> bool:
    """Return True when a ``.py`` file exists under ``root``, outside venvs and hidden dirs."""
    for directory, subdirectories, files in os.walk(root):
        if any(name.endswith(".py") for name in files):
            return True
        subdirectories[:] = [
            name
            for name in subdirectories
            if not name.startswith(".")
            and name not in NON_CODE_DIRS
            and not (Path(directory) / name / "pyvenv.cfg").exists()
        ]
    return False


def find_packages(root: Path) -> tuple[str, ...]:
    """Return the package directories at the root and under src/, skipping tests and venvs."""
    found = []
    for base in (root, root / "src"):
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            if _is_source_package(child):
                found.append(child.relative_to(root).as_posix())
    return tuple(found)


def _is_source_package(path: Path) -> bool:
    name = path.name
    if not path.is_dir() or name.startswith(".") or name in NON_SOURCE_DIRS:
        return False
    if name.endswith(".egg-info") or (path / "pyvenv.cfg").exists():
        return False
    return (path / "__init__.py").is_file()


def find_flask_app(
    root: Path, packages: tuple[str, ...], modules: tuple[str, ...]
) -> FlaskApp | None:
    """Return the first Flask app (a ``create_app`` factory or an ``app = Flask(...)``)."""
    candidates: list[tuple[Path, str, Path]] = []  # (module file, import name, scan scope)
    for package in packages:
        import_name = package.removeprefix("src/").replace("/", ".")
        for module_name in APP_MODULE_NAMES:
            suffix = "" if module_name == "__init__.py" else "." + module_name[:-3]
            candidates.append((root / package / module_name, import_name + suffix, root / package))
    for module in modules:
        candidates.append((root / module, module[:-3], root / module))

    for module_path, import_name, scope in candidates:
        tree = parse_python(module_path)
        if tree is not None and _imports_flask(tree) and _defines_flask_app(tree):
            return _describe_app(root, module_path, import_name, scope)
    return None


@dataclass
class _RouteScan:
    """Targets, skipped routes and plain GET paths found in an app's modules."""

    routes: list[Route] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    get_paths: list[str] = field(default_factory=list)


def _describe_app(root: Path, module_path: Path, import_name: str, scope: Path) -> FlaskApp:
    files = sorted(scope.rglob("*.py")) if scope.is_dir() else [scope]
    scan = _RouteScan()
    init_db_command = None

    for path in files:
        tree = parse_python(path)
        if tree is None:
            continue
        init_db_command = init_db_command or _find_init_db_command(tree)
        _collect_routes(tree, scan)

    health_path = "/"
    if scan.get_paths and "/" not in scan.get_paths:
        health_path = sorted(scan.get_paths)[0]
    return FlaskApp(
        import_name=import_name,
        source=module_path.relative_to(root).as_posix(),
        init_db_command=init_db_command,
        routes=tuple(scan.routes),
        skipped_routes=tuple(scan.skipped),
        health_path=health_path,
    )


def parse_python(path: Path) -> ast.Module | None:
    """Return the module's syntax tree, or None when it cannot be read or parsed."""
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        log.debug("not scanned for a Flask app: %s (%s)", path, exc)
        return None


def _imports_flask(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "flask" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flask":
            return True
    return False


def _defines_flask_app(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "create_app":
            return True
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            targets = [target.id for target in node.targets if isinstance(target, ast.Name)]
            if "app" in targets and _call_name(node.value) == "Flask":
                return True
    return False


def _call_name(call: ast.Call) -> str:
    """Return the last name of the called object: ``Flask`` for ``flask.Flask(...)``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _find_init_db_command(tree: ast.Module) -> str | None:
    """Return the name of a click command such as ``init-db`` that creates the database."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call) or _call_name(decorator) != "command":
                continue
            name = _first_string_arg(decorator)
            if name is not None and INIT_DB_COMMAND.match(name):
                return name
    return None


def _first_string_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _blueprint_prefixes(tree: ast.Module) -> dict[str, str]:
    """Map each module-level ``name = Blueprint(..., url_prefix="/x")`` to its prefix."""
    prefixes = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
            continue
        if _call_name(node.value) != "Blueprint":
            continue
        prefix = ""
        for keyword in node.value.keywords:
            if keyword.arg == "url_prefix" and isinstance(keyword.value, ast.Constant):
                prefix = str(keyword.value.value).rstrip("/")
        for target in node.targets:
            if isinstance(target, ast.Name):
                prefixes[target.id] = prefix
    return prefixes


def _collect_routes(tree: ast.Module, scan: _RouteScan) -> None:
    """Add the module's views that read request fields to the scan; explain the rest."""
    prefixes = _blueprint_prefixes(tree)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        rules = [_route_rule(decorator, prefixes) for decorator in node.decorator_list]
        if not any(rules):
            continue

        guards = [
            ast.unparse(decorator)
            for decorator, rule in zip(node.decorator_list, rules)
            if rule is None
        ]
        fields = _request_fields(node)
        hashes = _calls_password_hash(node)
        for rule in rules:
            if rule is not None:
                _add_route(scan, rule, fields, guards, hashes)


def _add_route(
    scan: _RouteScan,
    rule: tuple[str, tuple[str, ...]],
    fields: dict[str, list[str]],
    guards: list[str],
    hashes_passwords: bool,
) -> None:
    path, methods = rule
    if not fields:
        if "GET" in methods and "<" not in path and not guards:
            scan.get_paths.append(path)
        return

    label = f"{'/'.join(methods)} {path}"
    if "<" in path:
        scan.skipped.append(f"{label}: the path has variable parts; add a target with real values")
        return
    if guards:
        scan.skipped.append(
            f"{label}: decorated with {', '.join(guards)}, which may need a session; add a "
            f"target with a login step"
        )
        return

    for place, names in sorted(fields.items()):
        method = _method_for(place, methods)
        if method is None:
            scan.skipped.append(f"{label}: reads {place} fields but accepts no matching method")
            continue
        scan.routes.append(Route(method, path, place, tuple(names), hashes_passwords))


def _calls_password_hash(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and _call_name(node) in PASSWORD_HASH_CALLS:
            return True
    return False


def _method_for(place: str, methods: tuple[str, ...]) -> str | None:
    if place == "query":
        return "GET" if "GET" in methods else methods[0]
    return next((method for method in BODY_METHODS if method in methods), None)


def _route_rule(
    decorator: ast.expr, prefixes: dict[str, str]
) -> tuple[str, tuple[str, ...]] | None:
    """Return (path, methods) for ``@bp.route("/x", methods=[...])`` and ``@bp.post("/x")``."""
    if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
        return None
    kind = decorator.func.attr
    owner = decorator.func.value
    path = _first_string_arg(decorator)
    if kind not in ROUTE_DECORATORS or path is None or not isinstance(owner, ast.Name):
        return None

    methods: tuple[str, ...] = ("GET",) if kind == "route" else (kind.upper(),)
    for keyword in decorator.keywords:
        if keyword.arg == "methods" and isinstance(keyword.value, (ast.List, ast.Tuple, ast.Set)):
            methods = tuple(
                str(element.value).upper()
                for element in keyword.value.elts
                if isinstance(element, ast.Constant)
            )
    full_path = prefixes.get(owner.id, "") + path
    return full_path or "/", methods


def _request_fields(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, list[str]]:
    """Return the names a view reads from ``request.form``, ``.args`` and JSON, by place.

    A local name bound to one of them (``data = request.get_json()``) counts as that place.
    """
    aliases = _request_aliases(function)
    fields: dict[str, list[str]] = {}
    for node in ast.walk(function):
        found = _request_field(node, aliases)
        if found is None:
            continue
        place, name = found
        names = fields.setdefault(place, [])
        if name not in names:
            names.append(name)
    return fields


def _request_aliases(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """Map each local name assigned from ``request.form`` and the like to its place."""
    aliases = {}
    for node in ast.walk(function):
        if not isinstance(node, ast.Assign):
            continue
        place = _request_place(node.value, {})
        if place is None:
            continue
        for target in node.targets:
            if isinstance(target, ast.Name):
                aliases[target.id] = place
    return aliases


def _request_field(node: ast.AST, aliases: dict[str, str]) -> tuple[str, str] | None:
    """Match ``request.form["x"]``, ``request.form.get("x")`` and ``request.get_json()["x"]``."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        place = _request_place(node.value, aliases)
        if place is not None and isinstance(node.slice.value, str):
            return place, node.slice.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in ("get", "getlist"):
            place = _request_place(node.func.value, aliases)
            name = _first_string_arg(node)
            if place is not None and name is not None:
                return place, name
    return None


def _request_place(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """Return the place of ``request.form``, ``.args``, ``.json``, ``get_json()`` or an alias."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func
    if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Name):
        return None
    if node.value.id != "request":
        return None
    return REQUEST_PLACES.get(node.attr)


def uses_sqlite(layout: Layout) -> bool:
    """Return True when the app's modules import sqlite3 (so sqlmap can skip other DBMS)."""
    app = layout.app
    if app is None:
        return False
    scope = layout.root / app.source
    files = sorted(scope.parent.rglob("*.py")) if scope.name == "__init__.py" else [scope]
    for path in files:
        tree = parse_python(path)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "sqlite3" for a in node.names):
                return True
    return False
