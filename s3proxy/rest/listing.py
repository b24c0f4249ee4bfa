"""`POST /object/list/{bucket}` (v1) and `POST /object/list-v2/{bucket}` (reference §2.3)."""

from __future__ import annotations

from s3proxy.rest.base import RestHandler
from s3proxy.rest.object_json import v1_entry, v2_page_json
from s3proxy.rest.params import body_bool, body_int, body_object, body_string
from s3proxy.storage import listing


class ListV1Handler(RestHandler):
    """Folders and files one level below `prefix`, names relative to it."""

    async def post(self, bucket_id: str) -> None:
        ctx = self.ctx(self.authenticate())
        body = self.json_body()
        sort = body_object(body, "sortBy")
        entries = await listing.list_v1(
            ctx,
            bucket_id,
            prefix=body_string(body, "prefix"),
            limit=body_int(body, "limit", 100, minimum=1),
            offset=body_int(body, "offset", 0),
            search=body_string(body, "search", required=False),
            sort_column=str(sort.get("column") or "name"),
            sort_order=str(sort.get("order") or "asc"),
        )
        self.send_json([v1_entry(e) for e in entries])


class ListV2Handler(RestHandler):
    """Cursor-paged listing; full names; optional one-level view with folders."""

    async def post(self, bucket_id: str) -> None:
        ctx = self.ctx(self.authenticate())
        body = self.json_body(required=False)
        sort = body_object(body, "sortBy")
        page = await listing.list_v2(
            ctx,
            bucket_id,
            prefix=body_string(body, "prefix", required=False),
            limit=body_int(body, "limit", listing.V2_MAX_LIMIT, minimum=1),
            cursor=body_string(body, "cursor", required=False) or None,
            with_delimiter=body_bool(body, "with_delimiter", False),
            sort_column=str(sort.get("column") or "name"),
            sort_order=str(sort.get("order") or "asc"),
        )
        self.send_json_text(v2_page_json(page))
