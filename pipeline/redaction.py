"""Passwords out of what the project writes and prints: `redact` keeps a URI (scheme, user, host, database:
what a reader needs to tell stores apart) and replaces its password with `***`. Pure, and below every other
room, so the failure path's error lines, the runs' params and tags, and Hydra's files all use the one rule
(pipeline/tracking/secrets.py says where and why)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"

# scheme://user:password@ — the password runs to the next `@`, as SQLAlchemy reads it (`/` and the rest may
# stand in it unencoded; an `@` must be encoded). Hydra prints an override's colons escaped
# (`postgresql\://u\:pw@h`), so a backslash may stand before each. A text that only looks like one
# (`http://host:5000/a@b`) loses a little more than a password: better than a password shown.
_PASSWORD_IN_URI = re.compile(r"(?P<before>\b[A-Za-z][A-Za-z0-9+.\-]*\\?://[^:/@\s\\]*\\?):(?P<password>[^@\s]+)@")
_PASSWORD_IN_QUERY = re.compile(r"(?P<before>[?&]password=)[^&\s]+", re.IGNORECASE)  # libpq's, SQLAlchemy's


def redact(text: str) -> str:
    """`text` with the password of every URI in it replaced by `***`."""
    return _PASSWORD_IN_QUERY.sub(rf"\g<before>{REDACTED}", _PASSWORD_IN_URI.sub(rf"\g<before>:{REDACTED}@", text))


def redact_values(value: Any) -> Any:
    """A configuration (mappings, lists, scalars) with every string in it redacted, for what the project
    writes of it."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_values(item) for item in value]
    return value
