"""Fixtures for the sample app's tests: an app on a temporary database and logged-in clients."""

import io
import logging

import pytest

from sample_app import create_app, passwords
from sample_app.audit import LOGGER_NAME, JsonLinesFormatter
from sample_app.config import Settings

PASSWORD = "correct horse battery"


# scrypt at N=2**10 instead of the app's N=2**15 keeps each test's logins in milliseconds. A test
# that requests the real_hash_cost fixture runs with the app's own cost.
FAST_HASH_METHOD = "scrypt:1024:8:1"


@pytest.fixture(name="real_hash_cost")
def fixture_real_hash_cost():
    return passwords.HASH_METHOD


@pytest.fixture(autouse=True)
def fixture_fast_hashing(request, monkeypatch):
    if "real_hash_cost" not in request.fixturenames:
        monkeypatch.setattr(passwords, "HASH_METHOD", FAST_HASH_METHOD)


@pytest.fixture(name="settings")
def fixture_settings(tmp_path):
    # The test client talks plain HTTP, so the Secure cookie flag is off here; the cookie tests
    # build their own app with it on.
    return Settings(database=str(tmp_path / "notes.sqlite3"), secure_cookies=False)


@pytest.fixture(name="app")
def fixture_app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture(name="client")
def fixture_client(app):
    return app.test_client()


def register_and_log_in(client, username):
    """Register ``username`` with PASSWORD, log in, and return the new account's id."""
    response = client.post("/api/register", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    return response.get_json()["id"]


@pytest.fixture(name="alice")
def fixture_alice(app):
    client = app.test_client()
    register_and_log_in(client, "alice")
    return client


@pytest.fixture(name="bob")
def fixture_bob(app):
    client = app.test_client()
    register_and_log_in(client, "bob")
    return client


@pytest.fixture(name="audit_lines")
def fixture_audit_lines():
    """Collect the audit log's output; the fixture value is a function returning the lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    logger.removeHandler(handler)
