"""Load ``[tool.gauntlet]`` from pyproject.toml into a typed, validated ``Config``.

Every option is declared once, as a field of a frozen dataclass: the top-level keys in
``TopLevelOptions``, each stage's keys in its ``options_class``, and the two keys every stage table
has (``enabled``, ``timeout``) in ``StageControl``. A value comes from, in rising precedence:

    the field's default < pyproject.toml < environment variable < command-line flag

Environment variables are ``GAUNTLET_<KEY>`` for top-level keys and ``GAUNTLET_<STAGE>_<KEY>`` for
stage keys (``GAUNTLET_<STAGE>_<TABLE>_<KEY>`` inside a nested table), upper-case. Their text is
read as: bool ``1/0/true/false/yes/no``, a number, a comma-separated list for arrays, and
``K=V,K2=V2`` for string tables. Arrays of tables cannot be set from the environment.

A bad value raises ``UsageError`` with one line that names where the value came from, the value
and what is allowed, for example::

    [tool.gauntlet.coverage] fail_under = 'ninety' is invalid: expected a number from 0 to 100

Field metadata understood besides ``help``: ``min`` and ``max`` (inclusive bounds of a number) and
``gt`` (an exclusive lower bound). A ``__post_init__`` that raises ``UsageError`` passes its own
message through; ``ValueError`` and ``TypeError`` are reported with the table name in front.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from gauntlet.errors import UsageError
from gauntlet.stage import RunSettings, Stage

log = logging.getLogger(__name__)

PYPROJECT = "pyproject.toml"
ENV_PREFIX = "GAUNTLET_"
DEFAULT_TIMEOUT_S = 900.0

# Top-level directories that are never the package under test when paths are detected.
_NOT_SOURCE_DIRS = {"tests", "test", "docs", "doc", "build", "dist", "examples", "benchmarks"}

_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class TopLevelOptions:
    """Keys of ``[tool.gauntlet]`` itself (stage tables aside)."""

    paths: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "source paths that format, lint, sast and coverage check, relative to the "
            "root; empty means src/ or the detected package directory"
        },
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata={"help": "paths relative to the root that every tool skips"},
    )
    reports: str = field(
        default="reports",
        metadata={"help": "directory for every report, relative to the root"},
    )
    jobs: int | None = field(
        default=None,
        metadata={"help": "stages run at once; default one per CPU", "min": 1},
    )
    fail_fast: bool = field(
        default=False,
        metadata={"help": "cancel the remaining stages after the first failed or errored one"},
    )
    timeout: float = field(
        default=DEFAULT_TIMEOUT_S,
        metadata={"help": "default time limit of each stage, in seconds", "gt": 0},
    )


@dataclass(frozen=True)
class StageControl:
    """Keys of every ``[tool.gauntlet.<stage>]`` table that the pipeline handles itself."""

    enabled: bool = field(default=True, metadata={"help": "false skips the stage"})
    timeout: float | None = field(
        default=None,
        metadata={
            "help": "time limit of the stage in seconds; default the top-level timeout",
            "gt": 0,
        },
    )


RESERVED_STAGE_KEYS = tuple(item.name for item in dataclasses.fields(StageControl))


@dataclass(frozen=True)
class StageConfig:
    """One stage's validated table: the pipeline's keys plus the stage's options instance."""

    enabled: bool
    timeout_s: float
    options: Any


@dataclass(frozen=True)
class Config:
    """The validated configuration of one repository, with every default filled in."""

    root: Path
    pyproject: Path | None  # None when the root has no pyproject.toml
    paths: tuple[str, ...]
    exclude: tuple[str, ...]
    reports_dir: Path  # absolute
    jobs: int
    fail_fast: bool
    timeout_s: float
    stages: dict[str, StageConfig]
    sources: dict[str, str]  # dotted key -> where its value came from, for keys not left at default

    def run_settings(self, run_id: str) -> RunSettings:
        """Return the settings every stage of one run shares."""
        return RunSettings(
            root=self.root,
            reports_dir=self.reports_dir,
            run_id=run_id,
            paths=self.paths,
            exclude=self.exclude,
            timeout_s=self.timeout_s,
        )


class _Invalid(Exception):
    """Raised when a value does not fit its field; ``expected`` describes the allowed values."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


@dataclass(frozen=True)
class _Origins:
    """Source labels, by key path, of the values that did not come from pyproject.toml."""

    labels: dict[tuple[Any, ...], str] = field(default_factory=dict)
    texts: dict[tuple[Any, ...], str] = field(default_factory=dict)  # environment variable text

    def shown_value(self, path: tuple[Any, ...], value: Any) -> Any:
        """Return the value as its source wrote it: the text of an environment variable."""
        return self.texts.get(path, value)

    def label(self, path: tuple[Any, ...], stage: str | None) -> str:
        if path in self.labels:
            return self.labels[path]
        return file_location(stage, path)


def file_location(stage: str | None, path: tuple[Any, ...]) -> str:
    """Return ``[tool.gauntlet.lint] fail_on[2]`` style text for a key path inside a table."""
    table = f"[tool.gauntlet.{stage}]" if stage else "[tool.gauntlet]"
    key = ""
    for part in path:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
    return f"{table} {key}" if key else table


def load(
    root: Path,
    stages: Mapping[str, Stage],
    *,
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read, merge and validate the configuration of the repository at ``root``.

    ``cli`` maps top-level keys to values from command-line flags (None entries are ignored);
    ``env`` defaults to ``os.environ``.
    """
    root = root.resolve()
    environ = os.environ if env is None else env
    pyproject = root / PYPROJECT
    table = read_table(pyproject)
    if not pyproject.is_file():
        pyproject = None

    stage_tables = {name: table.pop(name) for name in list(table) if name in stages}
    check_top_level_keys(table, stages)

    origins = _Origins()
    sources: dict[str, str] = {key: f"{PYPROJECT} [tool.gauntlet]" for key in table}
    apply_environment(table, TopLevelOptions, (), ENV_PREFIX, environ, origins, sources, None)
    apply_cli(table, cli or {}, origins, sources)
    top = build(TopLevelOptions, table, (), None, origins)

    stage_configs = {}
    for name, stage in stages.items():
        stage_table = stage_tables.get(name, {})
        if not isinstance(stage_table, dict):
            raise UsageError(
                f"[tool.gauntlet] {name} = {stage_table!r} is invalid: expected a table "
                f"[tool.gauntlet.{name}]"
            )
        stage_configs[name] = load_stage(name, stage, dict(stage_table), top, environ, sources)

    check_unknown_environment(environ, stages)
    for key, source in sources.items():
        log.debug("config: %s from %s", key, source)
    return Config(
        root=root,
        pyproject=pyproject,
        paths=resolve_paths(root, top.paths, origins.label(("paths",), None)),
        exclude=tuple(normalize_relative(item) for item in top.exclude),
        reports_dir=resolve_reports_dir(root, top.reports, origins.label(("reports",), None)),
        jobs=top.jobs if top.jobs is not None else os.cpu_count() or 1,
        fail_fast=top.fail_fast,
        timeout_s=top.timeout,
        stages=stage_configs,
        sources=sources,
    )


def read_table(pyproject: Path) -> dict[str, Any]:
    """Return a copy of ``[tool.gauntlet]`` in ``pyproject``, or {} when either is absent."""
    if not pyproject.is_file():
        log.debug("no %s in %s: every option keeps its default", PYPROJECT, pyproject.parent)
        return {}

    try:
        with open(pyproject, "rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(describe_toml_error(pyproject, exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {pyproject}: {exc.strerror}") from None

    tool = document.get("tool", {})
    table = tool.get("gauntlet", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise UsageError(
            f"{pyproject}: tool.gauntlet = {table!r} is invalid: expected a table [tool.gauntlet]"
        )
    if not table:
        log.debug("%s has no [tool.gauntlet] table: every option keeps its default", pyproject)
    return dict(table)


def describe_toml_error(pyproject: Path, exc: tomllib.TOMLDecodeError) -> str:
    """Return one line naming the file, line and column of a TOML syntax error."""
    text = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    reason = re.sub(r"\s*\(at .*\)$", "", text)
    if match:
        where = f"line {match.group(1)}, column {match.group(2)}"
    else:
        line_count = len(pyproject.read_text(encoding="utf-8", errors="replace").splitlines())
        where = f"line {line_count} (end of file)"
    return f"{pyproject}: invalid TOML at {where}: {reason}; fix the syntax there"


def check_top_level_keys(table: Mapping[str, Any], stages: Mapping[str, Stage]) -> None:
    """Raise UsageError for a key that is neither a top-level option nor a stage table."""
    known = [item.name for item in dataclasses.fields(TopLevelOptions)]
    for key in table:
        if key not in known:
            allowed = ", ".join(known) + "; stage tables: " + ", ".join(stages)
            raise UsageError(
                f"[tool.gauntlet] {key} is not a known key{suggest(key, [*known, *stages])}: "
                f"expected one of {allowed}"
            )


def load_stage(
    name: str,
    stage: Stage,
    table: dict[str, Any],
    top: TopLevelOptions,
    environ: Mapping[str, str],
    sources: dict[str, str],
) -> StageConfig:
    """Validate one stage table: the reserved keys, then the stage's own options."""
    options_class = stage.options_class
    clashes = [
        item.name for item in dataclasses.fields(options_class) if item.name in RESERVED_STAGE_KEYS
    ]
    if clashes:
        raise TypeError(f"{options_class.__name__} must not declare reserved keys {clashes}")

    for key in table:
        sources[f"{name}.{key}"] = f"{PYPROJECT} [tool.gauntlet.{name}]"
    control_table = {key: table.pop(key) for key in RESERVED_STAGE_KEYS if key in table}
    origins = _Origins()
    prefix = f"{ENV_PREFIX}{env_word(name)}_"
    apply_environment(control_table, StageControl, (), prefix, environ, origins, sources, name)
    apply_environment(table, options_class, (), prefix, environ, origins, sources, name)

    control = build(StageControl, control_table, (), name, origins)
    options = build(options_class, table, (), name, origins)
    return StageConfig(
        enabled=control.enabled,
        timeout_s=control.timeout if control.timeout is not None else top.timeout,
        options=options,
    )


def build(
    cls: type, table: Mapping[str, Any], path: tuple[Any, ...], stage: str | None, origins: _Origins
) -> Any:
    """Return an instance of the dataclass ``cls`` from a TOML table, validating every key."""
    fields = {item.name: item for item in dataclasses.fields(cls) if item.init}
    hints = typing.get_type_hints(cls)
    allowed = list(fields)
    if stage and not path and cls is not StageControl:
        allowed += RESERVED_STAGE_KEYS
    for key in table:
        if key not in fields:
            raise UsageError(
                f"{file_location(stage, (*path, key))} is not a known key{suggest(key, allowed)}: "
                f"expected one of {', '.join(allowed) or 'no keys'}"
            )

    values = {}
    for key, value in table.items():
        item = fields[key]
        key_path = (*path, key)
        values[key] = convert(value, hints[key], item.metadata, key_path, stage, origins)

    # A __post_init__ that raises UsageError has written its own message; it passes through.
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{file_location(stage, path)} is invalid: {exc}") from None


def convert(
    value: Any,
    hint: Any,
    metadata: Mapping[str, Any],
    path: tuple[Any, ...],
    stage: str | None,
    origins: _Origins,
) -> Any:
    """Return ``value`` checked against and converted to the type ``hint``; raise UsageError."""
    try:
        return convert_value(value, hint, metadata, path, stage, origins)
    except _Invalid as exc:
        location = origins.label(path, stage)
        displayed = origins.shown_value(path, value)
        raise UsageError(
            f"{location} = {displayed!r} is invalid: expected {exc.expected}"
        ) from None


def convert_value(
    value: Any,
    hint: Any,
    metadata: Mapping[str, Any],
    path: tuple[Any, ...],
    stage: str | None,
    origins: _Origins,
) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not types.NoneType]
        if len(inner) != 1:
            raise TypeError(f"unsupported option type {hint!r}")
        return convert_value(value, inner[0], metadata, path, stage, origins)
    if hint is bool:
        if not isinstance(value, bool):
            raise _Invalid("true or false")
        return value
    if hint is int:
        return check_bounds(value, metadata, integer=True)
    if hint is float:
        return float(check_bounds(value, metadata, integer=False))
    if hint is str:
        if not isinstance(value, str):
            raise _Invalid("a string")
        return value
    if origin is Literal:
        if value not in args:
            raise _Invalid("one of " + ", ".join(repr(arg) for arg in args))
        return value
    if origin is tuple:
        return convert_tuple(value, args, path, stage, origins)
    if origin is dict:
        return convert_dict(value, args)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _Invalid(
                f"a table of {', '.join(item.name for item in dataclasses.fields(hint))}"
            )
        return build(hint, value, path, stage, origins)
    raise TypeError(f"unsupported option type {hint!r} at {'.'.join(map(str, path))}")


def check_bounds(value: Any, metadata: Mapping[str, Any], *, integer: bool) -> int | float:
    """Check a number against the ``min``/``max``/``gt`` metadata; bools are not numbers."""
    is_number = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not is_number or math.isnan(value):
        raise _Invalid(describe_number(metadata, integer))

    low, high, above = metadata.get("min"), metadata.get("max"), metadata.get("gt")
    if (
        (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
    ):
        raise _Invalid(describe_number(metadata, integer))
    return value


def describe_number(metadata: Mapping[str, Any], integer: bool) -> str:
    """Return "a number from 0 to 100" style text for a number field's bounds."""
    noun = "an integer" if integer else "a number"
    low, high, above = metadata.get("min"), metadata.get("max"), metadata.get("gt")
    if low is not None and high is not None:
        return f"{noun} from {low:g} to {high:g}"
    if low is not None:
        return f"{noun} >= {low:g}"
    if above is not None:
        return f"{noun} > {above:g}"
    if high is not None:
        return f"{noun} <= {high:g}"
    return noun


def convert_tuple(
    value: Any, args: tuple[Any, ...], path: tuple[Any, ...], stage: str | None, origins: _Origins
) -> tuple[Any, ...]:
    if len(args) != 2 or args[1] is not Ellipsis:
        raise TypeError(f"unsupported option type tuple{list(args)}: use tuple[X, ...]")
    item_hint = args[0]
    if not isinstance(value, list):
        if dataclasses.is_dataclass(item_hint):
            raise _Invalid("an array of tables ([[...]])")
        raise _Invalid(f"an array of {describe_hint(item_hint)}")

    items = []
    for index, item in enumerate(value):
        items.append(convert(item, item_hint, {}, (*path, index), stage, origins))
    return tuple(items)


def convert_dict(value: Any, args: tuple[Any, ...]) -> dict[str, str]:
    if args != (str, str):
        raise TypeError(f"unsupported option type dict{list(args)}: use dict[str, str]")
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise _Invalid("a table of string values")
    return dict(value)


def describe_hint(hint: Any) -> str:
    """Return "strings" style text for the element type of an array."""
    if hint is str:
        return "strings"
    if hint is int:
        return "integers"
    if hint is float:
        return "numbers"
    if typing.get_origin(hint) is Literal:
        return "values from " + ", ".join(repr(arg) for arg in typing.get_args(hint))
    return "values"


def apply_environment(
    table: dict[str, Any],
    cls: type,
    path: tuple[str, ...],
    prefix: str,
    environ: Mapping[str, str],
    origins: _Origins,
    sources: dict[str, str],
    stage: str | None,
) -> None:
    """Overlay ``<prefix><KEY>`` environment variables onto ``table`` (nested tables recurse)."""
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        hint = unwrap_optional(hints[item.name])
        variable = f"{prefix}{env_word(item.name)}"
        key_path = (*path, item.name)
        if dataclasses.is_dataclass(hint):
            nested = table.get(item.name)
            nested = dict(nested) if isinstance(nested, dict) else {}
            before = dict(nested)
            apply_environment(
                nested, hint, key_path, f"{variable}_", environ, origins, sources, stage
            )
            if nested != before:
                table[item.name] = nested
            continue
        if variable not in environ:
            continue

        raw = environ[variable]
        label = f"environment variable {variable}"
        try:
            table[item.name] = parse_environment_text(raw, hint)
        except _Invalid as exc:
            raise UsageError(f"{label} = {raw!r} is invalid: expected {exc.expected}") from None
        origins.labels[key_path] = label
        origins.texts[key_path] = raw
        dotted = ".".join([stage, *key_path] if stage else key_path)
        sources[dotted] = label


def parse_environment_text(raw: str, hint: Any) -> Any:
    """Turn an environment variable's text into the TOML-shaped value for ``hint``."""
    origin = typing.get_origin(hint)
    text = raw.strip()
    if hint is bool:
        if text.lower() in _TRUE_WORDS:
            return True
        if text.lower() in _FALSE_WORDS:
            return False
        raise _Invalid("1, 0, true or false")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise _Invalid("an integer") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise _Invalid("a number") from None
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if dataclasses.is_dataclass(item_hint):
            raise _Invalid("nothing: arrays of tables are set in pyproject.toml only")
        return [parse_environment_text(part, item_hint) for part in split_list(text)]
    if origin is dict:
        return parse_environment_table(text)
    return raw


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_environment_table(text: str) -> dict[str, str]:
    table = {}
    for part in split_list(text):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise _Invalid("KEY=VALUE pairs separated by commas")
        table[key.strip()] = value.strip()
    return table


def apply_cli(
    table: dict[str, Any], cli: Mapping[str, Any], origins: _Origins, sources: dict[str, str]
) -> None:
    """Overlay command-line values; each counts as given by its flag ``--<key>``."""
    for key, value in cli.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        table[key] = list(value) if isinstance(value, tuple) else value
        origins.labels[(key,)] = flag
        sources[key] = flag


def check_unknown_environment(environ: Mapping[str, str], stages: Mapping[str, Stage]) -> None:
    """Warn about a ``GAUNTLET_`` variable that looks like a misspelt option.

    Other ``GAUNTLET_`` variables exist (set by the kit for deployed processes and tests), so an
    unknown one is only reported when it is close to a known option name.
    """
    known = set(environment_names(TopLevelOptions, ENV_PREFIX))
    for name, stage in stages.items():
        prefix = f"{ENV_PREFIX}{env_word(name)}_"
        known.update(environment_names(StageControl, prefix))
        known.update(environment_names(stage.options_class, prefix))

    for variable in environ:
        if not variable.startswith(ENV_PREFIX) or variable in known:
            continue
        close = difflib.get_close_matches(variable, sorted(known), n=1, cutoff=0.85)
        if close:
            log.warning(
                "ignoring environment variable %s: no such option; did you mean %s?",
                variable,
                close[0],
            )
        else:
            log.debug("environment variable %s is not an option", variable)


def environment_names(cls: type, prefix: str) -> list[str]:
    """Return every environment variable name that sets a field of ``cls``."""
    names = []
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        variable = f"{prefix}{env_word(item.name)}"
        hint = unwrap_optional(hints[item.name])
        if dataclasses.is_dataclass(hint):
            names.extend(environment_names(hint, f"{variable}_"))
        else:
            names.append(variable)
    return names


def env_word(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not types.NoneType]
        if len(inner) == 1:
            return inner[0]
    return hint


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_paths(root: Path, configured: tuple[str, ...], location: str) -> tuple[str, ...]:
    """Return the source paths, relative to root; raise UsageError for one that does not exist.

    An empty ``configured`` means: detect them (src/, else the top-level package directories).
    """
    if not configured:
        detected = detect_source_paths(root)
        if not detected:
            raise UsageError(
                f"no source paths: {root} has no src/ directory and no package directory; "
                f'set paths = ["your_package"] under [tool.gauntlet] in {PYPROJECT}'
            )
        log.debug("source paths detected: %s", ", ".join(detected))
        return detected

    paths = []
    for item in configured:
        relative = normalize_relative(item)
        full = (root / relative).resolve()
        if not full.is_relative_to(root):
            raise UsageError(
                f"{location}: source path {item!r} is outside the repository root {root}; "
                f"use a path inside it"
            )
        if not full.exists():
            raise UsageError(
                f"{location}: source path {item!r} does not exist under {root}; fix or remove it"
            )
        paths.append(relative)
    return tuple(paths)


def detect_source_paths(root: Path) -> tuple[str, ...]:
    """Return ("src",) when it exists, else the top-level package directories (may be empty)."""
    if (root / "src").is_dir():
        return ("src",)

    packages = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child.name in _NOT_SOURCE_DIRS:
            continue
        if child.is_dir() and (child / "__init__.py").is_file():
            packages.append(child.name)
    return tuple(packages)


def normalize_relative(item: str) -> str:
    """Return a path as POSIX text relative to the root ("./a/" -> "a")."""
    return Path(item).as_posix().rstrip("/").removeprefix("./") or "."


def resolve_reports_dir(root: Path, reports: str, location: str) -> Path:
    """Return the absolute reports directory.

    Raises UsageError when it is empty text, the filesystem root, the repository root or an
    ancestor of it, since each run deletes folders in it.
    """
    path = (root / reports).resolve()
    is_filesystem_root = path == Path(path.anchor)
    if not reports.strip() or is_filesystem_root or root.is_relative_to(path):
        raise UsageError(
            f"{location} = {reports!r} is invalid: expected a directory of its own inside or "
            f"beside the repository, such as 'reports', not the root, a directory above it or / "
            f"(each run cleans it)"
        )
    return path


def describe_options(cls: type) -> list[tuple[str, str, str]]:
    """Return (key, default, help) for each field of an options dataclass, for docs and ``list``."""
    rows = []
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = None
        rows.append((item.name, repr(default), item.metadata.get("help", "")))
    return rows
