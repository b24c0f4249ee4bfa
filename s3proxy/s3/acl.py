"""ACLs as Supabase's one switch: a bucket's `public` flag.

The canned ACL `private` (and `bucket-owner-full-control`, which AWS accepts on buckets
whose ACLs are disabled) is `public = false`; `public-read` is `public = true`. An
AccessControlPolicy document may say the same: the owner's FULL_CONTROL, plus READ for
AllUsers when public. Anything else (public-read-write, authenticated-read, the other
canned ACLs, x-amz-grant-* headers, grants to anyone else) has no meaning here and is
refused with AWS's code for a bucket whose ACLs are disabled, 400
AccessControlListNotSupported, which SDKs and tools already know how to report.

Objects have no ACL of their own: an object is as public as its bucket. GetObjectAcl
answers the bucket's canned ACL with the object's owner; PutObjectAcl accepts the ACL
the object already has (the bucket's) as a no-op and refuses any other. Accepting it
keeps tools that set an ACL on every upload (`aws s3 cp --acl`, rclone's `acl`,
s3cmd's `setacl`) working where what they ask for is already true; refusing the rest
never pretends that one object became public or private on its own.

Owners: a bucket's is its `owner_id` (the sub of the user who created it), an object's
its `owner_id`, or the tenant for rows written with the admin key: the same IDs
ListBuckets and `fetch-owner` show.
"""

from __future__ import annotations

from lxml import etree

from s3proxy import errors
from s3proxy.s3.objects import find
from s3proxy.s3.request import S3Request, S3Response
from s3proxy.s3.xml import Child, child_text, children, document, parse
from s3proxy.storage import buckets as store_buckets
from s3proxy.storage.buckets import find_bucket_as_service

XSI = "http://www.w3.org/2001/XMLSchema-instance"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
PRIVATE_ACLS = ("private", "bucket-owner-full-control")
PUBLIC_ACLS = ("public-read",)
UNSUPPORTED_ACLS = ("public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read",
                    "log-delivery-write")
GRANT_HEADERS = ("x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp",
                 "x-amz-grant-full-control")
_NOT_SUPPORTED = ("The bucket does not allow ACLs other than private and public-read "
                  "(its public flag); objects follow their bucket")


def canned_public(value: str) -> bool:
    """The public flag a canned ACL stands for."""
    acl = value.strip().lower()
    if acl in PRIVATE_ACLS:
        return False
    if acl in PUBLIC_ACLS:
        return True
    if acl in UNSUPPORTED_ACLS:
        raise errors.AccessControlListNotSupported(_NOT_SUPPORTED)
    raise errors.InvalidArgument(f"Invalid canned ACL: {value}")


def header_public(req: S3Request) -> bool | None:
    """The public flag the request's ACL headers ask for; None when it has none."""
    grants = [h for h in GRANT_HEADERS if h in req.headers]
    canned = req.header("x-amz-acl")
    if grants and canned is not None:
        raise errors.InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if grants:
        raise errors.AccessControlListNotSupported(_NOT_SUPPORTED)
    return None if canned is None else canned_public(canned)


def _grantee(grant: etree._Element) -> tuple[str, str]:
    """(kind, identity) of a Grant's Grantee: ('id', canonical id), ('uri', group) or ('other', …)."""
    found = children(grant, "Grantee")
    if not found:
        raise errors.MalformedXML()
    grantee = found[0]
    kind = grantee.get(f"{{{XSI}}}type", "")
    ident, uri = child_text(grantee, "ID"), child_text(grantee, "URI")
    if kind == "CanonicalUser" or (not kind and ident is not None):
        return "id", (ident or "").strip()
    if kind == "Group" or (not kind and uri is not None):
        return "uri", (uri or "").strip()
    return "other", kind


def document_public(body: bytes, owners: set[str]) -> bool:
    """The public flag an AccessControlPolicy document asks for: only the owner's
    FULL_CONTROL (the resource owner's or the caller's canonical ID) and AllUsers READ
    can be said."""
    root = parse(body, "AccessControlPolicy")
    lists = children(root, "AccessControlList")
    if not children(root, "Owner") or not lists:
        raise errors.MalformedXML()
    public = False
    for grant in children(lists[0], "Grant"):
        kind, ident = _grantee(grant)
        permission = (child_text(grant, "Permission") or "").strip()
        if kind == "id" and ident in owners and permission == "FULL_CONTROL":
            continue
        if kind == "uri" and ident == ALL_USERS and permission == "READ":
            public = True
            continue
        raise errors.AccessControlListNotSupported(_NOT_SUPPORTED)
    return public


async def requested_public(req: S3Request, owner_id: str) -> bool:
    """The public flag a PutBucketAcl / PutObjectAcl asks for, by header or document."""
    from_headers = header_public(req)
    body = await req.xml_body()
    if from_headers is not None:
        if body.strip():
            raise errors.InvalidRequest("An ACL may be given by headers or by a document, not both")
        return from_headers
    if not body.strip():
        raise errors.MissingHeader("Your request was missing a required header: x-amz-acl")
    return document_public(body, {owner_id, owner_of(req, req.ctx.principal.sub)})


def acl_document(owner_id: str, public: bool) -> bytes:
    """The owner has FULL_CONTROL, AllUsers READ if public (xsi:type on each Grantee, as AWS sends it)."""
    owner: list[Child] = [("ID", owner_id), ("DisplayName", owner_id)]
    grants: list[Child] = [("Grant", [("Grantee", owner), ("Permission", "FULL_CONTROL")])]
    if public:
        grants.append(("Grant", [("Grantee", [("URI", ALL_USERS)]), ("Permission", "READ")]))
    body = document("AccessControlPolicy", [("Owner", owner), ("AccessControlList", grants)])
    body = body.replace(b"<Grantee><ID>", f'<Grantee xmlns:xsi="{XSI}" xsi:type="CanonicalUser"><ID>'.encode())
    return body.replace(b"<Grantee><URI>", f'<Grantee xmlns:xsi="{XSI}" xsi:type="Group"><URI>'.encode())


def owner_of(req: S3Request, owner_id: str | None) -> str:
    return owner_id or req.ctx.settings.tenant_id


# --- the operations ----------------------------------------------------------------------


async def get_bucket_acl(req: S3Request) -> S3Response:
    bucket = await store_buckets.get_bucket(req.ctx, req.bucket_name)
    return S3Response.document(acl_document(owner_of(req, bucket.owner_id), bucket.public))


async def put_bucket_acl(req: S3Request) -> S3Response:
    """The bucket's public flag, changed as the caller (RLS UPDATE on storage.buckets)."""
    bucket = await store_buckets.get_bucket(req.ctx, req.bucket_name)
    public = await requested_public(req, owner_of(req, bucket.owner_id))
    if public != bucket.public:
        await store_buckets.update_bucket(req.ctx, req.bucket_name, public=public)
    return S3Response()


async def get_object_acl(req: S3Request) -> S3Response:
    info = await find(req)
    bucket = await find_bucket_as_service(req.ctx, req.bucket_name)
    return S3Response.document(acl_document(owner_of(req, info.owner_id), bucket.public),
                               headers=[("x-amz-version-id", "null")])


async def put_object_acl(req: S3Request) -> S3Response:
    """A no-op for the ACL the object already has (its bucket's), refused otherwise."""
    info = await find(req)
    bucket = await find_bucket_as_service(req.ctx, req.bucket_name)
    if await requested_public(req, owner_of(req, info.owner_id)) != bucket.public:
        raise errors.AccessControlListNotSupported(
            f"Objects follow their bucket's ACL, which is {'public-read' if bucket.public else 'private'}; "
            "change the bucket's ACL instead")
    return S3Response(headers=[("x-amz-version-id", "null")])
