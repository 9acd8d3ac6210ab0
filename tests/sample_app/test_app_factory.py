"""Tests of sample_app.create_app: configuration, schema creation and the demo account."""

import json

from sample_app import create_app
from sample_app.config import Settings


def demo_settings(tmp_path):
    return Settings(
        database=str(tmp_path / "db.sqlite3"),
        secure_cookies=False,
        demo_user="demo",
        demo_password="demo password",
    )


def test_app_config_from_settings(tmp_path):
    settings = Settings(database=str(tmp_path / "db.sqlite3"), max_body_bytes=1024)
    app = create_app(settings)
    assert app.config["MAX_CONTENT_LENGTH"] == 1024
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"


def test_app_default_settings_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    create_app()
    assert (tmp_path / "sample_app.sqlite3").is_file()


def test_demo_account_can_log_in(tmp_path):
    client = create_app(demo_settings(tmp_path)).test_client()
    response = client.post("/api/login", json={"username": "demo", "password": "demo password"})
    assert response.status_code == 200


def test_demo_account_seeded_once(tmp_path, audit_lines):
    create_app(demo_settings(tmp_path))
    create_app(demo_settings(tmp_path))
    outcomes = [json.loads(line)["outcome"] for line in audit_lines()]
    assert outcomes == ["created", "exists"]
