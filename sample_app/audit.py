"""The audit log: one JSON object per line for each security event.

Each line is built with ``json.dumps``, which escapes quotes, backslashes, line breaks and other
control characters, and ``ensure_ascii`` also escapes U+2028 and U+2029. So a user-supplied value
always stays inside one JSON string and cannot start a new line or add a field. Field names come
from this code only, and user-supplied values are cut to ``MAX_VALUE_LENGTH`` characters.
"""

import datetime
import json
import logging
import sys

from flask import has_request_context, request, session

LOGGER_NAME = "sample_app.audit"
MAX_VALUE_LENGTH = 200

# Fields every line carries; callers' extra fields with these names are rejected.
RESERVED_FIELDS = frozenset(
    ("time", "event", "outcome", "remote_addr", "method", "path", "user_id")
)


class JsonLinesFormatter(logging.Formatter):
    """Format a record made by ``audit_event`` as a single JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "audit", None)
        if event is None:
            event = {"event": "log", "message": _clip(record.getMessage())}

        timestamp = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
        line = {"time": timestamp.isoformat(timespec="milliseconds"), **event}
        return json.dumps(line, ensure_ascii=True, separators=(",", ":"), default=str)


def get_audit_logger() -> logging.Logger:
    """Return the audit logger, adding a JSON-lines handler on stderr the first time."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLinesFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        # Lines go to this handler only, so a root handler cannot reformat them.
        logger.propagate = False
    return logger


def audit_event(event: str, outcome: str, /, **fields: str | int | None) -> None:
    """Write one audit line: the event, its outcome, the request's context and ``fields``."""
    clashing = RESERVED_FIELDS.intersection(fields)
    if clashing:
        raise ValueError(f"audit field names {sorted(clashing)} are reserved; rename them")

    line = {"event": event, "outcome": outcome}
    if has_request_context():
        line["remote_addr"] = _clip(request.remote_addr)
        line["method"] = _clip(request.method)
        line["path"] = _clip(request.path)
        line["user_id"] = session.get("user_id")

    for name, value in fields.items():
        line[name] = value if isinstance(value, int) or value is None else _clip(value)

    get_audit_logger().info("%s %s", event, outcome, extra={"audit": line})


def _clip(value: object) -> str | None:
    if value is None:
        return None
    return str(value)[:MAX_VALUE_LENGTH]
