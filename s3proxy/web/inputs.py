"""Input that no protocol accepts, refused at the edge before it reaches Postgres.

Postgres cannot store a NUL character in `text` (SQLSTATE 22021) or `\\u0000` in
`jsonb` (22P05), and XML 1.0 cannot carry one either; deeply nested JSON overflows
Python's parser. Rather than letting these surface as 500s from deep inside a
request, the request's path, query and headers are checked as it arrives, and the
JSON a client sends (REST bodies, `x-metadata`, form fields) is parsed with limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from s3proxy import errors

MAX_JSON_DEPTH = 64


def has_nul(text: str) -> bool:
    return "\x00" in text


def check_request_text(path: str, query: Iterable[tuple[str, list[bytes]]], headers: Iterable[tuple[str, str]]) -> None:
    """InvalidArgument when a NUL hides in the path (percent-encoded or not), a query
    parameter or a header value."""
    if b"\x00" in unquote_to_bytes(path):
        raise errors.InvalidArgument("The request path must not contain a NUL character")
    for name, values in query:
        if "\x00" in name or any(b"\x00" in v for v in values):
            raise errors.InvalidArgument(f"The query parameter {name!r} must not contain a NUL character")
    for name, value in headers:
        if "\x00" in value:
            raise errors.InvalidArgument(f"The header {name} must not contain a NUL character")


def json_depth(text: str) -> int:
    """How deeply `text`'s arrays and objects nest, counted without parsing (no recursion).
    Texts with few brackets (almost all) are answered from two C-level counts."""
    brackets = text.count("[") + text.count("{")
    if brackets <= MAX_JSON_DEPTH:
        return brackets
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json(text: str | bytes, what: str) -> Any:
    """`text` as JSON: MalformedJSON when it is not JSON, nests deeper than
    MAX_JSON_DEPTH, or holds a NUL in any string."""
    value = parse_json_leniently(text, what)
    if value is _INVALID:
        raise errors.MalformedJSON(f"{what} is not valid JSON")
    return value


_INVALID: Any = object()


def parse_json_leniently(text: str | bytes, what: str) -> Any:
    """As parse_json, but text that is simply not JSON gives `_INVALID` instead of an
    error (Supabase ignores an unparseable `x-metadata`); too deep or NUL still fail."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return _INVALID
    if json_depth(text) > MAX_JSON_DEPTH:
        raise errors.MalformedJSON(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text)
    except ValueError:
        return _INVALID
    if _holds_nul(value):
        raise errors.MalformedJSON(f"{what} must not contain a NUL character")
    return value


def is_invalid(value: Any) -> bool:
    return value is _INVALID


def _holds_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
