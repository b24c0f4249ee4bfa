"""REST uploads (reference §2.3 "Upload"): raw bodies and multipart forms, as options
for the storage core and a body that streams into it (web/handler.py brings the body
in; a client that leaves mid-body makes it fail, and the core deletes what it wrote)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from s3proxy import errors
from s3proxy.rest.multipart_form import FormReader, Part, form_boundary
from s3proxy.storage import objects
from s3proxy.storage.context import Ctx
from s3proxy.storage.metadata import DEFAULT_CACHE_CONTROL, DEFAULT_MIMETYPE, Describing
from s3proxy.storage.objectinfo import ObjectInfo
from s3proxy.storage.objects import WriteOptions
from s3proxy.storage.streams import PlainBody, UploadBody
from s3proxy.web.inputs import parse_json_leniently

MAX_FORM_FIELD = 1024 * 1024
MAX_FORM_FIELDS = 10

_ROBOTS_RULE = re.compile(
    r"^(all|noindex|nofollow|none|nosnippet|indexifembedded|notranslate|noimageindex"
    r"|max-snippet:\s*-?\d+|max-image-preview:\s*(none|standard|large)|max-video-preview:\s*-?\d+"
    r"|unavailable_after:\s*.+)$",
    re.I,
)
_USER_AGENT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*:\s*")


def validate_robots_tag(value: str) -> str:
    """X-Robots-Tag per the MDN grammar: comma-separated rules, optionally `bot: ` first."""
    rules = [r.strip() for r in value.strip().split(",")]
    if not _ROBOTS_RULE.match(rules[0]) and (agent := _USER_AGENT.match(rules[0])):
        rules[0] = rules[0][agent.end():]
    if not value.strip() or any(not _ROBOTS_RULE.match(r) for r in rules):
        raise errors.InvalidRobotsTag(f"Invalid X-Robots-Tag header: {value}")
    return value.strip()


def decode_user_metadata(header: str | None) -> dict[str, Any] | None:
    """`x-metadata`: base64 of a JSON object; anything else is ignored, as the reference
    does (but JSON nested too deep or holding a NUL is refused)."""
    if not header:
        return None
    try:
        raw = base64.b64decode(header, validate=False)
    except (binascii.Error, ValueError):
        return None
    return _json_object(raw, "x-metadata")


def _json_object(text: str | bytes, what: str) -> dict[str, Any] | None:
    data = parse_json_leniently(text, what)
    return data if isinstance(data, dict) else None


def _robots(headers: Mapping[str, str]) -> str | None:
    value = headers.get("X-Robots-Tag")
    return None if value is None else validate_robots_tag(value)


def header_options(headers: Mapping[str, str], *, upsert: bool) -> WriteOptions:
    """WriteOptions of a raw-body upload, from its headers."""
    chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
    return WriteOptions(
        describing=Describing(mimetype=headers.get("Content-Type") or DEFAULT_MIMETYPE,
                              cache_control=headers.get("Cache-Control") or DEFAULT_CACHE_CONTROL,
                              robots=_robots(headers)),
        user_metadata=decode_user_metadata(headers.get("X-Metadata")),
        size=None if chunked else int(headers.get("Content-Length") or 0),
        upsert=upsert,
    )


def form_options(fields: dict[str, str], part: Part, headers: Mapping[str, str], *, upsert: bool) -> WriteOptions:
    """WriteOptions of a form upload: fields sent before the file part win (reference §2.3)."""
    for name, value in [*fields.items(), ("content-type", part.content_type or "")]:
        if "\x00" in value:
            raise errors.InvalidArgument(f"The form field {name} must not contain a NUL character")
    cache = fields.get("cacheControl")
    metadata_field = fields.get("metadata", fields.get("userMetadata"))
    if metadata_field is not None:
        user_metadata = _json_object(metadata_field, "metadata")
    else:
        user_metadata = decode_user_metadata(headers.get("X-Metadata"))
    return WriteOptions(
        describing=Describing(mimetype=fields.get("contentType") or part.content_type or DEFAULT_MIMETYPE,
                              cache_control=f"max-age={cache}" if cache else DEFAULT_CACHE_CONTROL,
                              robots=_robots(headers)),
        user_metadata=user_metadata,
        upsert=upsert,
    )


async def write_upload(ctx: Ctx, bucket_id: str, name: str, headers: Mapping[str, str], body: UploadBody, *,
                       upsert: bool, probe: bool = True) -> ObjectInfo:
    """Store a raw or multipart/form-data request body as bucket/name."""
    boundary = form_boundary(headers.get("Content-Type") or "")
    if boundary is None:
        opts = header_options(headers, upsert=upsert)
        opts.probe = probe
        return await objects.put_object(ctx, bucket_id, name, body, opts)
    reader = FormReader(aiter(body), boundary)
    fields: dict[str, str] = {}
    while (part := await reader.next_part()) is not None and not part.is_file:
        if len(fields) >= MAX_FORM_FIELDS:
            raise errors.InvalidRequest("Too many form fields")
        fields[part.name] = (await reader.read_field(MAX_FORM_FIELD)).decode("utf-8", "replace")
    if part is None:
        raise errors.InvalidRequest("No content provided")
    opts = form_options(fields, part, headers, upsert=upsert)
    opts.probe = probe
    return await objects.put_object(ctx, bucket_id, name, PlainBody(reader.content()), opts)
