"""`GET /openapi.json` and `GET /documentation` (the reference's EXPOSE_DOCS).

The reference serves Swagger UI, which loads its scripts from a CDN; this machine has
none, and vendoring a UI bundle would be a megabyte to keep current. So
/documentation is one self-contained HTML page rendered from the same document as
/openapi.json (rest/openapi.py), which any OpenAPI tool can load. EXPOSE_DOCS=false
makes both a 404.
"""

from __future__ import annotations

import functools
import json
from html import escape
from typing import Any

from s3proxy import errors
from s3proxy.config import Settings
from s3proxy.rest.base import Auth, Policy, RestHandler


@functools.cache
def _document(settings: Settings) -> dict[str, Any]:
    from s3proxy.app import rest_paths  # the route table imports this module
    from s3proxy.rest.openapi import document

    return document(rest_paths(settings), settings.version)


class _DocsHandler(RestHandler):
    async def begin(self) -> None:
        if not self.store.settings.expose_docs:
            raise errors.RouteNotFound(f"Route {self.request.method}:{self.request.path} not found")
        await super().begin()

    @property
    def document(self) -> dict[str, Any]:
        return _document(self.store.settings)


class OpenApiHandler(_DocsHandler):
    """The REST routes as an OpenAPI 3 document."""

    policies = {"GET": Policy(Auth.NONE, "storage.docs")}

    def get(self) -> None:
        self.send_json(self.document)


class DocumentationHandler(_DocsHandler):
    """The REST routes as a readable page."""

    policies = {"GET": Policy(Auth.NONE, "storage.docs")}

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(render_html(self.document))


def render_html(doc: dict[str, Any]) -> str:
    rows = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            auth = op["description"].rsplit("\n\n", 1)[-1]
            rows.append(
                f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(op['summary'])}</td><td>{escape(auth)}</td>"
                f"<td><code>{escape(op['x-storage-operation'])}</code></td></tr>")
    title = escape(doc["info"]["title"])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title><style>body{{font:14px sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
        "vertical-align:top}</style></head><body>"
        f"<h1>{title} <small>{escape(doc['info']['version'])}</small></h1>"
        f"<p>{escape(doc['info']['description'])} Machine-readable: <a href=openapi.json>openapi.json</a>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>credentials</th><th>storage.operation</th></tr>"
        + "".join(rows) + "</table>"
        f"<script type=application/json id=openapi>{escape(json.dumps(doc))}</script></body></html>"
    )
