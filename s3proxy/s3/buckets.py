"""Bucket-level operations: create/delete/head, location, versioning, ACL, listings."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from s3proxy import errors
from s3proxy.cors import CorsRule
from s3proxy.s3.acl import header_public
from s3proxy.s3.request import S3Request, S3Response
from s3proxy.s3.service import decode_token, encode_token, int_param
from s3proxy.s3.xml import Child, Markup, child_text, children, document, escape_all, parse
from s3proxy.storage import buckets as store_buckets
from s3proxy.storage import cors as store_cors
from s3proxy.storage.listed import ListedKey
from s3proxy.storage.listing import ListPage, list_page

MAX_KEYS = 1000
LEGACY_REGION = "us-east-1"  # where re-creating your own bucket answers 200
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")  # what `quote(safe="/")` leaves as is


def _url_encode(value: str) -> str:
    """encoding-type=url: keys stay readable, `/` included; most need no quoting at all."""
    return value if _URL_SAFE.fullmatch(value) else quote(value, safe="/")


async def create_bucket(req: S3Request) -> S3Response:
    """CreateBucket; the canned ACL public-read makes the bucket public (s3/acl.py).

    A name already taken: BucketAlreadyExists when another identity made the bucket;
    the caller's own bucket is 409 BucketAlreadyOwnedByYou, except in us-east-1, where
    AWS keeps its legacy answer, 200 (AWS's CreateBucket reference and error list:
    "Amazon S3 returns this error in all AWS Regions except in the North Virginia
    Region"). The bucket is left exactly as it was, its objects and its public flag
    too: AWS would also reset the bucket's ACL, but that ACL is the public flag here,
    and a retried `mb` must not unpublish a bucket."""
    raw = await req.xml_body()
    if raw.strip():
        config = parse(raw, "CreateBucketConfiguration")
        child_text(config, "LocationConstraint")  # any region is ours
    public = bool(header_public(req))
    name = store_buckets.validate_s3_bucket_name(req.bucket_name)
    try:
        await store_buckets.create_bucket(req.ctx, name, public=public)
    except errors.BucketAlreadyOwnedByYou:
        if req.ctx.settings.s3_protocol_region != LEGACY_REGION:
            raise
    return S3Response(headers=[("Location", f"/{name}")])


async def delete_bucket(req: S3Request) -> S3Response:
    await store_buckets.delete_bucket(req.ctx, req.bucket_name)
    return S3Response(status=204)


async def head_bucket(req: S3Request) -> S3Response:
    await store_buckets.get_bucket(req.ctx, req.bucket_name)
    return S3Response(headers=[("x-amz-bucket-region", req.ctx.settings.s3_protocol_region)])


async def get_bucket_location(req: S3Request) -> S3Response:
    await store_buckets.get_bucket(req.ctx, req.bucket_name)
    region = req.ctx.settings.s3_protocol_region
    # AWS: us-east-1 is the empty LocationConstraint
    text = None if region == "us-east-1" else region
    return S3Response.document(document("LocationConstraint", [], text=text))


async def get_bucket_versioning(req: S3Request) -> S3Response:
    """Versioning was never enabled: AWS answers an empty configuration."""
    await store_buckets.get_bucket(req.ctx, req.bucket_name)
    return S3Response.document(document("VersioningConfiguration", []))


# --- listings -----------------------------------------------------------------------


class Listing:
    """The parameters every listing shares, and the url encoding they may ask for."""

    def __init__(self, req: S3Request) -> None:
        encoding = req.query.get("encoding-type")
        if encoding not in (None, "", "url"):
            raise errors.InvalidArgument("Invalid Encoding Method specified in Request")
        self.url = encoding == "url"
        self.prefix = req.query.get("prefix") or ""
        self.delimiter = req.query.get("delimiter") or None
        self.max_keys = int_param(req, "max-keys", MAX_KEYS, low=0, high=MAX_KEYS)

    def enc(self, value: str | None) -> str | None:
        return value if value is None or not self.url else _url_encode(value)

    def head(self, req: S3Request) -> list[Child]:
        return [("Name", req.bucket_name), ("Prefix", self.enc(self.prefix))]

    def tail(self, common_prefixes: list[str]) -> list[Child]:
        out: list[Child] = [("CommonPrefixes", [("Prefix", self.enc(p))]) for p in common_prefixes]
        if self.url:
            out.append(("EncodingType", "url"))
        return out

    def contents(self, req: S3Request, rows: list[ListedKey], with_owner: bool,
                 element: str = "Contents") -> Markup:
        """The page's `<Contents>` (or `<Version>`) elements, one f-string each. Whether
        keys need URL-encoding or anything needs XML escaping is decided per page, not
        per key: a page has 1,000 and they rarely do."""
        keys = [row.name for row in rows]
        if self.url and not _URL_SAFE.fullmatch("".join(keys)):
            keys = [_url_encode(key) for key in keys]
        keys = escape_all(keys)
        etags = escape_all([row.etag for row in rows])
        sizes = escape_all([row.size for row in rows])
        owners = [""] * len(rows)
        if with_owner:
            ids = escape_all([row.owner_id or req.ctx.settings.tenant_id for row in rows])
            owners = [f"<Owner><ID>{i}</ID><DisplayName>{i}</DisplayName></Owner>" for i in ids]
        version = "<VersionId>null</VersionId><IsLatest>true</IsLatest>" if element == "Version" else ""
        return Markup("".join(
            f"<{element}><Key>{key}</Key>{version}<LastModified>{row.last_modified}</LastModified>"
            f"<ETag>{etag}</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass>{owner}</{element}>"
            for row, key, etag, size, owner in zip(rows, keys, etags, sizes, owners, strict=True)
        ))

    async def page(self, req: S3Request, start_after: str | None) -> ListPage:
        return await list_page(req.ctx, req.bucket_name, prefix=self.prefix, delimiter=self.delimiter,
                               start_after=start_after, max_keys=self.max_keys)


async def list_objects(req: S3Request) -> S3Response:
    listing = Listing(req)
    marker = req.query.get("marker") or ""
    page = await listing.page(req, marker or None)
    children = listing.head(req) + [("Marker", listing.enc(marker))]
    if page.is_truncated:
        children.append(("NextMarker", listing.enc(page.next_marker)))
    children += [("MaxKeys", listing.max_keys), ("Delimiter", listing.enc(listing.delimiter)),
                 ("IsTruncated", page.is_truncated)]
    children.append(listing.contents(req, page.objects, with_owner=True))
    return S3Response.document(document("ListBucketResult", children + listing.tail(page.common_prefixes)))


async def list_objects_v2(req: S3Request) -> S3Response:
    if req.query.get("list-type") != "2":
        raise errors.InvalidArgument("Invalid List Type specified in Request")
    listing = Listing(req)
    token = req.query.get("continuation-token")
    start_after = req.query.get("start-after")
    resume = decode_token(token) if token is not None else start_after
    if token and start_after and start_after > (resume or ""):
        resume = start_after
    page = await listing.page(req, resume or None)
    fetch_owner = (req.query.get("fetch-owner") or "").lower() == "true"
    children = listing.head(req)
    if token is not None:
        children.append(("ContinuationToken", token))
    if page.is_truncated and page.next_marker is not None:
        children.append(("NextContinuationToken", encode_token(page.next_marker)))
    children += [("KeyCount", len(page.entries)), ("MaxKeys", listing.max_keys),
                 ("Delimiter", listing.enc(listing.delimiter)), ("IsTruncated", page.is_truncated)]
    if start_after is not None:
        children.append(("StartAfter", listing.enc(start_after)))
    children.append(listing.contents(req, page.objects, with_owner=fetch_owner))
    return S3Response.document(document("ListBucketResult", children + listing.tail(page.common_prefixes)))


async def list_object_versions(req: S3Request) -> S3Response:
    """Unversioned buckets: every object is its one version, `null`."""
    listing = Listing(req)
    key_marker = req.query.get("key-marker") or ""
    version_marker = req.query.get("version-id-marker")
    if version_marker and not key_marker:
        raise errors.InvalidArgument("A version-id marker cannot be specified without a key marker.")
    page = await listing.page(req, key_marker or None)
    children = listing.head(req) + [("KeyMarker", listing.enc(key_marker)),
                                    ("VersionIdMarker", version_marker or "")]
    if page.is_truncated:
        children += [("NextKeyMarker", listing.enc(page.next_marker)), ("NextVersionIdMarker", "null")]
    children += [("MaxKeys", listing.max_keys), ("Delimiter", listing.enc(listing.delimiter)),
                 ("IsTruncated", page.is_truncated)]
    children.append(listing.contents(req, page.objects, with_owner=True, element="Version"))
    return S3Response.document(document("ListVersionsResult", children + listing.tail(page.common_prefixes)))


# --- CORS configuration -----------------------------------------------------------------

CORS_METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
MAX_CORS_RULES = 100


def _cors_rule(el: Any) -> CorsRule:
    origins = tuple(child.text or "" for child in children(el, "AllowedOrigin"))
    methods = tuple((child.text or "").strip() for child in children(el, "AllowedMethod"))
    if not origins or not methods:
        raise errors.MalformedXML()
    for method in methods:
        if method not in CORS_METHODS:
            raise errors.InvalidRequest(f"Found unsupported HTTP method in CORS config. Unsupported method is "
                                        f"{method}")
    for origin in origins:
        if origin.count("*") > 1:
            raise errors.InvalidRequest(f'AllowedOrigin "{origin}" can not have more than one wildcard.')
    max_age = child_text(el, "MaxAgeSeconds")
    if max_age is not None and not max_age.strip().isdigit():
        raise errors.MalformedXML()
    return CorsRule(origins, methods, tuple(c.text or "" for c in children(el, "AllowedHeader")),
                    tuple(c.text or "" for c in children(el, "ExposeHeader")),
                    int(max_age) if max_age is not None else None, child_text(el, "ID"))


async def put_bucket_cors(req: S3Request) -> S3Response:
    root = parse(await req.xml_body(), "CORSConfiguration")
    rules = [_cors_rule(el) for el in children(root, "CORSRule")]
    if not rules or len(rules) > MAX_CORS_RULES:
        raise errors.MalformedXML()
    await store_cors.put_rules(req.ctx, req.bucket_name, rules)
    return S3Response()


async def get_bucket_cors(req: S3Request) -> S3Response:
    await store_buckets.get_bucket(req.ctx, req.bucket_name)
    rules = await store_cors.get_rules(req.ctx, req.bucket_name)
    if rules is None:
        raise errors.NoSuchCORSConfiguration()
    out: list[Child] = []
    for rule in rules:
        out.append(("CORSRule", [("ID", rule.id)]
                    + [("AllowedHeader", h) for h in rule.headers] + [("AllowedMethod", m) for m in rule.methods]
                    + [("AllowedOrigin", o) for o in rule.origins] + [("ExposeHeader", h) for h in rule.expose]
                    + [("MaxAgeSeconds", rule.max_age)]))
    return S3Response.document(document("CORSConfiguration", out))


async def delete_bucket_cors(req: S3Request) -> S3Response:
    await store_cors.delete_rules(req.ctx, req.bucket_name)
    return S3Response(status=204)
