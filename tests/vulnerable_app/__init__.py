"""A deliberately vulnerable twin of sample_app, kept only so tests can prove each gate trips.

Never deploy it and never import it from sample_app. It serves the same endpoints as sample_app,
with these planted defects:

- string-built SQL on the ``q`` query parameter of ``GET /api/notes`` (GET-parameter injection),
- string-built SQL on the ``username`` field of the ``POST /login`` form, with no CSRF token check
  (form-field injection),
- string-built SQL on the ``title`` field of ``POST /api/notes`` (JSON-field injection),
- no ownership check on ``GET``/``PUT``/``DELETE /api/notes/<id>``,
- no security headers, and error bodies that carry the exception text,
- a hard-coded secret key, unsalted SHA-256 password hashes, and a Dockerfile that runs as root.

Run it from the ``tests`` directory with ``python -m vulnerable_app`` (``python -m
tests.vulnerable_app`` from the repository root works too). It reads the same environment
variables as sample_app: ``PORT`` (default 8000), ``SAMPLE_APP_HOST`` (default 127.0.0.1),
``SAMPLE_APP_DB`` (SQLite path, default ``vulnerable_app.sqlite3`` in the working directory),
``SAMPLE_APP_DEMO_USER`` and ``SAMPLE_APP_DEMO_PASSWORD``. It ignores the security settings.
"""

from .app import create_app

__all__ = ["create_app"]
