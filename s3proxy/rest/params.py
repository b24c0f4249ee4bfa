"""Validation of JSON body fields, with the reference's schema-error messages."""

from __future__ import annotations

from typing import Any

from s3proxy import errors

MAX_INTEGER = 2**53 - 1  # JavaScript's largest safe integer, the reference's schema bound


def body_string(body: dict[str, Any], name: str, *, required: bool = True, default: str | None = None) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise errors.InvalidRequest(f"body must have required property '{name}'")
        return default or ""
    if not isinstance(value, str):
        raise errors.InvalidRequest(f"body/{name} must be string")
    return value


def body_int(body: dict[str, Any], name: str, default: int, *, minimum: int = 0) -> int:
    """An integer field; numeric strings are accepted, as the reference's schema coerces them."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidRequest(f"body/{name} must be integer")
    if value < minimum:
        raise errors.InvalidRequest(f"body/{name} must be >= {minimum}")
    if value > MAX_INTEGER:
        raise errors.InvalidRequest(f"body/{name} must be <= {MAX_INTEGER}")
    return value


def body_bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise errors.InvalidRequest(f"body/{name} must be boolean")
    return value


def body_object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.InvalidRequest(f"body/{name} must be object")
    return value


def header_true(value: str | None) -> bool:
    """`x-upsert` and friends: only the string "true" counts."""
    return (value or "").strip().lower() == "true"


def body_strings(body: dict[str, Any], name: str, *, most: int) -> list[str]:
    """A non-empty array of strings; a single string counts as an array of one, as the
    reference's schema coerces it (storage-py's `remove` sends one string)."""
    value = body.get(name)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.InvalidRequest(f"body/{name} must be array of strings")
    if not value:
        raise errors.InvalidRequest(f"body/{name} must NOT have fewer than 1 items")
    if len(value) > most:
        raise errors.InvalidRequest(f"body/{name} must NOT have more than {most} items")
    return value
