"""`/bucket` routes (reference §2.2)."""

from __future__ import annotations

from typing import Any

from s3proxy import errors
from s3proxy.rest.base import Auth, Policy, RestHandler
from s3proxy.rest.bucket_json import bucket_json, client_accepts_bucket_type
from s3proxy.rest.params import MAX_INTEGER
from s3proxy.storage import buckets


def _int_query(handler: RestHandler, name: str, minimum: int) -> int | None:
    raw = handler.get_query_argument(name, None)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise errors.InvalidRequest(f"querystring/{name} must be integer") from exc
    if value < minimum:
        raise errors.InvalidRequest(f"querystring/{name} must be >= {minimum}")
    if value > MAX_INTEGER:
        raise errors.InvalidRequest(f"querystring/{name} must be <= {MAX_INTEGER}")
    return value


def _choice(handler: RestHandler, name: str, choices: tuple[str, ...]) -> str | None:
    value = handler.get_query_argument(name, None)
    if value is not None and value not in choices and value.lower() not in ("asc", "desc"):
        raise errors.InvalidRequest(f"querystring/{name} must be one of {', '.join(choices)}")
    return value


def _bucket_fields(body: dict[str, Any]) -> dict[str, Any]:
    """`public`, `file_size_limit` and `allowed_mime_types` as given, with the schema's types."""
    fields: dict[str, Any] = {key: body[key] for key in ("public", "file_size_limit", "allowed_mime_types") if key in body}
    if "public" in fields and not isinstance(fields["public"], bool):
        raise errors.InvalidRequest("body/public must be boolean")
    limit = fields.get("file_size_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | str)):
        raise errors.InvalidRequest("body/file_size_limit must be integer or string")
    if isinstance(limit, int) and limit < 0:
        raise errors.InvalidRequest("body/file_size_limit must be >= 0")
    mimes = fields.get("allowed_mime_types")
    if mimes is not None and (not isinstance(mimes, list) or not all(isinstance(m, str) for m in mimes)):
        raise errors.InvalidRequest("body/allowed_mime_types must be array of strings")
    return fields


class BucketsHandler(RestHandler):
    """POST /bucket creates, GET /bucket lists."""

    policies = {"POST": Policy(Auth.JWT, "storage.bucket.create"), "GET": Policy(Auth.JWT, "storage.bucket.list")}

    async def post(self) -> None:
        body = self.json_body()
        if "name" not in body:
            raise errors.InvalidRequest("body must have required property 'name'")
        bucket_id = body.get("id")
        if bucket_id is not None and not isinstance(bucket_id, str):
            raise errors.InvalidRequest("body/id must be string")
        fields = _bucket_fields(body)
        kind = body.get("type", "STANDARD")
        if kind not in ("STANDARD", None):
            raise errors.InvalidRequest("Only buckets of type STANDARD are supported")
        await buckets.create_bucket(
            self.ctx,
            body["name"],
            bucket_id=bucket_id,
            public=fields.get("public", False),
            file_size_limit=fields.get("file_size_limit"),
            allowed_mime_types=fields.get("allowed_mime_types"),
        )
        self.send_json({"name": body["name"]})

    async def get(self) -> None:
        found = await buckets.list_buckets(
            self.ctx,
            limit=_int_query(self, "limit", 1),
            offset=_int_query(self, "offset", 0),
            sort_column=_choice(self, "sortColumn", buckets.SORT_COLUMNS),
            sort_order=_choice(self, "sortOrder", ("asc", "desc")),
            search=self.get_query_argument("search", None),
        )
        with_type = client_accepts_bucket_type(
            self.request.headers.get("X-Client-Info"), self.request.headers.get("User-Agent")
        )
        self.send_json([bucket_json(b, with_type=with_type) for b in found])


class BucketHandler(RestHandler):
    """GET, PUT and DELETE /bucket/{id}."""

    policies = {
        "GET": Policy(Auth.JWT, "storage.bucket.get"),
        "PUT": Policy(Auth.JWT, "storage.bucket.update"),
        "DELETE": Policy(Auth.JWT, "storage.bucket.delete"),
    }

    async def get(self, bucket_id: str) -> None:
        bucket = await buckets.get_bucket(self.ctx, bucket_id)
        self.send_json(bucket_json(bucket, with_type=False))

    async def put(self, bucket_id: str) -> None:
        fields = _bucket_fields(self.json_body())
        if not fields:
            raise errors.InvalidRequest("body must have at least one of public, file_size_limit, allowed_mime_types")
        await buckets.update_bucket(self.ctx, bucket_id, **fields)
        self.send_json({"message": "Successfully updated"})

    async def delete(self, bucket_id: str) -> None:
        self.json_body(required=False)
        await buckets.delete_bucket(self.ctx, bucket_id)
        self.send_json({"message": "Successfully deleted"})


class EmptyBucketHandler(RestHandler):
    """POST /bucket/{id}/empty (service_role only)."""

    policies = {"POST": Policy(Auth.SERVICE, "storage.bucket.empty")}

    async def post(self, bucket_id: str) -> None:
        self.json_body(required=False)
        await buckets.empty_bucket(self.ctx, bucket_id)
        self.send_json({"message": "Successfully emptied"})
