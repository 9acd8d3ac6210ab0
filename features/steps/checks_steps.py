"""Step definitions for input checks and security hygiene, over real HTTP with requests."""

# behave 1.3 builds its step decorators at import time, which pylint reads as not callable.
# pylint: disable=not-callable
from behave import then, when

from sample_app_steps import (
    GENERIC_ERROR,
    HEADER_CHECKS,
    INTERNALS,
    PASSWORD,
    assert_status,
    session_for,
    url,
    username_for,
    write_note,
)

# Comfortably above the app's default request size limit of 16384 bytes.
OVERSIZED_TEXT = "x" * 20_000

INVALID_REQUESTS = {
    "a registration with a too short password": (
        "post",
        "/api/register",
        {"json": {"username": "shortpass", "password": "short"}},
    ),
    "a registration with spaces in the name": (
        "post",
        "/api/register",
        {"json": {"username": "two words", "password": PASSWORD}},
    ),
    "a registration with an extra field": (
        "post",
        "/api/register",
        {"json": {"username": "extrafield", "password": PASSWORD, "is_admin": True}},
    ),
    "a note without a title": ("post", "/api/notes", {"json": {"body": "text"}}),
    "a note whose title is a number": ("post", "/api/notes", {"json": {"title": 7, "body": ""}}),
    "a note with an extra field": (
        "post",
        "/api/notes",
        {"json": {"title": "t", "body": "b", "owner_id": 1}},
    ),
    "a note that is not JSON": (
        "post",
        "/api/notes",
        {"data": "title=t&body=b", "headers": {"Content-Type": "text/plain"}},
    ),
    "a search with a page size of 1000": ("get", "/api/notes", {"params": {"limit": "1000"}}),
    "a search with an unknown parameter": ("get", "/api/notes", {"params": {"debug": "1"}}),
}


@when('"{name}" sends {request}')
def step_send_invalid(context, name, request):
    method, path, options = INVALID_REQUESTS[request]
    context.response = session_for(context, name).request(method, url(context, path), **options)


@then("the error message is generic")
def step_generic_error(context):
    assert context.response.json() == GENERIC_ERROR, context.response.text


@when('"{name}" writes a note larger than the allowed request size')
def step_write_oversized(context, name):
    write_note(context, name, "big", OVERSIZED_TEXT)


@then("the request is rejected as too large")
def step_rejected_too_large(context):
    assert_status(context.response, 413)


@then('searching for "{text}" finds exactly that note')
def step_search_finds_literal(context, text):
    response = session_for(context, context.actor).get(
        url(context, "/api/notes"), params={"q": text}
    )
    assert_status(response, 200)
    found = [(note["title"], note["body"]) for note in response.json()["notes"]]
    assert found == [(text, text)], found


def request_other_users_note(context, name):
    write_note(context, "owner", "owned", "by someone else")
    return session_for(context, name).get(
        url(context, f"/api/notes/{context.notes['owner']['id']}")
    )


def prepare_owner(context):
    session = session_for(context, "owner")
    credentials = {"username": username_for(context, "owner"), "password": PASSWORD}
    assert_status(session.post(url(context, "/api/register"), json=credentials), 201)
    assert_status(session.post(url(context, "/api/login"), json=credentials), 200)


REQUESTS = {
    "a health check": lambda context, name: session_for(context, name).get(
        url(context, "/healthz")
    ),
    "a request for the login page": lambda context, name: session_for(context, name).get(
        url(context, "/login")
    ),
    "an invalid note": lambda context, name: session_for(context, name).post(
        url(context, "/api/notes"), json={"title": ""}
    ),
    "a request to an unknown page": lambda context, name: session_for(context, name).get(
        url(context, "/admin")
    ),
    "a request with a wrong method": lambda context, name: session_for(context, name).delete(
        url(context, "/api/notes")
    ),
    "an oversized request": lambda context, name: session_for(context, name).post(
        url(context, "/api/notes"), json={"title": "big", "body": OVERSIZED_TEXT}
    ),
}


@when('"{name}" makes {request}')
def step_make_request(context, name, request):
    if request == "a request for another user's note":
        prepare_owner(context)
        context.response = request_other_users_note(context, name)
        return
    context.response = REQUESTS[request](context, name)


@then("the response has status {status:d}")
def step_response_status(context, status):
    assert_status(context.response, status)


@then("the response carries the security headers")
def step_security_headers(context):
    for header, expected in HEADER_CHECKS.items():
        value = context.response.headers.get(header, "")
        assert expected in value, f"{header}: {value!r} lacks {expected!r}"


@when('"{name}" triggers several kinds of errors')
def step_trigger_errors(context, name):
    session = session_for(context, name)
    context.responses = [
        session.post(
            url(context, "/api/notes"), data="{broken", headers={"Content-Type": "application/json"}
        ),
        session.get(url(context, "/api/notes/99999999999999999999999")),
        session.get(url(context, "/api/notes"), params={"q": "'\"; SELECT * FROM users; --"}),
        session.patch(url(context, "/api/notes/1")),
        session.post(url(context, "/api/notes"), json={"title": "t", "body": OVERSIZED_TEXT}),
        session.get(url(context, "/../../etc/passwd")),
        session.post(url(context, "/login"), data={"username": "x"}),
    ]


@then("no error response reveals a traceback, SQL, a file path or a version")
def step_no_internals(context):
    for response in context.responses:
        if response.status_code < 400:
            continue
        exposed = response.text + " " + response.headers.get("Server", "")
        for text in INTERNALS:
            assert text not in exposed, f"{response.request.method} {response.url}: {text!r}"
        assert set(response.json()) == {"error"}, response.text
