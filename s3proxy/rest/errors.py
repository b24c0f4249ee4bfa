"""Supabase's JSON error envelope and its status rule (reference §3.1).

The body always has `statusCode` (a string), `error`, `message` and `code`. The HTTP
status is 400 for every handled error except the ones in REAL_STATUS, which keep
their own status because clients and load balancers act on them.
"""

from __future__ import annotations

from s3proxy.storage.errors import StorageError

# codes answered with their own HTTP status instead of the envelope's 400
REAL_STATUS = {
    "InternalError",
    "DatabaseTimeout",
    "DatabaseUnavailable",
    "DatabaseError",
    "DatabaseSchemaMismatch",
    "SlowDown",
    "BackendUnavailable",
    "BackendError",
}


def rest_status(error: StorageError) -> int:
    """The HTTP status of the response carrying `error`."""
    if error.http_status is not None:
        return error.http_status
    if error.code in REAL_STATUS or error.status >= 500 and error.status != 503:
        return error.status
    return 400


def rest_body(error: StorageError) -> dict[str, str]:
    return {
        "statusCode": str(error.status),
        "error": error.rest_error,
        "message": error.message,
        "code": error.code,
    }


def envelope(status: int, error: str, message: str, code: str) -> dict[str, str]:
    """A body for errors that do not come from the storage layer (routing, framework)."""
    return {"statusCode": str(status), "error": error, "message": message, "code": code}
