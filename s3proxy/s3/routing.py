"""Which bucket and key a request names, and which S3 operation it is.

Addressing: path-style (`/bucket/key`) and virtual-host style (`Host: bucket.base`),
where `base` is a host we know to be ours: `localhost`, the configured host, an IP
literal, a wildcard-DNS name carrying an IP (`127.0.0.1.nip.io`), or an S3-style
endpoint name (`s3.…`, `s3-…`). A Host that is itself an IP or one of those bases is
path-style. Anything else is path-style too: guessing that `files.example.com` means
bucket `files` would break every deployment behind a plain DNS name.

Dispatch: ONE table of (method, level, selector set, required header) → operation.
A request's selectors are the sub-resource query keys it carries (`?uploads`,
`?tagging`, `?list-type` …); a row matches only when the sets are equal, so an
unsupported sub-resource (`?acl` PUT, `?policy`, `?lifecycle` …) never falls through
to PutObject or GetObject; it is answered 501 NotImplemented.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from s3proxy import errors
from s3proxy.s3 import acl, buckets, multipart, objects, post_object, service
from s3proxy.s3.request import OperationFn

Level = Literal["service", "bucket", "object"]

# Query keys that select an operation or a sub-resource (AWS's list, plus list-type).
SELECTORS = frozenset({
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "list-type", "location", "logging", "metadataConfiguration",
    "metrics", "notification", "object-lock", "ownershipControls", "policy", "policyStatus",
    "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select", "session",
    "tagging", "torrent", "uploadId", "uploads", "versioning", "versions", "website", "renameObject",
})

_S3_BASE = re.compile(r"^s3[.-]")
_WILDCARD_DNS = re.compile(r"^(\d{1,3}(?:[.-]\d{1,3}){3})\.(nip\.io|sslip\.io|traefik\.me)$")


UPLOAD = -1  # a route's max_body: the configured upload size limit
XML = 2 * 1024 * 1024  # a route's max_body: an XML document (DeleteObjects: 1,000 keys of 1 KiB)
COMPLETE_XML = 4 * 1024 * 1024  # CompleteMultipartUpload: 10,000 parts


@dataclass(frozen=True)
class Route:
    method: str
    level: Level
    selectors: frozenset[str]
    operation: OperationFn
    name: str  # the storage.operation RLS policies see
    max_body: int = XML
    header: str | None = None  # a header that must be present (x-amz-copy-source)
    form_auth: bool = False  # signed by its form's policy, not by the request (POST Object)


def _r(method: str, level: Level, selectors: Iterable[str], operation: OperationFn, name: str, *,
       max_body: int = XML, header: str | None = None, form_auth: bool = False) -> Route:
    return Route(method, level, frozenset(selectors), operation, name, max_body, header, form_auth)


# First match wins: rows with a required header come before their plain twin.
TABLE: tuple[Route, ...] = (
    _r("GET", "service", (), service.list_buckets, "storage.s3.bucket.list"),
    _r("PUT", "bucket", (), buckets.create_bucket, "storage.s3.bucket.create"),
    _r("DELETE", "bucket", (), buckets.delete_bucket, "storage.s3.bucket.delete"),
    _r("HEAD", "bucket", (), buckets.head_bucket, "storage.s3.bucket.head"),
    _r("GET", "bucket", ("location",), buckets.get_bucket_location, "storage.s3.bucket.get_location"),
    _r("GET", "bucket", ("versioning",), buckets.get_bucket_versioning, "storage.s3.bucket.get_versioning"),
    _r("GET", "bucket", ("acl",), acl.get_bucket_acl, "storage.s3.bucket.get"),
    _r("PUT", "bucket", ("acl",), acl.put_bucket_acl, "storage.s3.bucket.put_acl"),
    _r("PUT", "bucket", ("cors",), buckets.put_bucket_cors, "storage.s3.bucket.put_cors"),
    _r("GET", "bucket", ("cors",), buckets.get_bucket_cors, "storage.s3.bucket.get_cors"),
    _r("DELETE", "bucket", ("cors",), buckets.delete_bucket_cors, "storage.s3.bucket.delete_cors"),
    _r("GET", "bucket", ("uploads",), multipart.list_multipart_uploads, "storage.s3.upload.list_multipart"),
    _r("GET", "bucket", ("versions",), buckets.list_object_versions, "storage.s3.object.list"),
    _r("GET", "bucket", ("list-type",), buckets.list_objects_v2, "storage.s3.object.list"),
    _r("GET", "bucket", (), buckets.list_objects, "storage.s3.object.list"),
    _r("POST", "bucket", ("delete",), objects.delete_objects, "storage.s3.object.delete_many"),
    _r("POST", "bucket", (), post_object.post_object, "storage.s3.upload", max_body=UPLOAD, form_auth=True),
    _r("PUT", "object", (), objects.copy_object, "storage.s3.object.copy", header="x-amz-copy-source"),
    _r("PUT", "object", (), objects.put_object, "storage.s3.upload", max_body=UPLOAD),
    _r("GET", "object", (), objects.get_object, "storage.s3.object.get"),
    _r("HEAD", "object", (), objects.head_object, "storage.s3.object.info"),
    _r("DELETE", "object", (), objects.delete_object, "storage.s3.object.delete"),
    _r("GET", "object", ("tagging",), objects.get_object_tagging, "storage.s3.object.get_tagging"),
    _r("PUT", "object", ("tagging",), objects.put_object_tagging, "storage.s3.object.put_tagging"),
    _r("DELETE", "object", ("tagging",), objects.delete_object_tagging, "storage.s3.object.delete_tagging"),
    _r("GET", "object", ("attributes",), objects.get_object_attributes, "storage.s3.object.info"),
    _r("GET", "object", ("acl",), acl.get_object_acl, "storage.s3.object.get_acl"),
    _r("PUT", "object", ("acl",), acl.put_object_acl, "storage.s3.object.put_acl"),
    _r("POST", "object", ("uploads",), multipart.create_multipart_upload, "storage.s3.upload.create_multipart"),
    _r("PUT", "object", ("uploadId",), multipart.upload_part_copy, "storage.s3.upload.part_copy",
       header="x-amz-copy-source"),
    _r("PUT", "object", ("uploadId",), multipart.upload_part, "storage.s3.upload.part", max_body=UPLOAD),
    _r("POST", "object", ("uploadId",), multipart.complete_multipart_upload, "storage.s3.upload.complete_multipart",
       max_body=COMPLETE_XML),
    _r("DELETE", "object", ("uploadId",), multipart.abort_multipart_upload, "storage.s3.upload.abort_multipart"),
    _r("GET", "object", ("uploadId",), multipart.list_parts, "storage.s3.upload.list_parts"),
)


def body_headers(route: Route, headers: dict[str, str]) -> dict[str, str]:
    """The headers that describe the request body. CompleteMultipartUpload's
    x-amz-checksum-* headers are the assembled object's checksum, not its XML's."""
    if route.operation is not multipart.complete_multipart_upload:
        return headers
    return {k: v for k, v in headers.items() if not k.startswith("x-amz-checksum-")}


def find_route(method: str, bucket: str | None, key: str | None, query: Iterable[str],
               headers: dict[str, str]) -> Route:
    """The operation for this request; NotImplemented (501) when no row matches."""
    level: Level = "service" if bucket is None else ("bucket" if key is None else "object")
    selectors = frozenset(q for q in query if q in SELECTORS)
    for route in TABLE:
        if (route.method == method and route.level == level and route.selectors == selectors
                and (route.header is None or route.header in headers)):
            return route
    if level == "service" and not selectors:
        raise errors.MethodNotAllowed()
    raise errors.NotImplemented()


# --- addressing ---------------------------------------------------------------------


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def split_host(host_header: str) -> str:
    """The host name without the port, lower-case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def virtual_bucket(host_header: str | None, plain_hosts: Iterable[str] = ()) -> str | None:
    """The bucket named by a virtual-host style Host header, or None for path-style."""
    if not host_header:
        return None
    host = split_host(host_header)
    known = {"localhost", *(h.lower() for h in plain_hosts if h)}
    if _is_ip(host) or host in known or "." not in host:
        return None
    label, base = host.split(".", 1)
    if not label:
        return None
    if base in known or _is_ip(base) or _WILDCARD_DNS.match(base) or _S3_BASE.match(base):
        return label
    return None


def parse_target(path: str, prefix: str, host_header: str | None,
                 plain_hosts: Iterable[str] = ()) -> tuple[str | None, str | None]:
    """(bucket, key) from the raw request path (after the route prefix) and the Host."""
    rest = path[len(prefix):] if prefix and path.startswith(prefix) else path
    rest = rest[1:] if rest.startswith("/") else rest
    bucket = virtual_bucket(host_header, plain_hosts)
    if bucket is None:
        raw_bucket, _, raw_key = rest.partition("/")
        bucket = unquote(raw_bucket) or None
        key = unquote(raw_key, errors="strict") or None
    else:
        key = unquote(rest, errors="strict") or None
    if bucket is None:
        key = None
    return bucket, key
