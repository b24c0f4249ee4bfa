"""StorageError → S3 error (code, HTTP status): one table, no if-chains.

The storage layer speaks Supabase's codes; S3 clients branch on AWS's. Only the codes
that differ (or whose status differs) are listed; everything else keeps the storage
code and its own status, which for S3 codes already is AWS's.
"""

from __future__ import annotations

from typing import NamedTuple

from s3proxy.storage.errors import StorageError


class S3Error(NamedTuple):
    code: str
    status: int
    message: str | None = None  # None: keep the storage message


# storage code -> the S3 error AWS would send
OVERRIDES: dict[str, S3Error] = {
    "ResourceNotEmpty": S3Error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty"),
    "ResourceAlreadyExists": S3Error("BucketAlreadyExists", 409),
    "KeyAlreadyExists": S3Error("PreconditionFailed", 412,
                                "At least one of the pre-conditions you specified did not hold"),
    "InvalidKey": S3Error("InvalidArgument", 400),
    "InvalidMimeType": S3Error("InvalidArgument", 400),
    "InvalidJWT": S3Error("InvalidToken", 400, "The provided token is malformed or otherwise invalid."),
    "ExpiredToken": S3Error("ExpiredToken", 400, "The provided token has expired."),
    "InvalidUploadId": S3Error("NoSuchUpload", 404, "The specified upload does not exist."),
    "NoSuchUpload": S3Error("NoSuchUpload", 404, "The specified upload does not exist."),
    "InvalidParameter": S3Error("InvalidArgument", 400),
    "IncompleteBody": S3Error("IncompleteBody", 400),
    "DatabaseTimeout": S3Error("SlowDown", 503, "Please reduce your request rate."),
    "DatabaseUnavailable": S3Error("ServiceUnavailable", 503, "Please reduce your request rate."),
    "DatabaseError": S3Error("InternalError", 500, "We encountered an internal error. Please try again."),
    "DatabaseSchemaMismatch": S3Error("InternalError", 500),
    "BackendUnavailable": S3Error("ServiceUnavailable", 503),
    "BackendError": S3Error("InternalError", 500),
    "ResourceLocked": S3Error("OperationAborted", 409,
                              "A conflicting conditional operation is currently in progress against "
                              "this resource. Please try again."),
    "LockTimeout": S3Error("SlowDown", 503),
    "SlowDown": S3Error("SlowDown", 503, "Please reduce your request rate."),
    "InvalidSignature": S3Error("SignatureDoesNotMatch", 403),
    "MissingParameter": S3Error("InvalidRequest", 400),
}


def s3_error(error: StorageError) -> S3Error:
    """What the client sees for `error`."""
    found = OVERRIDES.get(error.code)
    if found is None:
        status = error.status if error.status >= 300 else 500
        return S3Error(error.code, status, error.message)
    return S3Error(found.code, found.status, found.message or error.message)
