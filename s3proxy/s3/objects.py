"""Object operations: Put/Get/Head/Delete, DeleteObjects, CopyObject, tagging,
attributes, ACL. Each parses the request, makes its storage call, renders the answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from s3proxy.s3 import meta
from s3proxy.s3.buckets import acl_document
from s3proxy.s3.request import Body, S3Request, S3Response
from s3proxy.s3.xml import Child, child_text, children, document, parse
from s3proxy.storage import objects as store
from s3proxy.storage import tagging
from s3proxy.storage.buckets import find_bucket_as_service
from s3proxy.storage.conditions import Conditions, parse_range
from s3proxy.storage.errors import StorageError
from s3proxy.storage.objects import CopyOptions, ObjectInfo, WriteOptions

MAX_DELETE_KEYS = 1000


def write_options(req: S3Request, *, standard_limit: bool = True) -> WriteOptions:
    """What PutObject / CreateMultipartUpload headers say about the object."""
    h = req.headers
    extra = meta.extra_metadata(h)
    tags = meta.parse_tagging_header(h.get("x-amz-tagging"))
    if tags:
        extra[meta.TAGS] = tags
    if_none_match = h.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise StorageError("NotImplemented", "If-None-Match on writes supports only '*'")
    return WriteOptions(
        content_type=h.get("content-type") or "application/octet-stream",
        cache_control=h.get("cache-control") or "no-cache",
        user_metadata=meta.user_metadata(h),
        extra_metadata=extra,
        size=req.body.size,
        upsert=True,
        if_none_match_star=if_none_match is not None,
        if_match=h.get("if-match"),
        standard_limit=standard_limit,
    )


async def put_object(req: S3Request) -> S3Response:
    opts = write_options(req)

    def remember(body: Body) -> None:  # runs after verification, before the last chunk
        meta.record_checksums(opts.extra_metadata, body.checksums)

    req.body.hooks.append(remember)
    info = await store.put_object(req.ctx, req.bucket_name, req.key_name, aiter(req.body), opts,
                                  operation="storage.s3.upload")
    return S3Response(headers=[("ETag", info.etag)] + meta.checksum_headers(req.body.checksums))


async def find(req: S3Request, operation: str) -> ObjectInfo:
    """The object as the caller sees it; NoSuchBucket rather than NoSuchKey when the
    bucket itself is missing."""
    try:
        return await store.find_object(req.ctx, req.bucket_name, req.key_name, mode="user", operation=operation)
    except StorageError as exc:
        if exc.code == "NoSuchKey":
            await find_bucket_as_service(req.ctx, req.bucket_name, operation)
        raise


def _conditions(req: S3Request, prefix: str = "") -> Conditions:
    h = req.headers
    return Conditions(if_match=h.get(prefix + "if-match"), if_none_match=h.get(prefix + "if-none-match"),
                      if_modified_since=h.get(prefix + "if-modified-since"),
                      if_unmodified_since=h.get(prefix + "if-unmodified-since"))


def _part_range(info: ObjectInfo, part: str) -> tuple[int, int] | None:
    """partNumber of GetObject/HeadObject: a part of a multipart object, or part 1 = all."""
    if not part.isdigit() or not 1 <= int(part) <= 10_000:
        raise StorageError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
    number = int(part)
    sizes: list[int] = list(info.metadata.get("s3PartSizes") or [])
    if not sizes:
        if number != 1:
            raise StorageError("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416)
        return (0, info.size - 1) if info.size else None
    if number > len(sizes):
        raise StorageError("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416)
    start = sum(sizes[: number - 1])
    return start, start + sizes[number - 1] - 1


async def _read(req: S3Request, operation: str) -> tuple[ObjectInfo, tuple[int, int] | None, list[tuple[str, str]]]:
    info = await find(req, operation)
    _conditions(req).check(info.etag, info.last_modified)
    part = req.query.get("partNumber")
    if part is not None and req.header("range"):
        raise StorageError("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    byte_range = _part_range(info, part) if part is not None else parse_range(req.header("range"), info.size)
    whole = byte_range is None or byte_range == (0, info.size - 1)
    checksum_mode = (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED"
    headers = meta.object_headers(info, checksums=checksum_mode and whole and part is None)
    headers = meta.apply_overrides(headers, req.query)
    if byte_range is not None and (part is not None or req.header("range")):
        start, end = byte_range
        headers += [("Content-Range", f"bytes {start}-{end}/{info.size}"),
                    ("Content-Length", str(end - start + 1))]
    else:
        byte_range = None
        headers.append(("Content-Length", str(info.size)))
    return info, byte_range, headers


async def get_object(req: S3Request) -> S3Response:
    info, byte_range, headers = await _read(req, "storage.s3.object.get")
    stream = await store.open_object(req.ctx, info, byte_range)
    return S3Response(status=206 if byte_range is not None else 200, headers=headers, stream=stream)


async def head_object(req: S3Request) -> S3Response:
    _, byte_range, headers = await _read(req, "storage.s3.object.info")
    return S3Response(status=206 if byte_range is not None else 200, headers=headers)


async def delete_object(req: S3Request) -> S3Response:
    """204 whether or not the key existed (the bucket must exist)."""
    try:
        await store.delete_object(req.ctx, req.bucket_name, req.key_name, operation="storage.s3.object.delete")
    except StorageError as exc:
        if exc.code not in ("NoSuchKey", "InvalidKey"):
            raise
        await find_bucket_as_service(req.ctx, req.bucket_name, "storage.s3.object.delete")
    return S3Response(status=204)


async def delete_objects(req: S3Request) -> S3Response:
    if "content-md5" not in req.headers and not any(h.startswith("x-amz-checksum-") or h == "x-amz-trailer"
                                                    for h in req.headers):
        raise StorageError("InvalidRequest", "Missing required header for this request: Content-MD5")
    root = parse(await req.body.read_all(), "Delete")
    quiet = (child_text(root, "Quiet") or "").strip().lower() == "true"
    wanted: list[tuple[str, str | None]] = []
    for obj in children(root, "Object"):
        key = child_text(obj, "Key")
        if key is None:
            raise StorageError("MalformedXML")
        wanted.append((key, child_text(obj, "VersionId")))
    if not wanted or len(wanted) > MAX_DELETE_KEYS:
        raise StorageError("MalformedXML")
    await find_bucket_as_service(req.ctx, req.bucket_name, "storage.s3.object.delete_many")
    names = list(dict.fromkeys(k for k, _ in wanted))
    _, refused = await store.delete_objects(req.ctx, req.bucket_name, names,
                                            operation="storage.s3.object.delete_many")
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
        raise StorageError("NoSuchVersion", "The specified version does not exist.", status=404)
    source = unquote(source).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise StorageError("InvalidArgument", "Copy Source must mention the source bucket and key: "
                           "sourcebucket/sourcekey")
    return bucket, key


async def copy_object(req: S3Request) -> S3Response:
    src_bucket, src_key = parse_copy_source(req.headers["x-amz-copy-source"])
    directive = (req.header("x-amz-metadata-directive") or "COPY").upper()
    tag_directive = (req.header("x-amz-tagging-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE") or tag_directive not in ("COPY", "REPLACE"):
        raise StorageError("InvalidArgument", "Unknown metadata or tagging directive")
    if (src_bucket, src_key) == (req.bucket_name, req.key_name) and directive == "COPY" \
            and tag_directive == "COPY":
        raise StorageError("InvalidRequest", "This copy request is illegal because it is trying to copy an "
                           "object to itself without changing the object's metadata, storage class, website "
                           "redirect location or encryption attributes.")
    opts = CopyOptions(upsert=True, copy_metadata=directive == "COPY",
                       source_conditions=_conditions(req, "x-amz-copy-source-"))
    if directive == "REPLACE":
        opts.content_type = req.header("content-type") or "application/octet-stream"
        opts.cache_control = req.header("cache-control") or "no-cache"
        opts.user_metadata = meta.user_metadata(req.headers)
        opts.extra_metadata = meta.extra_metadata(req.headers)
        if tag_directive == "COPY":
            source = await find(req_for(req, src_bucket, src_key), "storage.s3.object.copy")
            if source.metadata.get(meta.TAGS):
                opts.extra_metadata[meta.TAGS] = source.metadata[meta.TAGS]
    if tag_directive == "REPLACE":
        opts.extra_metadata[meta.TAGS] = meta.parse_tagging_header(req.header("x-amz-tagging") or "") or None
    info = await store.copy_object(req.ctx, src_bucket, src_key, req.bucket_name, req.key_name, opts,
                                   operation="storage.s3.object.copy")
    body = document("CopyObjectResult", [("ETag", info.etag), ("LastModified", info.last_modified)])
    return S3Response.document(body)


def req_for(req: S3Request, bucket: str, key: str) -> S3Request:
    """The same request aimed at another object (the copy source)."""
    return S3Request(req.method, bucket, key, req.query, req.headers, req.ctx, req.body, req.resource)


# --- tagging, attributes, ACL ---------------------------------------------------------


async def get_object_tagging(req: S3Request) -> S3Response:
    info = await find(req, "storage.s3.object.get_tagging")
    tags: dict[str, Any] = info.metadata.get(meta.TAGS) or {}
    items: list[Child] = [("Tag", [("Key", k), ("Value", str(v))]) for k, v in tags.items()]
    return S3Response.document(document("Tagging", [("TagSet", items)]),
                               headers=[("x-amz-version-id", "null")])


async def put_object_tagging(req: S3Request) -> S3Response:
    root = parse(await req.body.read_all(), "Tagging")
    pairs: list[tuple[str, str]] = []
    for tag_set in children(root, "TagSet"):
        for tag in children(tag_set, "Tag"):
            key = child_text(tag, "Key")
            if key is None:
                raise StorageError("MalformedXML")
            pairs.append((key, child_text(tag, "Value") or ""))
    tags = meta.check_tags(pairs)
    await find(req, "storage.s3.object.put_tagging")
    await tagging.set_tags(req.ctx, req.bucket_name, req.key_name, tags, operation="storage.s3.object.put_tagging")
    return S3Response(headers=[("x-amz-version-id", "null")])


async def delete_object_tagging(req: S3Request) -> S3Response:
    await find(req, "storage.s3.object.delete_tagging")
    await tagging.set_tags(req.ctx, req.bucket_name, req.key_name, None,
                           operation="storage.s3.object.delete_tagging")
    return S3Response(status=204, headers=[("x-amz-version-id", "null")])


ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


async def get_object_attributes(req: S3Request) -> S3Response:
    wanted = {a.strip() for a in (req.header("x-amz-object-attributes") or "").split(",") if a.strip()}
    if not wanted or not wanted <= set(ATTRIBUTES):
        raise StorageError("InvalidArgument", "Invalid attribute name specified.")
    info = await find(req, "storage.s3.object.info")
    _conditions(req).check(info.etag, info.last_modified, for_read=False)
    out: list[Child] = []
    if "ETag" in wanted:
        out.append(("ETag", info.etag.strip('"')))
    if "Checksum" in wanted:
        found = meta.stored_checksums(info)
        if found:
            out.append(("Checksum", [(f"Checksum{a.upper()}", v) for a, v in found.items()]
                        + [("ChecksumType", "FULL_OBJECT")]))
    sizes: list[int] = list(info.metadata.get("s3PartSizes") or [])
    if "ObjectParts" in wanted and sizes:
        out.append(("ObjectParts", [("PartsCount", len(sizes)), ("PartNumberMarker", 0),
                                    ("NextPartNumberMarker", len(sizes)), ("MaxParts", 1000),
                                    ("IsTruncated", False)]
                    + [("Part", [("PartNumber", i + 1), ("Size", s)]) for i, s in enumerate(sizes[:1000])]))
    if "StorageClass" in wanted:
        out.append(("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        out.append(("ObjectSize", info.size))
    return S3Response.document(document("GetObjectAttributesResponse", out),
                               headers=[("Last-Modified", meta.http_date(info))])


async def get_object_acl(req: S3Request) -> S3Response:
    await find(req, "storage.s3.object.get_acl")
    return S3Response.document(acl_document(req, False))
