"""`/bucket` routes (reference §2.2)."""

from __future__ import annotations

from typing import Any

from s3proxy.rest.base import RestHandler
from s3proxy.rest.render import bucket_json, client_accepts_bucket_type
from s3proxy.storage import buckets
from s3proxy.storage.errors import StorageError


def _int_query(handler: RestHandler, name: str, minimum: int) -> int | None:
    raw = handler.get_query_argument(name, None)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise StorageError("InvalidRequest", f"querystring/{name} must be integer") from exc
    if value < minimum:
        raise StorageError("InvalidRequest", f"querystring/{name} must be >= {minimum}")
    return value


class BucketsHandler(RestHandler):
    """POST /bucket creates, GET /bucket lists."""

    async def post(self) -> None:
        principal = self.authenticate()
        body = self.json_body()
        if "name" not in body:
            raise StorageError("InvalidRequest", "body must have required property 'name'")
        bucket_id = body.get("id")
        if bucket_id is not None and not isinstance(bucket_id, str):
            raise StorageError("InvalidRequest", "body/id must be string")
        public = body.get("public", False)
        if not isinstance(public, bool):
            raise StorageError("InvalidRequest", "body/public must be boolean")
        kind = body.get("type", "STANDARD")
        if kind not in ("STANDARD", None):
            raise StorageError("InvalidRequest", "Only buckets of type STANDARD are supported")
        await buckets.create_bucket(
            self.ctx(principal),
            body["name"],
            bucket_id=bucket_id,
            public=public,
            file_size_limit=body.get("file_size_limit"),
            allowed_mime_types=body.get("allowed_mime_types"),
        )
        self.send_json({"name": body["name"]})

    async def get(self) -> None:
        principal = self.authenticate()
        found = await buckets.list_buckets(
            self.ctx(principal),
            limit=_int_query(self, "limit", 1),
            offset=_int_query(self, "offset", 0),
            sort_column=self.get_query_argument("sortColumn", None),
            sort_order=self.get_query_argument("sortOrder", None),
            search=self.get_query_argument("search", None),
        )
        with_type = client_accepts_bucket_type(
            self.request.headers.get("X-Client-Info"), self.request.headers.get("User-Agent")
        )
        self.send_json([bucket_json(b, with_type=with_type) for b in found])


class BucketHandler(RestHandler):
    """GET, PUT and DELETE /bucket/{id}."""

    async def get(self, bucket_id: str) -> None:
        principal = self.authenticate()
        bucket = await buckets.get_bucket(self.ctx(principal), bucket_id)
        self.send_json(bucket_json(bucket, with_type=False))

    async def put(self, bucket_id: str) -> None:
        principal = self.authenticate()
        body = self.json_body()
        changes: dict[str, Any] = {
            key: body[key] for key in ("public", "file_size_limit", "allowed_mime_types") if key in body
        }
        await buckets.update_bucket(self.ctx(principal), bucket_id, **changes)
        self.send_json({"message": "Successfully updated"})

    async def delete(self, bucket_id: str) -> None:
        principal = self.authenticate()
        self.json_body(required=False)
        await buckets.delete_bucket(self.ctx(principal), bucket_id)
        self.send_json({"message": "Successfully deleted"})


class EmptyBucketHandler(RestHandler):
    """POST /bucket/{id}/empty (service_role only)."""

    async def post(self, bucket_id: str) -> None:
        principal = self.authenticate()
        self.require_service_role(principal)
        self.json_body(required=False)
        await buckets.empty_bucket(self.ctx(principal), bucket_id)
        self.send_json({"message": "Successfully emptied"})
