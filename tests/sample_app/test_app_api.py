"""Tests of the JSON API in sample_app.api through Flask's test client."""

import io
import json
import sqlite3

import pytest

# Any valid password; the fixtures in conftest.py use their own.
PASSWORD = "correct horse battery"


def create_note(client, title="groceries", body="milk"):
    response = client.post("/api/notes", json={"title": title, "body": body})
    assert response.status_code == 201
    return response.get_json()


def test_healthz_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_register_returns_id_and_name(client):
    response = client.post("/api/register", json={"username": "dave", "password": PASSWORD})
    assert response.status_code == 201
    assert response.get_json() == {"id": 1, "username": "dave"}


def test_register_taken_name_conflicts(client):
    client.post("/api/register", json={"username": "dave", "password": PASSWORD})
    response = client.post("/api/register", json={"username": "Dave", "password": PASSWORD})
    assert response.status_code == 409
    assert response.get_json() == {"error": "conflict"}


def test_login_wrong_password_unauthorized(client):
    client.post("/api/register", json={"username": "dave", "password": PASSWORD})
    response = client.post("/api/login", json={"username": "dave", "password": "wrong password"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "authentication required"}


def test_login_unknown_user_same_answer(client):
    response = client.post("/api/login", json={"username": "ghost", "password": "wrong password"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "authentication required"}


def test_login_sets_session_cookie(client):
    client.post("/api/register", json={"username": "dave", "password": PASSWORD})
    response = client.post("/api/login", json={"username": "dave", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie


def test_logout_ends_session(alice):
    assert alice.post("/api/logout").status_code == 204
    assert alice.get("/api/notes").status_code == 401


def test_logout_revokes_copied_cookie(app, alice):
    stolen = app.test_client()
    cookie = alice.get_cookie("session")
    stolen.set_cookie("session", cookie.value)
    assert stolen.get("/api/notes").status_code == 200

    alice.post("/api/logout")
    assert stolen.get("/api/notes").status_code == 401


def test_deleted_account_session_unauthorized(app, alice):
    connection = sqlite3.connect(app.config["DATABASE"])
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("DELETE FROM users")
    connection.commit()
    connection.close()
    assert alice.get("/api/notes").status_code == 401


def test_logout_without_session_no_content(client):
    assert client.post("/api/logout").status_code == 204


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/notes"),
        ("post", "/api/notes"),
        ("get", "/api/notes/1"),
        ("put", "/api/notes/1"),
        ("delete", "/api/notes/1"),
    ],
)
def test_notes_need_login(client, method, path):
    response = getattr(client, method)(path, json={"title": "t", "body": "b"})
    assert response.status_code == 401


def test_note_create_read_update_delete(alice):
    note = create_note(alice)
    assert alice.get(f"/api/notes/{note['id']}").get_json()["title"] == "groceries"

    response = alice.put(f"/api/notes/{note['id']}", json={"title": "errands", "body": "post"})
    assert response.status_code == 200
    assert response.get_json()["title"] == "errands"

    assert alice.delete(f"/api/notes/{note['id']}").status_code == 204
    assert alice.get(f"/api/notes/{note['id']}").status_code == 404


def test_note_create_location_header(alice):
    response = alice.post("/api/notes", json={"title": "t", "body": "b"})
    assert response.headers["Location"] == f"/api/notes/{response.get_json()['id']}"


def test_note_fields_exclude_owner(alice):
    assert set(create_note(alice)) == {"id", "title", "body", "created_at", "updated_at"}


def test_note_list_filters_by_query(alice):
    create_note(alice, "groceries", "milk")
    create_note(alice, "work", "report")
    response = alice.get("/api/notes?q=milk&limit=5&offset=0")
    assert [note["title"] for note in response.get_json()["notes"]] == ["groceries"]


def test_note_sql_text_returned_literally(alice):
    title = "x'); DROP TABLE notes;--"
    create_note(alice, title, "' OR '1'='1")
    response = alice.get("/api/notes", query_string={"q": "' OR '1'='1"})
    assert [note["title"] for note in response.get_json()["notes"]] == [title]


def test_note_query_injection_matches_nothing(alice):
    create_note(alice)
    response = alice.get("/api/notes", query_string={"q": "%' OR 1=1 --"})
    assert response.get_json() == {"notes": []}


def test_other_users_note_not_found(alice, bob):
    note = create_note(alice)
    assert bob.get(f"/api/notes/{note['id']}").status_code == 404
    assert bob.put(f"/api/notes/{note['id']}", json={"title": "t", "body": ""}).status_code == 404
    assert bob.delete(f"/api/notes/{note['id']}").status_code == 404
    assert alice.get(f"/api/notes/{note['id']}").get_json()["title"] == "groceries"


def test_other_users_notes_not_listed(alice, bob):
    create_note(alice)
    assert bob.get("/api/notes").get_json() == {"notes": []}


@pytest.mark.parametrize("note_id", ["0", "-1", "9223372036854775808", "99999999999999999999", "x"])
def test_note_id_out_of_range_not_found(alice, note_id):
    assert alice.get(f"/api/notes/{note_id}").status_code == 404


def test_note_update_deleted_meanwhile_not_found(alice, monkeypatch):
    note = create_note(alice)
    monkeypatch.setattr("sample_app.db.update_note", lambda *args: None)
    response = alice.put(f"/api/notes/{note['id']}", json={"title": "t", "body": "b"})
    assert response.status_code == 404


def test_note_delete_deleted_meanwhile_not_found(alice, monkeypatch):
    note = create_note(alice)
    monkeypatch.setattr("sample_app.db.delete_note", lambda *args: False)
    assert alice.delete(f"/api/notes/{note['id']}").status_code == 404


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/register", {"username": "x", "password": PASSWORD}),
        ("/api/register", {"username": "dave", "password": PASSWORD, "role": "admin"}),
        ("/api/login", {"username": "dave"}),
        ("/api/notes", {"title": "", "body": "b"}),
        ("/api/notes", {"title": 5, "body": "b"}),
        ("/api/notes", {"title": "t", "body": "b", "owner_id": 1}),
        ("/api/notes", ["title", "body"]),
    ],
)
def test_invalid_json_bad_request(alice, path, payload):
    response = alice.post(path, json=payload)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid request"}


def test_malformed_json_bad_request(alice):
    response = alice.post("/api/notes", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid request"}


def test_form_encoded_body_bad_request(alice):
    response = alice.post("/api/notes", data={"title": "t", "body": "b"})
    assert response.status_code == 400


def test_note_list_bad_limit_bad_request(alice):
    assert alice.get("/api/notes?limit=1000").status_code == 400


def test_note_list_unknown_parameter_bad_request(alice):
    assert alice.get("/api/notes?debug=1").status_code == 400


def test_oversized_body_too_large(alice, app):
    body = json.dumps({"title": "t", "body": "b" * app.config["MAX_CONTENT_LENGTH"]})
    response = alice.post("/api/notes", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {"error": "request body too large"}


def test_oversized_chunked_body_too_large(alice, app):
    # gunicorn marks a chunked body as terminated, so Werkzeug reads it up to the limit.
    body = json.dumps({"title": "t", "body": "b" * app.config["MAX_CONTENT_LENGTH"]}).encode()
    response = alice.post(
        "/api/notes",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413


def test_body_at_limit_accepted(alice, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    padding = limit - len(json.dumps({"title": "t", "body": ""}))
    body = json.dumps({"title": "t", "body": ""})[:-1] + " " * padding + "}"
    assert len(body) == limit
    response = alice.post("/api/notes", data=body, content_type="application/json")
    assert response.status_code == 201
