"""`/object` routes (reference §2.3): upload, download, HEAD, info, delete, move, copy.

Listing lives in rest/listing.py and signed URLs in rest/signed.py.
"""

from __future__ import annotations

from typing import Any

from s3proxy.rest.base import Auth, Policy
from s3proxy.rest.download import ObjectResponder
from s3proxy.rest.object_json import copy_result, object_row
from s3proxy.rest.params import body_bool, body_object, body_string, body_strings, header_true
from s3proxy.rest.transforms import query_options
from s3proxy.rest.uploads import decode_user_metadata, write_upload
from s3proxy.storage import objects
from s3proxy.storage.objects import CopyOptions, ReadMode

MAX_BULK_DELETE = 1000


class ObjectHandler(ObjectResponder):
    """/object/{bucket}/{key}: POST creates (x-upsert: true overwrites), PUT overwrites,
    GET/HEAD read (public buckets need no token), DELETE removes."""

    policies = {
        "POST": Policy(Auth.JWT, "storage.object.upload", upload=True),
        "PUT": Policy(Auth.JWT, "storage.object.upload_update", upload=True),
        "GET": Policy(Auth.OPTIONAL, "storage.object.get_authenticated"),
        "HEAD": Policy(Auth.OPTIONAL, "storage.object.get_authenticated"),
        "DELETE": Policy(Auth.JWT, "storage.object.delete"),
    }

    def start_upload(self) -> None:
        bucket_id, name = self.path_kwargs["bucket_id"], self.path_kwargs["key"]
        upsert = self.request.method == "PUT" or header_true(self.request.headers.get("x-upsert"))
        self.consume(lambda body: write_upload(self.ctx, bucket_id, name, self.request.headers, body, upsert=upsert))

    async def post(self, bucket_id: str, key: str) -> None:
        info = await self.outcome()
        self.send_json({"Id": info.id, "Key": f"{bucket_id}/{key}"})

    put = post

    async def get(self, bucket_id: str, key: str) -> None:
        await self.send_object(bucket_id, key, "auto")

    head = get

    async def delete(self, bucket_id: str, key: str) -> None:
        await objects.delete_object(self.ctx, bucket_id, key)
        self.send_json({"message": "Successfully deleted"})


class _ReadHandler(ObjectResponder):
    """GET/HEAD on an object with a fixed read mode."""

    mode: ReadMode = "user"

    async def get(self, bucket_id: str, key: str) -> None:
        await self.send_object(bucket_id, key, self.mode)

    head = get


class AuthenticatedObjectHandler(_ReadHandler):
    """/object/authenticated/{bucket}/{key}: a JWT is required; RLS decides."""

    policies = {method: Policy(Auth.JWT, "storage.object.get_authenticated") for method in ("GET", "HEAD")}


class PublicObjectHandler(_ReadHandler):
    """/object/public/{bucket}/{key}: no JWT; the bucket must be public."""

    mode: ReadMode = "public"
    policies = {method: Policy(Auth.OPTIONAL, "storage.object.get_public") for method in ("GET", "HEAD")}


class _InfoHandler(_ReadHandler):
    async def get(self, bucket_id: str, key: str) -> None:
        options = query_options(self)
        self.send_info(await objects.find_object(self.ctx, bucket_id, key, mode=self.mode), options)

    head = get


class InfoHandler(_InfoHandler):
    """/object/info/{bucket}/{key}: like GET /object/{bucket}/{key}, as JSON."""

    mode: ReadMode = "auto"
    policies = {"GET": Policy(Auth.OPTIONAL, "object.get_authenticated_info"),
                "HEAD": Policy(Auth.OPTIONAL, "object.head_authenticated_info")}


class AuthenticatedInfoHandler(_InfoHandler):
    """/object/info/authenticated/{bucket}/{key}."""

    policies = {"GET": Policy(Auth.JWT, "object.get_authenticated_info"),
                "HEAD": Policy(Auth.JWT, "object.head_authenticated_info")}


class PublicInfoHandler(_InfoHandler):
    """/object/info/public/{bucket}/{key}."""

    mode: ReadMode = "public"
    policies = {"GET": Policy(Auth.OPTIONAL, "storage.object.info_public"),
                "HEAD": Policy(Auth.OPTIONAL, "object.head_authenticated_info")}


class BulkDeleteHandler(ObjectResponder):
    """DELETE /object/{bucket} with {prefixes: [...]}: exact names; missing or RLS-hidden
    names are silently skipped; the answer lists the rows deleted."""

    policies = {"DELETE": Policy(Auth.JWT, "storage.object.delete_many")}

    async def delete(self, bucket_id: str) -> None:
        names = body_strings(self.json_body(), "prefixes", most=MAX_BULK_DELETE)
        deleted, _ = await objects.delete_objects(self.ctx, bucket_id, names)
        self.send_json([object_row(info) for info in deleted])


def _source_and_destination(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(bucketId, sourceKey, destinationBucket or bucketId, destinationKey) of a move or copy."""
    bucket_id = body_string(body, "bucketId")
    source = body_string(body, "sourceKey")
    destination = body_string(body, "destinationKey")
    return bucket_id, source, body_string(body, "destinationBucket", required=False) or bucket_id, destination


class MoveHandler(ObjectResponder):
    """POST /object/move {bucketId, sourceKey, destinationKey, destinationBucket?}."""

    policies = {"POST": Policy(Auth.JWT, "storage.object.move")}

    async def post(self) -> None:
        bucket_id, source, target_bucket, destination = _source_and_destination(self.json_body())
        await objects.move_object(self.ctx, bucket_id, source, target_bucket, destination)
        self.send_json({"message": "Successfully moved"})


class CopyHandler(ObjectResponder):
    """POST /object/copy {bucketId, sourceKey, destinationKey, destinationBucket?,
    copyMetadata?, metadata?: {cacheControl?, mimetype?}}; headers x-upsert, x-metadata."""

    policies = {"POST": Policy(Auth.JWT, "storage.object.copy")}

    async def post(self) -> None:
        body = self.json_body()
        bucket_id, source, target_bucket, destination = _source_and_destination(body)
        opts = CopyOptions(upsert=header_true(self.request.headers.get("x-upsert")))
        if not body_bool(body, "copyMetadata", True):
            metadata = body_object(body, "metadata")
            opts.replace, opts.tags = True, None
            opts.mimetype = body_string(metadata, "mimetype", required=False) or body_string(
                metadata, "contentType", required=False) or None
            opts.cache_control = body_string(metadata, "cacheControl", required=False) or None
            opts.user_metadata = decode_user_metadata(self.request.headers.get("x-metadata"))
        info = await objects.copy_object(self.ctx, bucket_id, source, target_bucket, destination, opts)
        self.send_json(copy_result(info))
