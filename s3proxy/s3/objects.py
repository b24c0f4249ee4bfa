"""Object operations: Put/Get/Head/Delete, DeleteObjects, CopyObject, tagging,
attributes (ACLs: acl.py). Each parses the request, makes its storage call, renders the answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from s3proxy import errors
from s3proxy.s3 import meta
from s3proxy.s3.request import S3Request, S3Response
from s3proxy.s3.xml import Child, child_text, children, document, parse
from s3proxy.storage import objects as store
from s3proxy.storage import tagging
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.conditions import Conditions, parse_range
from s3proxy.storage.objectinfo import ObjectInfo
from s3proxy.storage.objects import CopyOptions, WriteOptions

MAX_DELETE_KEYS = 1000


def write_options(req: S3Request, *, standard_limit: bool = True) -> WriteOptions:
    """What PutObject / CreateMultipartUpload headers say about the object."""
    h = req.headers
    if_none_match = h.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise errors.NotImplemented("If-None-Match on writes supports only '*'")
    return WriteOptions(
        describing=meta.describing(h),
        user_metadata=meta.user_metadata(h),
        size=req.body.length,
        upsert=True,
        if_none_match_star=if_none_match is not None,
        if_match=h.get("if-match"),
        standard_limit=standard_limit,
    )


async def put_object(req: S3Request) -> S3Response:
    info = await store.put_object(req.ctx, req.bucket_name, req.key_name, req.body, write_options(req))
    return S3Response(headers=[("ETag", info.etag)] + meta.checksum_headers(req.body.checksums))


async def bucket_or_key_missing(req: S3Request, exc: errors.NoSuchKey, bucket: str | None = None) -> None:
    """NoSuchBucket rather than NoSuchKey when the bucket itself (the request's, or a
    copy's source bucket) is missing."""
    await find_bucket_as_service(req.ctx, bucket if bucket is not None else req.bucket_name)
    raise exc


async def find(req: S3Request) -> ObjectInfo:
    """The object as the caller sees it (NoSuchBucket when the bucket is missing)."""
    try:
        return await store.find_object(req.ctx, req.bucket_name, req.key_name, mode="user")
    except errors.NoSuchKey as exc:
        await bucket_or_key_missing(req, exc)
        raise


def _conditions(req: S3Request, prefix: str = "") -> Conditions:
    h = req.headers
    return Conditions(if_match=h.get(prefix + "if-match"), if_none_match=h.get(prefix + "if-none-match"),
                      if_modified_since=h.get(prefix + "if-modified-since"),
                      if_unmodified_since=h.get(prefix + "if-unmodified-since"))


def _part_range(info: ObjectInfo, part: str) -> tuple[int, int] | None:
    """partNumber of GetObject/HeadObject: a part of a multipart object, or part 1 = all.
    Beyond the last part: AWS's 416 InvalidPartNumber, which names the part asked for
    and the count (<PartNumberRequested>, <ActualPartCount>); a single-part object
    counts one part."""
    if not part.isdigit() or not 1 <= int(part) <= 10_000:
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    number = int(part)
    sizes = info.meta.part_sizes
    count = len(sizes) or 1
    if number > count:
        raise errors.InvalidPartNumber(details=(("PartNumberRequested", str(number)),
                                                ("ActualPartCount", str(count))))
    if not sizes:
        return (0, info.size - 1) if info.size else None
    start = sum(sizes[: number - 1])
    return start, start + sizes[number - 1] - 1


class _Read:
    """GetObject/HeadObject's checks and range for one row: the conditions, then the
    Range header or partNumber; the response headers to go with them."""

    def __init__(self, req: S3Request) -> None:
        self.req = req
        part = req.query.get("partNumber")
        if part is not None and req.header("range"):
            raise errors.InvalidRequest("Cannot specify both Range header and partNumber query parameter")
        self.part = part
        self.headers: list[tuple[str, str]] = []

    def plan(self, info: ObjectInfo) -> tuple[int, int] | None:
        req = self.req
        _conditions(req).check(info.etag, info.last_modified)
        if self.part is not None:
            byte_range = _part_range(info, self.part)
        else:
            byte_range = parse_range(req.header("range"), info.size)
        whole = byte_range is None or byte_range == (0, info.size - 1)
        part = int(self.part) if self.part is not None and info.meta.part_sizes else None
        checksum_mode = (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED"
        headers = meta.object_headers(info, checksums=checksum_mode and (whole or part is not None), part=part)
        headers = meta.apply_overrides(headers, req.query)
        if byte_range is not None and (self.part is not None or req.header("range")):
            start, end = byte_range
            headers += [("Content-Range", f"bytes {start}-{end}/{info.size}"),
                        ("Content-Length", str(end - start + 1))]
        else:
            byte_range = None
            headers.append(("Content-Length", str(info.size)))
        self.headers = headers
        return byte_range


async def get_object(req: S3Request) -> S3Response:
    read = _Read(req)
    try:
        _, byte_range, stream = await store.read_object(req.ctx, req.bucket_name, req.key_name, mode="user",
                                                        plan=read.plan)
    except errors.NoSuchKey as exc:
        await bucket_or_key_missing(req, exc)
        raise
    return S3Response(status=206 if byte_range is not None else 200, headers=read.headers, stream=stream)


async def head_object(req: S3Request) -> S3Response:
    read = _Read(req)
    byte_range = read.plan(await find(req))
    return S3Response(status=206 if byte_range is not None else 200, headers=read.headers)


async def delete_object(req: S3Request) -> S3Response:
    """204 whether or not the key existed (the bucket must exist)."""
    try:
        await store.delete_object(req.ctx, req.bucket_name, req.key_name)
    except (errors.NoSuchKey, errors.InvalidKey, errors.KeyTooLong):
        await find_bucket_as_service(req.ctx, req.bucket_name)
    return S3Response(status=204)


async def delete_objects(req: S3Request) -> S3Response:
    if "content-md5" not in req.headers and not any(h.startswith("x-amz-checksum-") or h == "x-amz-trailer"
                                                    for h in req.headers):
        raise errors.InvalidRequest("Missing required header for this request: Content-MD5")
    root = parse(await req.xml_body(), "Delete")
    quiet = (child_text(root, "Quiet") or "").strip().lower() == "true"
    wanted: list[tuple[str, str | None]] = []
    for obj in children(root, "Object"):
        key = child_text(obj, "Key")
        if key is None:
            raise errors.MalformedXML()
        wanted.append((key, child_text(obj, "VersionId")))
    if not wanted or len(wanted) > MAX_DELETE_KEYS:
        raise errors.MalformedXML()
    await find_bucket_as_service(req.ctx, req.bucket_name)
    names = list(dict.fromkeys(k for k, _ in wanted))
    _, refused = await store.delete_objects(req.ctx, req.bucket_name, names)
    denied = set(refused)
    results: list[Child] = []
    for key, version in wanted:
        if key in denied:
            results.append(("Error", [("Key", key), ("VersionId", version), ("Code", "AccessDenied"),
                                      ("Message", "Access Denied")]))
        elif not quiet:
            results.append(("Deleted", [("Key", key), ("VersionId", version)]))
    return S3Response.document(document("DeleteResult", results))


def parse_copy_source(value: str) -> tuple[str, str]:
    """`x-amz-copy-source`: URL-encoded `bucket/key` (leading `/` optional), `?versionId=null` allowed."""
    source, _, query = value.partition("?")
    if query and query not in ("versionId=null", "versionId="):
        raise errors.NoSuchVersion()
    source = unquote(source).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
    return bucket, key


async def copy_object(req: S3Request) -> S3Response:
    src_bucket, src_key = parse_copy_source(req.headers["x-amz-copy-source"])
    directive = (req.header("x-amz-metadata-directive") or "COPY").upper()
    tag_directive = (req.header("x-amz-tagging-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE") or tag_directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown metadata or tagging directive")
    if (src_bucket, src_key) == (req.bucket_name, req.key_name) and directive == "COPY" \
            and tag_directive == "COPY":
        raise errors.InvalidRequest("This copy request is illegal because it is trying to copy an object to "
                                    "itself without changing the object's metadata, storage class, website "
                                    "redirect location or encryption attributes.")
    opts = CopyOptions(upsert=True, source_conditions=_conditions(req, "x-amz-copy-source-"))
    if directive == "REPLACE":
        replacement = meta.describing(req.headers)
        opts.replace = True
        opts.mimetype, opts.cache_control = replacement.mimetype, replacement.cache_control
        opts.content_headers = replacement.content_headers
        opts.user_metadata = meta.user_metadata(req.headers)
    if tag_directive == "REPLACE":
        opts.tags = meta.parse_tagging_header(req.header("x-amz-tagging") or "") or None
    try:
        info = await store.copy_object(req.ctx, src_bucket, src_key, req.bucket_name, req.key_name, opts)
    except errors.NoSuchKey as exc:
        await bucket_or_key_missing(req, exc, src_bucket)
        raise
    body = document("CopyObjectResult", [("ETag", info.etag), ("LastModified", info.last_modified)])
    return S3Response.document(body)


# --- tagging, attributes ---------------------------------------------------------


async def get_object_tagging(req: S3Request) -> S3Response:
    info = await find(req)
    tags: dict[str, Any] = dict(info.meta.describing.tags or {})
    items: list[Child] = [("Tag", [("Key", k), ("Value", str(v))]) for k, v in tags.items()]
    return S3Response.document(document("Tagging", [("TagSet", items)]),
                               headers=[("x-amz-version-id", "null")])


async def put_object_tagging(req: S3Request) -> S3Response:
    root = parse(await req.xml_body(), "Tagging")
    pairs: list[tuple[str, str]] = []
    for tag_set in children(root, "TagSet"):
        for tag in children(tag_set, "Tag"):
            key = child_text(tag, "Key")
            if key is None:
                raise errors.MalformedXML()
            pairs.append((key, child_text(tag, "Value") or ""))
    tags = meta.check_tags(pairs)
    await find(req)
    await tagging.set_tags(req.ctx, req.bucket_name, req.key_name, tags)
    return S3Response(headers=[("x-amz-version-id", "null")])


async def delete_object_tagging(req: S3Request) -> S3Response:
    await find(req)
    await tagging.set_tags(req.ctx, req.bucket_name, req.key_name, None)
    return S3Response(status=204, headers=[("x-amz-version-id", "null")])


ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_ATTRIBUTE_PARTS = 1000


def _int_header(req: S3Request, name: str, default: int) -> int:
    raw = (req.header(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise errors.InvalidArgument(f"Provided {name} not an integer or within integer range")
    return int(raw)


def _object_parts(req: S3Request, info: ObjectInfo) -> list[Child]:
    """ObjectParts: the part count; and, when the object has a checksum (AWS returns
    <Part> only then), a page of parts after x-amz-part-number-marker, at most
    x-amz-max-parts (1,000 at most), each with its size and, for a COMPOSITE checksum,
    its own checksum."""
    sizes = info.meta.part_sizes
    out: list[Child] = [("PartsCount", len(sizes))]
    if not info.meta.checksums:
        return out
    marker = _int_header(req, "x-amz-part-number-marker", 0)
    max_parts = min(_int_header(req, "x-amz-max-parts", MAX_ATTRIBUTE_PARTS), MAX_ATTRIBUTE_PARTS)
    numbers = list(range(marker + 1, len(sizes) + 1))[:max_parts]
    algorithm = next(iter(info.meta.checksums)).upper()
    part_sums = info.meta.parts.checksums
    out += [("PartNumberMarker", marker), ("NextPartNumberMarker", numbers[-1] if numbers else marker),
            ("MaxParts", max_parts), ("IsTruncated", bool(numbers) and numbers[-1] < len(sizes))]
    for n in numbers:
        part: list[Child] = [("PartNumber", n), ("Size", sizes[n - 1])]
        if n <= len(part_sums):
            part.append((f"Checksum{algorithm}", part_sums[n - 1]))
        out.append(("Part", part))
    return out


async def get_object_attributes(req: S3Request) -> S3Response:
    wanted = {a.strip() for a in (req.header("x-amz-object-attributes") or "").split(",") if a.strip()}
    if not wanted or not wanted <= set(ATTRIBUTES):
        raise errors.InvalidArgument("Invalid attribute name specified.")
    info = await find(req)
    _conditions(req).check(info.etag, info.last_modified, for_read=False)
    out: list[Child] = []
    if "ETag" in wanted:
        out.append(("ETag", info.etag.strip('"')))
    if "Checksum" in wanted:
        found = info.meta.checksums
        if found:
            out.append(("Checksum", [(f"Checksum{a.upper()}", v) for a, v in found.items()]
                        + [("ChecksumType", info.meta.checksum_type)]))
    if "ObjectParts" in wanted and info.meta.part_sizes:
        out.append(("ObjectParts", _object_parts(req, info)))
    if "StorageClass" in wanted:
        out.append(("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        out.append(("ObjectSize", info.size))
    return S3Response.document(document("GetObjectAttributesResponse", out),
                               headers=[("Last-Modified", meta.http_date(info))])
