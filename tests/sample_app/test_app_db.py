"""Tests of sample_app.db on a real SQLite file."""

import sqlite3

import pytest

from sample_app import db


@pytest.fixture(name="connection")
def fixture_connection(tmp_path):
    path = str(tmp_path / "db.sqlite3")
    db.init_schema(path)
    connection = db.connect(path)
    yield connection
    connection.close()


@pytest.fixture(name="owners")
def fixture_owners(connection):
    return db.create_user(connection, "alice", "hash-a"), db.create_user(
        connection, "bob", "hash-b"
    )


def test_schema_creation_repeatable(tmp_path):
    path = str(tmp_path / "db.sqlite3")
    db.init_schema(path)
    db.init_schema(path)
    connection = db.connect(path)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert {"users", "notes"} <= tables


def test_connection_enforces_foreign_keys(connection):
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute("INSERT INTO notes (owner_id, title, body) VALUES (999, 't', 'b')")


def test_user_created_and_found(connection):
    user_id = db.create_user(connection, "alice", "hash")
    assert dict(db.find_user_by_name(connection, "alice")) == {
        "id": user_id,
        "username": "alice",
        "password_hash": "hash",
    }


def test_user_name_taken_ignoring_case(connection):
    db.create_user(connection, "alice", "hash")
    with pytest.raises(db.UsernameTaken):
        db.create_user(connection, "ALICE", "hash")


def test_user_unknown_is_none(connection):
    assert db.find_user_by_name(connection, "nobody") is None


def test_note_sql_text_stored_literally(connection, owners):
    title = "x'); DROP TABLE notes;--"
    note = db.create_note(connection, owners[0], title, "' OR '1'='1")
    assert db.find_note(connection, note["id"])["title"] == title
    assert db.find_note(connection, note["id"])["body"] == "' OR '1'='1"


def test_note_list_only_owners(connection, owners):
    db.create_note(connection, owners[0], "alice note", "")
    db.create_note(connection, owners[1], "bob note", "")
    titles = [note["title"] for note in db.list_notes(connection, owners[0], "", 10, 0)]
    assert titles == ["alice note"]


def test_note_list_searches_title_and_body(connection, owners):
    db.create_note(connection, owners[0], "milk", "")
    db.create_note(connection, owners[0], "shopping", "buy MILK")
    db.create_note(connection, owners[0], "other", "")
    titles = [note["title"] for note in db.list_notes(connection, owners[0], "milk", 10, 0)]
    assert titles == ["milk", "shopping"]


@pytest.mark.parametrize(("text", "expected"), [("%", ["100%"]), ("_", ["a_b"]), ("\\", ["c\\d"])])
def test_note_list_wildcards_match_literally(connection, owners, text, expected):
    for title in ("100%", "a_b", "c\\d", "plain"):
        db.create_note(connection, owners[0], title, "")
    titles = [note["title"] for note in db.list_notes(connection, owners[0], text, 10, 0)]
    assert titles == expected


def test_note_list_limit_and_offset(connection, owners):
    for number in range(5):
        db.create_note(connection, owners[0], f"n{number}", "")
    titles = [note["title"] for note in db.list_notes(connection, owners[0], "", 2, 1)]
    assert titles == ["n1", "n2"]


def test_note_update_by_owner(connection, owners):
    note = db.create_note(connection, owners[0], "old", "old body")
    updated = db.update_note(connection, note["id"], owners[0], "new", "new body")
    assert (updated["title"], updated["body"]) == ("new", "new body")


def test_note_update_by_other_user_rejected(connection, owners):
    note = db.create_note(connection, owners[0], "old", "")
    assert db.update_note(connection, note["id"], owners[1], "new", "") is None
    assert db.find_note(connection, note["id"])["title"] == "old"


def test_note_delete_by_other_user_rejected(connection, owners):
    note = db.create_note(connection, owners[0], "keep", "")
    assert db.delete_note(connection, note["id"], owners[1]) is False
    assert db.find_note(connection, note["id"]) is not None


def test_note_delete_by_owner(connection, owners):
    note = db.create_note(connection, owners[0], "gone", "")
    assert db.delete_note(connection, note["id"], owners[0]) is True
    assert db.find_note(connection, note["id"]) is None


def test_escape_like_escapes_wildcards():
    assert db.escape_like("50%_a\\") == "50\\%\\_a\\\\"
