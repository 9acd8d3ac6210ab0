"""Security headers on every response, the request body limit, and generic error bodies."""

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .audit import audit_event
from .validation import ValidationError

# The pages use no scripts, styles or images of their own, so nothing needs to load.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Responses carry per-user data, so no cache (shared or browser) keeps them.
    "Cache-Control": "no-store",
}

# Error bodies name the HTTP status only: never a traceback, SQL, file path or version.
ERROR_MESSAGES = {
    400: "invalid request",
    401: "authentication required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request body too large",
    415: "unsupported media type",
    500: "internal server error",
}


def add_security_headers(response):
    """Set the security headers on ``response`` (an after-request hook, so errors get them too)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def reject_oversized_body():
    """Reject a body above the limit with 413 before the view runs.

    A body sent without Content-Length (chunked) is read here, up to the limit, because Werkzeug
    3.1 cuts such a body at MAX_CONTENT_LENGTH without an error when it reads all of it.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge()
        return

    # A server that ends wsgi.input at the end of the body sets wsgi.input_terminated (gunicorn
    # does on every request). Without it, Werkzeug reads no body of unknown length at all.
    if "wsgi.input_terminated" not in request.environ:
        return

    # get_data caches the body, so the view and form parsing read this copy.
    request.get_data(cache=True, parse_form_data=False)
    if request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def error_response(status: int):
    """Return a generic JSON error body for ``status``."""
    body = jsonify(error=ERROR_MESSAGES.get(status, "request failed"))
    return body, status


def handle_http_error(error: HTTPException):
    """Turn any HTTP error into a generic JSON body; audit 413s."""
    status = error.code or 500
    if status == 413:
        audit_event("request_too_large", "rejected", content_length=request.content_length)
    return error_response(status)


def handle_unexpected_error(error: Exception):
    """Log an unhandled exception with its traceback, and return a generic 500."""
    current_app.logger.error(
        "unhandled %s on %s %r", type(error).__name__, request.method, request.path, exc_info=error
    )
    return error_response(500)


def handle_validation_error(error: ValidationError):
    """Audit which field failed and why, and return a generic 400."""
    audit_event("validation", "rejected", field=error.field, reason=error.reason)
    return error_response(400)


def install(app: Flask) -> None:
    """Register the body limit, the security headers and the error handlers on ``app``."""
    app.before_request(reject_oversized_body)
    app.after_request(add_security_headers)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)
