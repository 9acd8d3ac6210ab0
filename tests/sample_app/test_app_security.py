"""Tests of sample_app.security: headers on every response and generic error bodies."""

import pytest

from sample_app import create_app
from sample_app.config import Settings
from sample_app.security import SECURITY_HEADERS

INTERNALS = ("Traceback", "SELECT", "sqlite", ".py", "line ", "gunicorn", "Werkzeug", "Python")


@pytest.fixture(name="failing_app")
def fixture_failing_app(settings):
    """The app with one extra route that fails like a broken query would."""
    app = create_app(settings)

    @app.get("/boom")
    def boom():
        raise RuntimeError('sqlite3 error near "SELECT * FROM users" in /srv/sample_app/db.py')

    return app


def assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


def test_headers_on_success(client):
    assert_security_headers(client.get("/healthz"))


def test_headers_on_html_page(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert_security_headers(response)


def test_headers_on_bad_request(alice):
    response = alice.post("/api/notes", json={"title": ""})
    assert response.status_code == 400
    assert_security_headers(response)


def test_headers_on_unauthorized(client):
    response = client.get("/api/notes")
    assert response.status_code == 401
    assert_security_headers(response)


def test_headers_on_not_found(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.get_json() == {"error": "not found"}
    assert_security_headers(response)


def test_headers_on_method_not_allowed(client):
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.get_json() == {"error": "method not allowed"}
    assert_security_headers(response)


def test_headers_on_too_large(client):
    response = client.post("/api/register", data="x" * 20000, content_type="application/json")
    assert response.status_code == 413
    assert_security_headers(response)


def test_server_error_generic_body(failing_app):
    response = failing_app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}


def test_server_error_hides_internals(failing_app):
    body = failing_app.test_client().get("/boom").get_data(as_text=True)
    for text in INTERNALS:
        assert text not in body, text


def test_server_error_has_headers(failing_app):
    assert_security_headers(failing_app.test_client().get("/boom"))


def test_server_error_logged_with_traceback(failing_app, caplog):
    failing_app.test_client().get("/boom")
    assert "unhandled RuntimeError on GET '/boom'" in caplog.text
    assert "Traceback" in caplog.text


def test_error_unknown_status_generic(app):
    @app.get("/teapot")
    def teapot():
        from flask import abort  # pylint: disable=import-outside-toplevel

        abort(418)

    response = app.test_client().get("/teapot")
    assert response.status_code == 418
    assert response.get_json() == {"error": "request failed"}


def test_secure_cookie_flags(tmp_path):
    app = create_app(Settings(database=str(tmp_path / "db.sqlite3")))
    client = app.test_client()
    client.post("/api/register", json={"username": "erin", "password": "erin password"})
    response = client.post("/api/login", json={"username": "erin", "password": "erin password"})
    cookie = response.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/", "Expires="):
        assert flag in cookie, flag
