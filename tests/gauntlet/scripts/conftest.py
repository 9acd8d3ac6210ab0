"""Fixtures of the set-up script tests: see script_sandbox.py."""

from script_sandbox import sandbox  # noqa: F401  pylint: disable=unused-import
