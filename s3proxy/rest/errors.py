"""Errors as Supabase's JSON envelope (reference §3.1, §3.2): one table.

The body always has `statusCode` (a string), `error`, `message` and `code`. The HTTP
status is 400 for every handled error whose own status is below 500 (clients read the
real one from `statusCode`), except where the table gives one: load balancers and
retry logic act on those (429, 503, 544), and the reference sends them too.
"""

from __future__ import annotations

from typing import NamedTuple

from s3proxy import errors


class RestError(NamedTuple):
    status: int  # the body's statusCode
    error: str  # Supabase's legacy `error` string
    code: str | None = None  # the body's `code` when it is not the class name
    http: int | None = None  # the HTTP status when it is not the envelope's rule


TABLE: dict[type[errors.Error], RestError] = {
    errors.NoSuchBucket: RestError(404, "Bucket not found"),
    errors.NoSuchKey: RestError(404, "not_found"),
    errors.MissingBytes: RestError(404, "Not found", code="NoSuchKey"),
    errors.NoSuchUpload: RestError(404, "NoSuchUpload"),
    errors.NoSuchVersion: RestError(404, "NoSuchVersion"),
    errors.UploadExpired: RestError(410, "UploadExpired"),
    errors.NoSuchCORSConfiguration: RestError(404, "NoSuchCORSConfiguration"),
    errors.RouteNotFound: RestError(404, "Not Found", code="InvalidRequest", http=404),
    errors.BucketAlreadyExists: RestError(409, "Duplicate"),
    errors.BucketAlreadyOwnedByYou: RestError(409, "Duplicate", code="BucketAlreadyExists"),
    errors.KeyAlreadyExists: RestError(409, "Duplicate"),
    errors.ResourceAlreadyExists: RestError(409, "Duplicate"),
    errors.ResourceReferenced: RestError(409, "ResourceReferenced"),
    errors.RelatedResourceNotFound: RestError(404, "InvalidRequest", code="InvalidRequest"),
    errors.BucketNotEmpty: RestError(409, "ResourceNotEmpty", code="ResourceNotEmpty"),
    errors.TooManyObjectsToEmpty: RestError(409, "InvalidRequest", code="InvalidRequest"),
    errors.ResourceLocked: RestError(423, "ResourceLocked"),
    errors.ConflictingOperation: RestError(409, "ConflictingOperation"),
    errors.PreconditionFailed: RestError(412, "PreconditionFailed"),
    errors.NotModified: RestError(304, "NotModified", http=304),
    errors.AccessDenied: RestError(403, "Unauthorized"),
    errors.InvalidRole: RestError(403, "Unauthorized", code="AccessDenied", http=403),
    errors.MissingHeader: RestError(400, "Error", code="InvalidRequest"),
    errors.CORSForbidden: RestError(403, "Unauthorized", code="AccessDenied", http=403),
    errors.InvalidJWT: RestError(400, "InvalidJWT"),
    errors.ExpiredToken: RestError(400, "ExpiredToken"),
    errors.InvalidSignature: RestError(400, "InvalidSignature"),
    errors.SignatureDoesNotMatch: RestError(403, "SignatureDoesNotMatch"),
    errors.InvalidAccessKeyId: RestError(403, "InvalidAccessKeyId"),
    errors.RequestTimeTooSkewed: RestError(403, "RequestTimeTooSkewed"),
    errors.AuthorizationHeaderMalformed: RestError(400, "AuthorizationHeaderMalformed"),
    errors.AuthorizationQueryParametersError: RestError(400, "AuthorizationQueryParametersError"),
    errors.XAmzContentSHA256Mismatch: RestError(400, "XAmzContentSHA256Mismatch"),
    errors.InvalidRequest: RestError(400, "InvalidRequest"),
    errors.InvalidArgument: RestError(400, "InvalidRequest", code="InvalidRequest"),
    errors.InvalidParameter: RestError(400, "InvalidParameter"),
    errors.InvalidBucketName: RestError(400, "Invalid Input"),
    errors.InvalidKey: RestError(400, "InvalidKey"),
    errors.KeyTooLong: RestError(400, "InvalidKey", code="InvalidKey"),
    errors.InvalidMimeType: RestError(415, "invalid_mime_type"),
    errors.InvalidRobotsTag: RestError(400, "invalid_x_robots_tag", code="InvalidRequest"),
    errors.InvalidURI: RestError(400, "InvalidRequest", code="InvalidRequest"),
    errors.MalformedXML: RestError(400, "MalformedXML"),
    errors.MalformedJSON: RestError(400, "InvalidRequest", code="InvalidRequest"),
    errors.InvalidTag: RestError(400, "InvalidTag"),
    errors.MetadataTooLarge: RestError(400, "MetadataTooLarge"),
    errors.InvalidRange: RestError(416, "invalid_range", http=416),
    errors.InvalidPartNumber: RestError(416, "InvalidPartNumber"),
    errors.InvalidPart: RestError(400, "InvalidPart"),
    errors.InvalidPartOrder: RestError(400, "InvalidPartOrder"),
    errors.EntityTooSmall: RestError(400, "EntityTooSmall"),
    errors.EntityTooLarge: RestError(413, "Payload too large"),
    errors.BodyTooLarge: RestError(413, "Payload Too Large", code="EntityTooLarge", http=413),
    errors.IncompleteBody: RestError(400, "IncompleteBody"),
    errors.MissingContentLength: RestError(411, "MissingContentLength"),
    errors.BadDigest: RestError(400, "BadDigest"),
    errors.InvalidDigest: RestError(400, "InvalidDigest"),
    errors.InvalidPolicyDocument: RestError(400, "InvalidPolicyDocument"),
    errors.MalformedPOSTRequest: RestError(400, "MalformedPOSTRequest"),
    errors.MaxPostPreDataLengthExceeded: RestError(400, "MaxPostPreDataLengthExceeded"),
    errors.AccessControlListNotSupported: RestError(400, "AccessControlListNotSupported"),
    errors.NotImplemented: RestError(501, "NotImplemented", http=501),
    errors.MethodNotAllowed: RestError(405, "Method Not Allowed", code="InvalidRequest", http=405),
    errors.InternalError: RestError(500, "Internal"),
    errors.DatabaseTimeout: RestError(544, "DatabaseTimeout", http=544),
    errors.DatabaseUnavailable: RestError(503, "DatabaseUnavailable", http=503),
    errors.DatabaseError: RestError(500, "DatabaseError"),
    errors.DatabaseSchemaMismatch: RestError(503, "DatabaseSchemaMismatch", http=503),
    errors.SlowDown: RestError(429, "too_many_connections", http=429),
    errors.BackendUnavailable: RestError(503, "BackendUnavailable", http=503),
    errors.BackendError: RestError(502, "BackendError", http=502),
    errors.InsufficientStorage: RestError(507, "InsufficientStorage", http=507),
}

_UNKNOWN = RestError(500, "Internal", code="InternalError")


def wire(error: errors.Error) -> RestError:
    return TABLE.get(type(error), _UNKNOWN)


def rest_status(error: errors.Error) -> int:
    """The HTTP status of the response carrying `error`."""
    entry = wire(error)
    if entry.http is not None:
        return entry.http
    return entry.status if entry.status >= 500 else 400


def rest_body(error: errors.Error) -> dict[str, str]:
    entry = wire(error)
    internal = entry is _UNKNOWN
    return {
        "statusCode": str(entry.status),
        "error": entry.error,
        "message": "Internal Server Error" if internal else error.message,
        "code": entry.code or error.code,
    }

