"""ci-gauntlet: one pipeline of quality and security gates for Python repositories."""

__version__ = "0.1.0"
