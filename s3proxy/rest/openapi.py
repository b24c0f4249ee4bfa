"""The REST routes as an OpenAPI 3 document, built from the route table itself.

Nothing here is written by hand per route: paths come from app.py's patterns (named
groups become path parameters, and a pattern this cannot read is an error, so a new
kind of route fails the docs test instead of going undocumented), operations from
each handler's `policies` (method, credentials, the `storage.operation` name, whether
the body is an upload) and summaries from the handlers' docstrings. So the document
cannot drift from what the server routes. Bodies and answers are described only as
far as the policies know them: uploads take raw bytes or a form, other writes an
optional JSON object, every error is Supabase's envelope.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from s3proxy.rest.base import Auth, NotFoundHandler, Policy, RestHandler

_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>\[\^/\]\+|\.\+)\)")
_JSON_WRITES = ("POST", "PUT", "PATCH", "DELETE")

ERROR = {"$ref": "#/components/responses/Error"}
_AUTH_TEXT = {
    Auth.NONE: "No credentials.",
    Auth.OPTIONAL: "A bearer JWT if given; without one (or with an invalid one) the request runs as anon.",
    Auth.JWT: "A valid bearer JWT; RLS policies decide.",
    Auth.SERVICE: "A bearer JWT whose role is the service role.",
    Auth.DOWNLOAD_TOKEN: "A signed-URL token in `?token=` (from POST /object/sign).",
    Auth.UPLOAD_TOKEN: "A signed upload token in `?token=` (from POST /object/upload/sign).",
}


def path_template(pattern: str) -> tuple[str, list[tuple[str, bool]]]:
    """`/object/(?P<bucket_id>[^/]+)/(?P<key>.+)` -> (`/object/{bucket_id}/{key}`,
    [(name, spans slashes)]); ValueError for anything else a pattern might hold."""
    params: list[tuple[str, bool]] = []

    def group(match: re.Match[str]) -> str:
        params.append((match["name"], match["body"] == ".+"))
        return "{" + match["name"] + "}"

    path = _GROUP.sub(group, pattern.removesuffix("/?").removesuffix("$")).replace("\\.", ".")
    if re.search(r"[()\[\]?*+\\^$|]", path):
        raise ValueError(f"route pattern {pattern!r} cannot be written as an OpenAPI path")
    return path, params


def _summary(handler: type[RestHandler], method: str) -> tuple[str, str]:
    """(summary, description) from the HTTP method's docstring, else the handler's."""
    doc = inspect.getdoc(getattr(handler, method.lower(), None)) or inspect.getdoc(handler) or ""
    if doc == inspect.getdoc(RestHandler):
        doc = ""
    first, _, rest = doc.partition("\n")
    return first.strip() or f"{method} {handler.__name__}", rest.strip()


def _parameters(params: list[tuple[str, bool]], policy: Policy) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
         **({"description": "may contain `/`"} if spans else {})}
        for name, spans in params
    ]
    if policy.auth in (Auth.DOWNLOAD_TOKEN, Auth.UPLOAD_TOKEN):
        out.append({"name": "token", "in": "query", "required": True, "schema": {"type": "string"}})
    return out


def _security(auth: Auth) -> list[dict[str, list[str]]]:
    if auth in (Auth.JWT, Auth.SERVICE):
        return [{"bearer": []}]
    if auth is Auth.OPTIONAL:
        return [{}, {"bearer": []}]
    return []


def _request_body(method: str, policy: Policy) -> dict[str, Any] | None:
    if policy.upload:
        return {"required": True, "description": "The object's bytes, raw or as a multipart form's file field.",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}},
                            "multipart/form-data": {"schema": {"type": "object"}}}}
    if method in _JSON_WRITES:
        return {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    return None


def operation(handler: type[RestHandler], method: str, policy: Policy,
              params: list[tuple[str, bool]], tag: str) -> dict[str, Any]:
    summary, description = _summary(handler, method)
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}{handler.__name__.removesuffix('Handler')}",
        "summary": summary,
        "description": (description + "\n\n" if description else "") + _AUTH_TEXT[policy.auth],
        "tags": [tag],
        "x-storage-operation": policy.operation,
        "parameters": _parameters(params, policy),
        "security": _security(policy.auth),
        "responses": {"200": {"description": "Success"}, "default": ERROR},
    }
    body = _request_body(method, policy)
    if body is not None:
        op["requestBody"] = body
    return op


def document(routes: Iterable[tuple[Any, ...]], version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the REST routes among `routes` (app.rest_paths()): the
    Supabase JSON routes, whose handlers declare their policies (TUS, a protocol of its
    own, is described in docs/tus.md)."""
    paths: dict[str, dict[str, Any]] = {}
    for pattern, handler, *_ in routes:
        if not issubclass(handler, RestHandler) or handler is NotFoundHandler or not handler.policies:
            continue
        path, params = path_template(pattern)
        tag = path.strip("/").split("/")[0] or "meta"
        tag = tag if tag in ("bucket", "object") else "meta"
        paths[path] = {method.lower(): operation(handler, method, policy, params, tag)
                       for method, policy in handler.policies.items()}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "s3proxy: Supabase Storage API",
            "version": version,
            "description": "The Supabase Storage REST routes this server answers. The S3 protocol is served "
                           "under /s3 on this port and at / on the S3 port (AWS's S3 API).",
        },
        "tags": [{"name": "bucket"}, {"name": "object"}, {"name": "meta"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": {
                "type": "object", "required": ["statusCode", "error", "message", "code"],
                "properties": {name: {"type": "string"} for name in ("statusCode", "error", "message", "code")},
            }},
            "responses": {"Error": {
                "description": "Supabase's error envelope; HTTP 400 for most errors, the real status in "
                               "statusCode",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }},
        },
    }
