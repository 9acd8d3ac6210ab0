"""Tests of sample_app.web: the HTML login form with its CSRF token, and the notes page."""

import io
import re
import urllib.parse

import pytest

PASSWORD = "grace's password"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    return TOKEN_FIELD.search(response.get_data(as_text=True)).group(1)


@pytest.fixture(name="account")
def fixture_account(app):
    credentials = {"username": "grace", "password": PASSWORD}
    assert app.test_client().post("/api/register", json=credentials).status_code == 201
    return "grace"


def test_login_form_has_token_field(client):
    assert len(form_token(client)) >= 32


def test_login_form_token_differs_per_session(app):
    assert form_token(app.test_client()) != form_token(app.test_client())


def test_login_form_success_redirects_to_notes(client, account):
    token = form_token(client)
    response = client.post(
        "/login", data={"username": account, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/notes"


def test_login_form_success_rotates_token(client, account):
    token = form_token(client)
    client.post("/login", data={"username": account, "password": PASSWORD, "csrf_token": token})
    assert form_token(client) != token


def test_login_form_wrong_password_shows_form(client, account):
    token = form_token(client)
    response = client.post(
        "/login", data={"username": account, "password": "wrong password", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert TOKEN_FIELD.search(response.get_data(as_text=True))


def test_login_form_missing_token_rejected(client, account):
    form_token(client)
    response = client.post("/login", data={"username": account, "password": PASSWORD})
    assert response.status_code == 400


def test_login_form_wrong_token_rejected(client, account):
    form_token(client)
    response = client.post(
        "/login", data={"username": account, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 400


def test_login_form_token_from_other_session_rejected(app, account):
    other_token = form_token(app.test_client())
    client = app.test_client()
    form_token(client)
    response = client.post(
        "/login", data={"username": account, "password": PASSWORD, "csrf_token": other_token}
    )
    assert response.status_code == 400


def test_login_form_csrf_failure_audited(client, audit_lines):
    client.post("/login", data={"username": "x", "password": "y", "csrf_token": "z"})
    assert '"event":"csrf","outcome":"rejected"' in audit_lines()[0]


def test_login_form_unknown_field_rejected(client, account):
    token = form_token(client)
    data = {"username": account, "password": PASSWORD, "csrf_token": token, "next": "//evil"}
    assert client.post("/login", data=data).status_code == 400


def test_login_form_sql_username_rejected(client, account):
    token = form_token(client)
    data = {"username": f"{account}' OR '1'='1", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).status_code == 400


def test_login_form_chunked_body_parsed(client, account):
    token = form_token(client)
    body = urllib.parse.urlencode({"username": account, "password": PASSWORD, "csrf_token": token})
    response = client.post(
        "/login",
        input_stream=io.BytesIO(body.encode()),
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 303


def test_notes_page_needs_login(client):
    response = client.get("/notes")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


def test_notes_page_lists_own_notes_escaped(alice, bob):
    alice.post("/api/notes", json={"title": "<script>alert(1)</script>", "body": "a & b"})
    bob.post("/api/notes", json={"title": "bob's secret", "body": ""})
    page = alice.get("/notes").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "a &amp; b" in page
    assert "bob" not in page


def test_notes_page_empty(alice):
    assert "No notes yet." in alice.get("/notes").get_data(as_text=True)
