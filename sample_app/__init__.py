"""A small notes service on Flask and SQLite that follows sound web-security practice.

It is the default target of ci-gauntlet's gates. Create the WSGI app with ``create_app``; run it
with ``python -m sample_app`` (see ``sample_app.config.load_settings`` for the environment
variables).
"""

from flask import Flask

from . import api, auth, db, security, web
from .audit import audit_event, get_audit_logger
from .config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app, create the database schema and seed the demo account if configured."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.config.update(
        DATABASE=settings.database,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=auth.SESSION_LIFETIME,
    )

    get_audit_logger()
    security.install(app)
    app.teardown_appcontext(db.close_connection)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(web.blueprint)
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])

    db.init_schema(settings.database)
    if settings.demo_user and settings.demo_password:
        seed_demo_account(settings)
    return app


def healthz():
    """GET /healthz: 200 without authentication, for readiness checks."""
    return {"status": "ok"}


def seed_demo_account(settings: Settings) -> None:
    """Create the demo account from the settings unless it exists, and audit the result."""
    connection = db.connect(settings.database)
    try:
        created = auth.seed_demo_user(connection, settings.demo_user, settings.demo_password)
    finally:
        connection.close()
    audit_event("demo_account", "created" if created else "exists", username=settings.demo_user)
