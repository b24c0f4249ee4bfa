"""The errors every layer raises: one class per failure, named by its code.

An `Error` says what went wrong (its class, whose name is its code) and in a sentence
(its message). It knows nothing about wire formats: each protocol renders it from a
table of its own, `rest/errors.py` as Supabase's JSON envelope and `s3/errors.py` as
S3 XML with AWS's code and status. A unit test checks that both tables cover every
class below and that every class is raised somewhere, so the three cannot drift.

This module sits below every package (auth, db, backends, storage, the protocols), so
none of them imports upwards to raise. Callers write `raise errors.NoSuchKey()` or
`raise errors.InvalidArgument("Part number must be …")`, and catch by class.
"""

from __future__ import annotations

from typing import ClassVar


class Error(Exception):
    """A failure the client should see; subclasses are the codes."""

    default_message: ClassVar[str] = "An error occurred"

    def __init__(self, message: str | None = None, *, details: tuple[tuple[str, str], ...] = (),
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.message = message if message is not None else self.default_message
        # named facts a protocol may add to its error (S3: elements after <Message>,
        # such as <ActualPartCount>), and response headers the answer carries (a 304's
        # ETag); both optional, both plain strings
        self.details = details
        self.headers = headers
        super().__init__(f"{self.code}: {self.message}")

    @property
    def code(self) -> str:
        return type(self).__name__


def all_codes() -> list[type[Error]]:
    """Every error class, for the protocol tables' completeness test."""
    found: list[type[Error]] = []
    pending = list(Error.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


# --- things that do not exist (or that the caller may not see) -------------------------


class NoSuchBucket(Error):
    default_message = "Bucket not found"


class NoSuchKey(Error):
    default_message = "Object not found"


class MissingBytes(Error):
    """The row exists but its bytes are gone from the backend."""

    default_message = "The resource was not found"


class NoSuchUpload(Error):
    default_message = "The specified upload does not exist."


class UploadExpired(Error):
    """A resumable upload left idle past its expiry (TUS answers 410 Gone)."""

    default_message = "The file for this url no longer exists"


class NoSuchVersion(Error):
    default_message = "The specified version does not exist."


class NoSuchCORSConfiguration(Error):
    default_message = "The CORS configuration does not exist"


class RouteNotFound(Error):
    default_message = "Route not found"


# --- conflicts ---------------------------------------------------------------------------


class BucketAlreadyExists(Error):
    default_message = "The resource already exists"


class BucketAlreadyOwnedByYou(Error):
    default_message = "Your previous request to create the named bucket succeeded and you already own it."


class KeyAlreadyExists(Error):
    default_message = "The resource already exists"


class ResourceAlreadyExists(Error):
    """A unique constraint (SQLSTATE 23505) the caller did not name more precisely."""

    default_message = "The resource already exists"


class ResourceReferenced(Error):
    default_message = "The resource is still referenced"


class RelatedResourceNotFound(Error):
    default_message = "The related resource does not exist"


class BucketNotEmpty(Error):
    default_message = "The bucket you tried to delete is not empty"


class TooManyObjectsToEmpty(Error):
    default_message = "Unable to empty the bucket because it contains too many objects"


class ResourceLocked(Error):
    default_message = "The resource is locked"


class ConflictingOperation(Error):
    """Another request changed the object while this one worked on it; retrying is safe."""

    default_message = "A conflicting operation is in progress on this resource. Please try again."


class PreconditionFailed(Error):
    default_message = "At least one of the pre-conditions you specified did not hold"


class NotModified(Error):
    default_message = "Not Modified"


# --- who is asking -----------------------------------------------------------------------


class AccessDenied(Error):
    default_message = "Access denied"


class InvalidRole(Error):
    """A valid token whose role may not use this route (e.g. not service_role)."""

    default_message = "Access denied: Invalid role"


class MissingHeader(Error):
    default_message = "A required header is missing"


class CORSForbidden(Error):
    default_message = ("CORSResponse: This CORS request is not allowed. This is usually because the evaluation of "
                       "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
                       "are not whitelisted by the resource's CORS spec.")


class InvalidJWT(Error):
    default_message = "Invalid JWT"


class ExpiredToken(Error):
    default_message = "The provided token has expired."


class InvalidSignature(Error):
    """A signed-URL token that does not match the URL or its scope."""

    default_message = "Invalid signature"


class SignatureDoesNotMatch(Error):
    default_message = ("The request signature we calculated does not match the signature you provided. "
                       "Check your key and signing method.")


class InvalidAccessKeyId(Error):
    default_message = "The AWS Access Key Id you provided does not exist in our records."


class RequestTimeTooSkewed(Error):
    default_message = "The difference between the request time and the server's time is too large."


class AuthorizationHeaderMalformed(Error):
    default_message = "The authorization header that you provided is not valid."


class AuthorizationQueryParametersError(Error):
    default_message = "The query parameters that provide authentication are not valid."


class XAmzContentSHA256Mismatch(Error):
    default_message = "The provided 'x-amz-content-sha256' header does not match what was computed."


# --- what the request says ---------------------------------------------------------------


class InvalidRequest(Error):
    default_message = "Invalid request"


class InvalidArgument(Error):
    default_message = "Invalid Argument"


class InvalidParameter(Error):
    default_message = "Invalid Parameter"


class InvalidBucketName(Error):
    default_message = "Bucket name invalid"


class InvalidKey(Error):
    default_message = "Invalid key"


class KeyTooLong(Error):
    default_message = "Your key is too long"


class InvalidMimeType(Error):
    default_message = "Invalid mime type"


class InvalidRobotsTag(Error):
    default_message = "Invalid X-Robots-Tag header"


class InvalidURI(Error):
    default_message = "Couldn't parse the specified URI."


class MalformedXML(Error):
    default_message = "The XML you provided was not well-formed or did not validate against our published schema"


class MalformedJSON(Error):
    default_message = "Body is not valid JSON"


class InvalidTag(Error):
    default_message = "The tag provided was not a valid tag."


class MetadataTooLarge(Error):
    default_message = "Your metadata headers exceed the maximum allowed metadata size."


class InvalidRange(Error):
    default_message = "The requested range is not satisfiable"


class InvalidPartNumber(Error):
    default_message = "The requested partnumber is not satisfiable"


class InvalidPart(Error):
    default_message = "One or more of the specified parts could not be found."


class InvalidPartOrder(Error):
    default_message = "The list of parts was not in ascending order."


class EntityTooSmall(Error):
    default_message = "Your proposed upload is smaller than the minimum allowed object size."


class EntityTooLarge(Error):
    default_message = "The object exceeded the maximum allowed size"


class BodyTooLarge(Error):
    """A request body (JSON, XML) beyond what its route accepts; not an object upload."""

    default_message = "Request body is too large"


class IncompleteBody(Error):
    default_message = "You did not provide the number of bytes specified by the Content-Length HTTP header"


class MissingContentLength(Error):
    default_message = "You must provide the Content-Length HTTP header."


class BadDigest(Error):
    default_message = "The Content-MD5 or checksum you specified did not match what we received."


class InvalidDigest(Error):
    default_message = "The Content-MD5 or checksum you specified is not valid."


class InvalidPolicyDocument(Error):
    """A browser form's POST policy that is not valid base64 JSON of the documented shape."""

    default_message = "The content of the form does not meet the conditions specified in the policy document."


class MalformedPOSTRequest(Error):
    default_message = "The body of your POST request is not well-formed multipart/form-data."


class MaxPostPreDataLengthExceeded(Error):
    default_message = "Your POST request fields preceding the upload file were too large."


class AccessControlListNotSupported(Error):
    """An ACL that is neither private nor public-read: a bucket's public flag is all there is."""

    default_message = "The bucket does not allow ACLs"


class NotImplemented(Error):  # noqa: A001 - S3's own code name
    default_message = "A header or operation you provided implies functionality that is not implemented"


class MethodNotAllowed(Error):
    default_message = "The specified method is not allowed against this resource."


# --- the server's side -------------------------------------------------------------------


class InternalError(Error):
    default_message = "Internal Server Error"


class DatabaseTimeout(Error):
    default_message = "Timeout while waiting for the database"


class DatabaseUnavailable(Error):
    default_message = "The database is not reachable"


class DatabaseError(Error):
    default_message = "Database error"


class DatabaseSchemaMismatch(Error):
    default_message = "Database schema mismatch"


class SlowDown(Error):
    default_message = "Too many connections issued to the database"


class BackendUnavailable(Error):
    default_message = "The storage backend is not reachable"


class BackendError(Error):
    default_message = "The storage backend returned an error"


class InsufficientStorage(Error):
    default_message = "There is not enough space left to store the object"
