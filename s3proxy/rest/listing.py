"""`POST /object/list/{bucket}` (v1) and `POST /object/list-v2/{bucket}` (reference §2.3)."""

from __future__ import annotations

from typing import Any

from s3proxy import errors
from s3proxy.rest.base import Auth, Policy, RestHandler
from s3proxy.rest.object_json import v1_entry, v2_page_json
from s3proxy.rest.params import body_bool, body_int, body_object, body_string
from s3proxy.storage import listing


def _sort(body: dict[str, Any], columns: tuple[str, ...]) -> tuple[str, str]:
    """`sortBy: {column, order}` with the schema's messages."""
    sort = body_object(body, "sortBy")
    column = str(sort.get("column") or "name")
    order = str(sort.get("order") or "asc").lower()
    if column not in columns:
        raise errors.InvalidRequest(f"body/sortBy/column must be one of {', '.join(columns)}")
    if order not in ("asc", "desc"):
        raise errors.InvalidRequest("body/sortBy/order must be asc or desc")
    return column, order


class ListV1Handler(RestHandler):
    """Folders and files one level below `prefix`, names relative to it."""

    policies = {"POST": Policy(Auth.JWT, "storage.object.list")}

    async def post(self, bucket_id: str) -> None:
        body = self.json_body()
        column, order = _sort(body, listing.V1_SORT_COLUMNS)
        entries = await listing.list_v1(
            self.ctx,
            bucket_id,
            prefix=body_string(body, "prefix"),
            limit=body_int(body, "limit", 100, minimum=1),
            offset=body_int(body, "offset", 0),
            search=body_string(body, "search", required=False),
            sort_column=column,
            sort_order=order,
        )
        self.send_json([v1_entry(e) for e in entries])


class ListV2Handler(RestHandler):
    """Cursor-paged listing; full names; optional one-level view with folders."""

    policies = {"POST": Policy(Auth.JWT, "storage.object.list_v2")}

    async def post(self, bucket_id: str) -> None:
        body = self.json_body(required=False)
        column, order = _sort(body, listing.V2_SORT_COLUMNS)
        page = await listing.list_v2(
            self.ctx,
            bucket_id,
            prefix=body_string(body, "prefix", required=False),
            limit=body_int(body, "limit", listing.V2_MAX_LIMIT, minimum=1),
            cursor=body_string(body, "cursor", required=False) or None,
            with_delimiter=body_bool(body, "with_delimiter", False),
            sort_column=column,
            sort_order=order,
        )
        self.send_json_text(v2_page_json(page))
