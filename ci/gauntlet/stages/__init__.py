"""The stage registry: a new stage is one module here plus one line in ``_STAGE_MODULES``.

Stages are listed in pipeline order; ``needs`` decides what may run in parallel.
"""

from __future__ import annotations

import importlib

from gauntlet.stage import Stage

_STAGE_MODULES = (
    "gauntlet.stages.format",
    "gauntlet.stages.lint",
    "gauntlet.stages.sast",
    "gauntlet.stages.unit",
    "gauntlet.stages.bdd",
    "gauntlet.stages.coverage",
    "gauntlet.stages.image",
    "gauntlet.stages.dast",
)


def all_stages() -> dict[str, Stage]:
    """Return one instance of every registered stage, by name, in pipeline order."""
    stages: dict[str, Stage] = {}
    for module_name in _STAGE_MODULES:
        module = importlib.import_module(module_name)
        stage = module.STAGE
        stages[stage.name] = stage
    return stages
