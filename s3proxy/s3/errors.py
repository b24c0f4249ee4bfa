"""Errors as S3 XML: AWS's code and HTTP status for every error class, in one table.

S3 clients branch on AWS's codes, so where Supabase's name for a failure differs
(`ResourceNotEmpty`) or has no S3 twin (`InvalidJWT`), the row says what AWS would
send. A message of None keeps the error's own message.
"""

from __future__ import annotations

from typing import NamedTuple

from s3proxy import errors


class S3Error(NamedTuple):
    code: str
    status: int
    message: str | None = None


_RETRY = "Please reduce your request rate."
_INTERNAL = "We encountered an internal error. Please try again."

TABLE: dict[type[errors.Error], S3Error] = {
    errors.NoSuchBucket: S3Error("NoSuchBucket", 404, "The specified bucket does not exist"),
    errors.NoSuchKey: S3Error("NoSuchKey", 404, "The specified key does not exist."),
    errors.MissingBytes: S3Error("NoSuchKey", 404, "The specified key does not exist."),
    errors.NoSuchUpload: S3Error("NoSuchUpload", 404),
    errors.NoSuchVersion: S3Error("NoSuchVersion", 404),
    errors.UploadExpired: S3Error("NoSuchUpload", 404),
    errors.NoSuchCORSConfiguration: S3Error("NoSuchCORSConfiguration", 404),
    errors.RouteNotFound: S3Error("NoSuchKey", 404),
    errors.BucketAlreadyExists: S3Error("BucketAlreadyExists", 409, "The requested bucket name is not "
                                        "available. The bucket namespace is shared by all users of the "
                                        "system. Please select a different name and try again."),
    errors.BucketAlreadyOwnedByYou: S3Error("BucketAlreadyOwnedByYou", 409),
    errors.KeyAlreadyExists: S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you "
                                     "specified did not hold"),
    errors.ResourceAlreadyExists: S3Error("OperationAborted", 409, "A conflicting conditional operation is "
                                          "currently in progress against this resource. Please try again."),
    errors.ResourceReferenced: S3Error("OperationAborted", 409),
    errors.RelatedResourceNotFound: S3Error("NoSuchBucket", 404, "The specified bucket does not exist"),
    errors.BucketNotEmpty: S3Error("BucketNotEmpty", 409),
    errors.TooManyObjectsToEmpty: S3Error("InvalidRequest", 400),
    errors.ResourceLocked: S3Error("OperationAborted", 409, "A conflicting conditional operation is "
                                   "currently in progress against this resource. Please try again."),
    errors.ConflictingOperation: S3Error("OperationAborted", 409),
    errors.PreconditionFailed: S3Error("PreconditionFailed", 412),
    errors.NotModified: S3Error("NotModified", 304),
    errors.AccessDenied: S3Error("AccessDenied", 403),
    errors.InvalidRole: S3Error("AccessDenied", 403),
    errors.MissingHeader: S3Error("InvalidRequest", 400),
    errors.CORSForbidden: S3Error("AccessForbidden", 403),
    errors.InvalidJWT: S3Error("InvalidToken", 400, "The provided token is malformed or otherwise invalid."),
    errors.ExpiredToken: S3Error("ExpiredToken", 400),
    errors.InvalidSignature: S3Error("SignatureDoesNotMatch", 403),
    errors.SignatureDoesNotMatch: S3Error("SignatureDoesNotMatch", 403),
    errors.InvalidAccessKeyId: S3Error("InvalidAccessKeyId", 403),
    errors.RequestTimeTooSkewed: S3Error("RequestTimeTooSkewed", 403),
    errors.AuthorizationHeaderMalformed: S3Error("AuthorizationHeaderMalformed", 400),
    errors.AuthorizationQueryParametersError: S3Error("AuthorizationQueryParametersError", 400),
    errors.XAmzContentSHA256Mismatch: S3Error("XAmzContentSHA256Mismatch", 400),
    errors.InvalidRequest: S3Error("InvalidRequest", 400),
    errors.InvalidArgument: S3Error("InvalidArgument", 400),
    errors.InvalidParameter: S3Error("InvalidArgument", 400),
    errors.InvalidBucketName: S3Error("InvalidBucketName", 400, "The specified bucket is not valid."),
    errors.InvalidKey: S3Error("InvalidArgument", 400),
    errors.KeyTooLong: S3Error("KeyTooLongError", 400),
    errors.InvalidMimeType: S3Error("InvalidArgument", 400),
    errors.InvalidRobotsTag: S3Error("InvalidArgument", 400),
    errors.InvalidURI: S3Error("InvalidURI", 400),
    errors.MalformedXML: S3Error("MalformedXML", 400),
    errors.MalformedJSON: S3Error("MalformedPolicy", 400),
    errors.InvalidTag: S3Error("InvalidTag", 400),
    errors.MetadataTooLarge: S3Error("MetadataTooLarge", 400),
    errors.InvalidRange: S3Error("InvalidRange", 416),
    errors.InvalidPartNumber: S3Error("InvalidPartNumber", 416),
    errors.InvalidPart: S3Error("InvalidPart", 400),
    errors.InvalidPartOrder: S3Error("InvalidPartOrder", 400),
    errors.EntityTooSmall: S3Error("EntityTooSmall", 400),
    errors.EntityTooLarge: S3Error("EntityTooLarge", 413, "Your proposed upload exceeds the maximum allowed size"),
    errors.BodyTooLarge: S3Error("MaxMessageLengthExceeded", 400, "Your request was too big."),
    errors.IncompleteBody: S3Error("IncompleteBody", 400),
    errors.MissingContentLength: S3Error("MissingContentLength", 411),
    errors.BadDigest: S3Error("BadDigest", 400),
    errors.InvalidDigest: S3Error("InvalidDigest", 400),
    errors.InvalidPolicyDocument: S3Error("InvalidPolicyDocument", 400),
    errors.MalformedPOSTRequest: S3Error("MalformedPOSTRequest", 400),
    errors.MaxPostPreDataLengthExceeded: S3Error("MaxPostPreDataLengthExceeded", 400),
    errors.AccessControlListNotSupported: S3Error("AccessControlListNotSupported", 400),
    errors.NotImplemented: S3Error("NotImplemented", 501),
    errors.MethodNotAllowed: S3Error("MethodNotAllowed", 405),
    errors.InternalError: S3Error("InternalError", 500, _INTERNAL),
    errors.DatabaseTimeout: S3Error("SlowDown", 503, _RETRY),
    errors.DatabaseUnavailable: S3Error("ServiceUnavailable", 503, _RETRY),
    errors.DatabaseError: S3Error("InternalError", 500, _INTERNAL),
    errors.DatabaseSchemaMismatch: S3Error("InternalError", 500, _INTERNAL),
    errors.SlowDown: S3Error("SlowDown", 503, _RETRY),
    errors.BackendUnavailable: S3Error("ServiceUnavailable", 503, _RETRY),
    errors.BackendError: S3Error("InternalError", 500, _INTERNAL),
    errors.InsufficientStorage: S3Error("InsufficientStorage", 507, "Insufficient storage to complete the "
                                        "request."),
}

_UNKNOWN = S3Error("InternalError", 500, _INTERNAL)


def s3_error(error: errors.Error) -> S3Error:
    """What the client sees for `error`."""
    found = TABLE.get(type(error), _UNKNOWN)
    return found if found.message is not None else found._replace(message=error.message)
