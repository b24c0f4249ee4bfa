"""Multipart upload operations: create, upload part (and part copy), complete, abort,
list parts, list uploads. The logic lives in storage/multipart.py."""

from __future__ import annotations

import re

from s3proxy import errors
from s3proxy.auth.checksums import ALGORITHMS, header_checksums, multipart_checksum
from s3proxy.s3.buckets import Listing
from s3proxy.s3.objects import _conditions, bucket_or_key_missing, parse_copy_source, write_options
from s3proxy.s3.request import S3Request, S3Response
from s3proxy.s3.service import int_param, owner
from s3proxy.s3.xml import Child, child_text, children, document, parse
from s3proxy.storage import completion
from s3proxy.storage import multipart as store
from s3proxy.storage.completion import CompletedPart, CompleteOptions

_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
MAX_COMPLETE_BODY = 16 * 1024 * 1024  # 10,000 parts of XML


def _upload_id(req: S3Request) -> str:
    value = req.query.get("uploadId") or ""
    if not value:
        raise errors.NoSuchUpload()
    return value


def _part_number(req: S3Request) -> int:
    raw = req.query.get("partNumber")
    if raw is None or not raw.isdigit():
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    return int(raw)


def _checksum_headers(checksum: tuple[str, str] | None) -> list[tuple[str, str]]:
    """x-amz-checksum-algorithm / -type, as CreateMultipartUpload echoes them."""
    if checksum is None:
        return []
    return [("x-amz-checksum-algorithm", checksum[0].upper()), ("x-amz-checksum-type", checksum[1])]


async def create_multipart_upload(req: S3Request) -> S3Response:
    opts = write_options(req, standard_limit=False)
    checksum = multipart_checksum(req.header("x-amz-checksum-algorithm"), req.header("x-amz-checksum-type"))
    upload = await store.create_upload(req.ctx, req.bucket_name, req.key_name, opts, checksum=checksum)
    body = document("InitiateMultipartUploadResult", [("Bucket", req.bucket_name), ("Key", req.key_name),
                                                      ("UploadId", upload.id)])
    return S3Response.document(body, headers=_checksum_headers(checksum))


async def upload_part(req: S3Request) -> S3Response:
    part = await store.upload_part(req.ctx, req.bucket_name, req.key_name, _upload_id(req), _part_number(req),
                                   req.body, req.body.length, declared=frozenset(req.body.verifier.expected))
    checksums = dict(req.body.checksums)
    if part.checksum is not None:  # the upload's algorithm, computed here when the client sent none
        checksums.setdefault(*part.checksum)
    return S3Response(headers=[("ETag", part.etag)] + [(f"x-amz-checksum-{a}", v) for a, v in checksums.items()])


async def upload_part_copy(req: S3Request) -> S3Response:
    src_bucket, src_key = parse_copy_source(req.headers["x-amz-copy-source"])
    byte_range: tuple[int, int] | None = None
    raw_range = req.header("x-amz-copy-source-range")
    if raw_range:
        match = _COPY_RANGE.match(raw_range.strip())
        if match is None:
            raise errors.InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last "
                                         "where first and last are the zero-based offsets of the first and last "
                                         "bytes to copy")
        byte_range = (int(match.group(1)), int(match.group(2)))
    try:
        part = await store.upload_part_copy(req.ctx, req.bucket_name, req.key_name, _upload_id(req),
                                            _part_number(req), src_bucket, src_key, byte_range,
                                            _conditions(req, "x-amz-copy-source-"))
    except errors.NoSuchKey as exc:
        await bucket_or_key_missing(req, exc, src_bucket)
        raise
    body = document("CopyPartResult", [("LastModified", part.last_modified), ("ETag", part.etag)])
    return S3Response.document(body)


async def complete_multipart_upload(req: S3Request) -> S3Response:
    root = parse(await req.xml_body(MAX_COMPLETE_BODY), "CompleteMultipartUpload")
    wanted: list[CompletedPart] = []
    for part in children(root, "Part"):
        number, etag = child_text(part, "PartNumber"), child_text(part, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise errors.MalformedXML()
        sums = {a: v.strip() for a in ALGORITHMS if (v := child_text(part, f"Checksum{a.upper()}"))}
        wanted.append(CompletedPart(int(number), etag, sums))
    done = await completion.complete_upload(req.ctx, req.bucket_name, req.key_name, _upload_id(req), wanted,
                                            _complete_options(req))
    out: list[Child] = [("Location", f"/{req.bucket_name}/{req.key_name}"), ("Bucket", req.bucket_name),
                        ("Key", req.key_name), ("ETag", done.etag)]
    if done.checksum is not None:
        algorithm, value, kind = done.checksum
        out += [(f"Checksum{algorithm.upper()}", value), ("ChecksumType", kind)]
    return S3Response.document(document("CompleteMultipartUploadResult", out))


def _complete_options(req: S3Request) -> CompleteOptions:
    """The object's checksum the request claims, its size, and its conditions."""
    size = req.header("x-amz-mp-object-size")
    if size is not None and not size.strip().isdigit():
        raise errors.InvalidArgument("The x-amz-mp-object-size header must be a non-negative integer")
    if_none_match = req.header("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise errors.NotImplemented("If-None-Match on writes supports only '*'")
    return CompleteOptions(claimed=header_checksums(req.headers), checksum_type=req.header("x-amz-checksum-type"),
                           object_size=int(size) if size is not None else None, if_match=req.header("if-match"),
                           if_none_match_star=if_none_match is not None)


def _part_checksum(part: store.Part) -> list[Child]:
    return [] if part.checksum is None else [(f"Checksum{part.checksum[0].upper()}", part.checksum[1])]


async def abort_multipart_upload(req: S3Request) -> S3Response:
    await store.abort_upload(req.ctx, req.bucket_name, req.key_name, _upload_id(req))
    return S3Response(status=204)


async def list_parts(req: S3Request) -> S3Response:
    marker = int_param(req, "part-number-marker", 0, high=store.MAX_PARTS)
    max_parts = int_param(req, "max-parts", 1000, low=0, high=1000)
    upload, parts, truncated = await store.list_parts(req.ctx, req.bucket_name, req.key_name, _upload_id(req),
                                                      marker=marker, max_parts=max_parts)
    ident = upload.owner_id or req.ctx.settings.tenant_id
    out: list[Child] = [("Bucket", req.bucket_name), ("Key", req.key_name), ("UploadId", upload.id),
                        ("Initiator", [("ID", ident), ("DisplayName", ident)]), ("Owner", owner(req)),
                        ("StorageClass", "STANDARD"), ("PartNumberMarker", marker)]
    if upload.checksum is not None:
        out += [("ChecksumAlgorithm", upload.checksum[0].upper()), ("ChecksumType", upload.checksum[1])]
    if parts:
        out.append(("NextPartNumberMarker", parts[-1].number))
    out += [("MaxParts", max_parts), ("IsTruncated", truncated)]
    out += [("Part", [("PartNumber", p.number), ("LastModified", p.last_modified), ("ETag", p.etag),
                      ("Size", p.size)] + _part_checksum(p)) for p in parts]
    return S3Response.document(document("ListPartsResult", out))


async def list_multipart_uploads(req: S3Request) -> S3Response:
    listing = Listing(req)  # prefix, delimiter and encoding-type, as for object listings
    key_marker = req.query.get("key-marker") or ""
    id_marker = req.query.get("upload-id-marker") or ""
    max_uploads = int_param(req, "max-uploads", 1000, low=0, high=1000)
    page = await store.list_uploads(req.ctx, req.bucket_name, prefix=listing.prefix, delimiter=listing.delimiter,
                                    key_marker=key_marker, upload_id_marker=id_marker, max_uploads=max_uploads)
    out: list[Child] = [("Bucket", req.bucket_name), ("KeyMarker", listing.enc(key_marker)),
                        ("UploadIdMarker", id_marker)]
    if page.next_key is not None:
        out += [("NextKeyMarker", listing.enc(page.next_key)), ("NextUploadIdMarker", page.next_upload_id or "")]
    out += [("Prefix", listing.enc(listing.prefix)), ("Delimiter", listing.enc(listing.delimiter)),
            ("MaxUploads", max_uploads), ("IsTruncated", page.is_truncated)]
    for u in page.uploads:
        ident = u.owner_id or req.ctx.settings.tenant_id
        out.append(("Upload", [("Key", listing.enc(u.key)), ("UploadId", u.id),
                               ("Initiator", [("ID", ident), ("DisplayName", ident)]),
                               ("Owner", [("ID", ident), ("DisplayName", ident)]),
                               ("StorageClass", "STANDARD"), ("Initiated", u.created_at)]))
    return S3Response.document(document("ListMultipartUploadsResult", out + listing.tail(page.common_prefixes)))
