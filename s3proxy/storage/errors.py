"""The one error family the storage layer raises.

A StorageError carries a code (`NoSuchKey`), the error's own HTTP status and a
message. It knows nothing about wire formats: `rest/errors.py` renders it as
Supabase JSON and `s3/errors.py` as S3 XML, each from its own table.
"""

from __future__ import annotations

from typing import NamedTuple


class ErrorKind(NamedTuple):
    status: int
    rest_error: str  # Supabase's legacy `error` string
    message: str  # the default message


# code -> (status, Supabase `error` string, default message); reference §3.2 plus the
# S3 codes our S3 endpoint needs (AWS statuses).
ERRORS: dict[str, ErrorKind] = {
    "NoSuchBucket": ErrorKind(404, "Bucket not found", "Bucket not found"),
    "NoSuchKey": ErrorKind(404, "not_found", "Object not found"),
    "NoSuchUpload": ErrorKind(404, "NoSuchUpload", "Upload not found"),
    "InvalidJWT": ErrorKind(400, "InvalidJWT", "Invalid JWT"),
    "AccessDenied": ErrorKind(403, "Unauthorized", "Access denied"),
    "InvalidRequest": ErrorKind(400, "InvalidRequest", "Invalid request"),
    "MalformedXML": ErrorKind(400, "MalformedXML", "The XML you provided was not well-formed"),
    "EntityTooLarge": ErrorKind(413, "Payload too large", "The object exceeded the maximum allowed size"),
    "EntityTooSmall": ErrorKind(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum"),
    "InternalError": ErrorKind(500, "Internal", "Internal Server Error"),
    "ResourceAlreadyExists": ErrorKind(409, "Duplicate", "The resource already exists"),
    "KeyAlreadyExists": ErrorKind(409, "Duplicate", "The resource already exists"),
    "BucketAlreadyExists": ErrorKind(409, "Duplicate", "The resource already exists"),
    "BucketAlreadyOwnedByYou": ErrorKind(409, "Duplicate", "The bucket already exists and you own it"),
    "ResourceNotEmpty": ErrorKind(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty"),
    "InvalidBucketName": ErrorKind(400, "Invalid Input", "Bucket name invalid"),
    "InvalidKey": ErrorKind(400, "InvalidKey", "Invalid key"),
    "InvalidRange": ErrorKind(416, "invalid_range", "The requested range is not satisfiable"),
    "InvalidMimeType": ErrorKind(415, "invalid_mime_type", "Invalid mime type"),
    "InvalidUploadId": ErrorKind(400, "InvalidUploadId", "Invalid upload id"),
    "InvalidSignature": ErrorKind(400, "InvalidSignature", "Invalid signature"),
    "ExpiredToken": ErrorKind(400, "ExpiredToken", "The provided token has expired."),
    "SignatureDoesNotMatch": ErrorKind(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    ),
    "AuthorizationHeaderMalformed": ErrorKind(
        400, "AuthorizationHeaderMalformed", "The authorization header that you provided is not valid."
    ),
    "AuthorizationQueryParametersError": ErrorKind(
        400, "AuthorizationQueryParametersError", "The query parameters that provide authentication are not valid."
    ),
    "InvalidAccessKeyId": ErrorKind(
        403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
    ),
    "RequestTimeTooSkewed": ErrorKind(
        403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large."
    ),
    "XAmzContentSHA256Mismatch": ErrorKind(
        400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."
    ),
    "BadDigest": ErrorKind(400, "BadDigest", "The Content-MD5 or checksum you specified did not match what we received."),
    "InvalidDigest": ErrorKind(400, "InvalidDigest", "The Content-MD5 or checksum you specified is not valid."),
    "IncompleteBody": ErrorKind(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header"),
    "MissingContentLength": ErrorKind(411, "MissingContentLength", "You must provide the Content-Length HTTP header."),
    "MissingParameter": ErrorKind(400, "MissingParameter", "Missing Required Parameter"),
    "InvalidParameter": ErrorKind(400, "InvalidParameter", "Invalid Parameter"),
    "InvalidArgument": ErrorKind(400, "InvalidArgument", "Invalid Argument"),
    "InvalidPart": ErrorKind(400, "InvalidPart", "One or more of the specified parts could not be found."),
    "InvalidPartOrder": ErrorKind(400, "InvalidPartOrder", "The list of parts was not in ascending order."),
    "PreconditionFailed": ErrorKind(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"),
    "NotModified": ErrorKind(304, "NotModified", "Not Modified"),
    "NotImplemented": ErrorKind(501, "NotImplemented", "A header or operation you provided implies functionality that is not implemented"),
    "MethodNotAllowed": ErrorKind(405, "MethodNotAllowed", "The specified method is not allowed against this resource."),
    "NoSuchTagSet": ErrorKind(404, "NoSuchTagSet", "The TagSet does not exist"),
    "InvalidTag": ErrorKind(400, "InvalidTag", "The tag provided was not a valid tag."),
    "DatabaseTimeout": ErrorKind(544, "DatabaseTimeout", "Timeout while waiting for the database"),
    "DatabaseUnavailable": ErrorKind(503, "DatabaseUnavailable", "The database is not reachable"),
    "DatabaseError": ErrorKind(500, "DatabaseError", "Database error"),
    "DatabaseSchemaMismatch": ErrorKind(503, "DatabaseSchemaMismatch", "Database schema mismatch"),
    "ResourceLocked": ErrorKind(423, "ResourceLocked", "The resource is locked"),
    "LockTimeout": ErrorKind(503, "acquiring_lock_timeout", "Timed out acquiring a lock on the resource"),
    "SlowDown": ErrorKind(429, "too_many_connections", "Too many connections issued to the database"),
    "BackendUnavailable": ErrorKind(503, "BackendUnavailable", "The storage backend is not reachable"),
    "BackendError": ErrorKind(502, "BackendError", "The storage backend returned an error"),
}


class StorageError(Exception):
    """A failure the client should see, with a code from ERRORS."""

    def __init__(self, code: str, message: str | None = None, *, status: int | None = None,
                 http_status: int | None = None, rest_error: str | None = None) -> None:
        kind = ERRORS.get(code) or ERRORS["InternalError"]
        self.code = code
        # the REST envelope's real HTTP status when it is not the usual 400 (e.g. 403 role checks)
        self.http_status = http_status
        self.status = status if status is not None else kind.status
        self.rest_error = rest_error or kind.rest_error
        self.message = message if message is not None else kind.message
        super().__init__(f"{code}: {self.message}")
