"""`/object` routes (reference §2.3): upload, download, HEAD, info, delete, move, copy.

Listing lives in rest/listing.py and signed URLs in rest/signed.py.
"""

from __future__ import annotations

from typing import Any

from s3proxy.rest.download import ObjectResponder
from s3proxy.rest.object_json import copy_result, object_row
from s3proxy.rest.params import body_bool, body_object, body_string, header_true
from s3proxy.rest.uploads import StreamingUploadHandler, Upload, decode_user_metadata, write_upload
from s3proxy.storage import objects
from s3proxy.storage.context import Ctx
from s3proxy.storage.errors import StorageError
from s3proxy.storage.objects import CopyOptions, ReadMode

MAX_BULK_DELETE = 1000


class ObjectHandler(ObjectResponder, StreamingUploadHandler):
    """/object/{bucket}/{key}: POST creates (x-upsert: true overwrites), PUT overwrites,
    GET/HEAD read (public buckets need no token), DELETE removes."""

    async def prepare(self) -> None:
        method = self.request.method
        if method not in ("POST", "PUT"):
            return
        self.begin_upload(self._upload)

    def _upload(self) -> Upload:
        principal = self.authenticate()
        ctx = self.ctx(principal)
        bucket_id, name = self.path_kwargs["bucket_id"], self.path_kwargs["key"]
        headers = self.request.headers
        method = self.request.method
        upsert = method == "PUT" or header_true(headers.get("x-upsert"))
        operation = "storage.object.upload" if method == "POST" else "storage.object.upload_update"
        return lambda body: write_upload(ctx, bucket_id, name, headers, body, upsert=upsert, operation=operation)

    async def post(self, bucket_id: str, key: str) -> None:
        info = await self.finish_upload()
        if info is not None:
            self.send_json({"Id": info.id, "Key": f"{bucket_id}/{key}"})

    async def put(self, bucket_id: str, key: str) -> None:
        await self.post(bucket_id, key)

    async def get(self, bucket_id: str, key: str) -> None:
        ctx = self.ctx(self.authenticate(optional=True))
        info = await objects.find_object(ctx, bucket_id, key, mode="auto",
                                         operation="storage.object.get_authenticated")
        await self.send_object(ctx, info)

    async def head(self, bucket_id: str, key: str) -> None:
        await self.get(bucket_id, key)

    async def delete(self, bucket_id: str, key: str) -> None:
        ctx = self.ctx(self.authenticate())
        await objects.delete_object(ctx, bucket_id, key)
        self.send_json({"message": "Successfully deleted"})


class _ReadHandler(ObjectResponder):
    """GET/HEAD on an object with a fixed read mode."""

    mode: ReadMode = "user"
    operation = "storage.object.get_authenticated"

    def reader(self) -> Ctx:
        if self.mode == "public":
            return self.ctx(self.authenticate(optional=True))
        return self.ctx(self.authenticate(optional=self.mode == "auto"))

    async def get(self, bucket_id: str, key: str) -> None:
        ctx = self.reader()
        info = await objects.find_object(ctx, bucket_id, key, mode=self.mode, operation=self.operation)
        await self.send_object(ctx, info)

    async def head(self, bucket_id: str, key: str) -> None:
        await self.get(bucket_id, key)


class AuthenticatedObjectHandler(_ReadHandler):
    """/object/authenticated/{bucket}/{key}: a JWT is required; RLS decides."""


class PublicObjectHandler(_ReadHandler):
    """/object/public/{bucket}/{key}: no JWT; the bucket must be public."""

    mode: ReadMode = "public"
    operation = "storage.object.get_public"


class _InfoHandler(_ReadHandler):
    operation = "object.get_authenticated_info"

    async def get(self, bucket_id: str, key: str) -> None:
        ctx = self.reader()
        operation = "object.head_authenticated_info" if self.request.method == "HEAD" else self.operation
        info = await objects.find_object(ctx, bucket_id, key, mode=self.mode, operation=operation)
        self.send_info(info)


class InfoHandler(_InfoHandler):
    """/object/info/{bucket}/{key}: like GET /object/{bucket}/{key}, as JSON."""

    mode: ReadMode = "auto"


class AuthenticatedInfoHandler(_InfoHandler):
    """/object/info/authenticated/{bucket}/{key}."""


class PublicInfoHandler(_InfoHandler):
    """/object/info/public/{bucket}/{key}."""

    mode: ReadMode = "public"
    operation = "storage.object.info_public"


class BulkDeleteHandler(ObjectResponder):
    """DELETE /object/{bucket} with {prefixes: [...]}: exact names; missing or RLS-hidden
    names are silently skipped; the answer lists the rows deleted."""

    async def delete(self, bucket_id: str) -> None:
        ctx = self.ctx(self.authenticate())
        names = self.json_body().get("prefixes")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise StorageError("InvalidRequest", "body/prefixes must be array of strings")
        if not names:
            raise StorageError("InvalidRequest", "body/prefixes must NOT have fewer than 1 items")
        if len(names) > MAX_BULK_DELETE:
            raise StorageError("InvalidRequest", f"body/prefixes must NOT have more than {MAX_BULK_DELETE} items")
        deleted, _ = await objects.delete_objects(ctx, bucket_id, names)
        self.send_json([object_row(info) for info in deleted])


def _source_and_destination(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(bucketId, sourceKey, destinationBucket or bucketId, destinationKey) of a move or copy."""
    bucket_id = body_string(body, "bucketId")
    source = body_string(body, "sourceKey")
    destination = body_string(body, "destinationKey")
    return bucket_id, source, body_string(body, "destinationBucket", required=False) or bucket_id, destination


class MoveHandler(ObjectResponder):
    """POST /object/move {bucketId, sourceKey, destinationKey, destinationBucket?}."""

    async def post(self) -> None:
        ctx = self.ctx(self.authenticate())
        body = self.json_body()
        bucket_id, source, target_bucket, destination = _source_and_destination(body)
        await objects.move_object(ctx, bucket_id, source, target_bucket, destination)
        self.send_json({"message": "Successfully moved"})


class CopyHandler(ObjectResponder):
    """POST /object/copy {bucketId, sourceKey, destinationKey, destinationBucket?,
    copyMetadata?, metadata?: {cacheControl?, mimetype?}}; headers x-upsert, x-metadata."""

    async def post(self) -> None:
        ctx = self.ctx(self.authenticate())
        body = self.json_body()
        bucket_id, source, target_bucket, destination = _source_and_destination(body)
        metadata = body_object(body, "metadata")
        opts = CopyOptions(
            upsert=header_true(self.request.headers.get("x-upsert")),
            copy_metadata=body_bool(body, "copyMetadata", True),
            content_type=metadata.get("mimetype") or metadata.get("contentType"),
            cache_control=metadata.get("cacheControl"),
            user_metadata=decode_user_metadata(self.request.headers.get("x-metadata")),
        )
        info = await objects.copy_object(ctx, bucket_id, source, target_bucket, destination, opts)
        self.send_json(copy_result(info))
