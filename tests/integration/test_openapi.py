"""`/openapi.json` and `/documentation` (issue 15 §3 "OpenAPI"): generated from the
route table, so every REST route of app.py is there, with every method its handler
has a policy for; the document validates as OpenAPI 3; EXPOSE_DOCS=false hides both."""

from __future__ import annotations

import re

import httpx
import pytest
from openapi_spec_validator import validate

from s3proxy.app import rest_paths
from s3proxy.config import Settings
from s3proxy.rest.base import NotFoundHandler, RestHandler
from s3proxy.rest.openapi import path_template
from tests.integration.wire import own_server
from tests.rig import Postgres, Server


def test_every_route_is_in_the_document_and_it_validates(server: Server) -> None:
    r = httpx.get(server.url + "openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    validate(doc)
    assert doc["info"]["version"] == httpx.get(server.url + "version").text
    routes = [(p, h) for p, h, *_ in rest_paths(Settings())
              if issubclass(h, RestHandler) and h is not NotFoundHandler and h.policies]
    assert len(doc["paths"]) == len(routes)
    for pattern, handler in routes:
        path, params = path_template(pattern)
        assert path in doc["paths"], pattern
        assert set(doc["paths"][path]) == {m.lower() for m in handler.policies}, path
        for method, policy in handler.policies.items():
            op = doc["paths"][path][method.lower()]
            assert op["x-storage-operation"] == policy.operation
            assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == {n for n, _ in params}
            assert ("requestBody" in op and op["requestBody"]["required"]) == policy.upload
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    upload = doc["paths"]["/object/{bucket_id}/{key}"]["post"]
    assert upload["security"] == [{"bearer": []}] and "multipart/form-data" in upload["requestBody"]["content"]
    signed = doc["paths"]["/object/sign/{bucket_id}/{key}"]["get"]
    assert signed["security"] == [] and any(p["name"] == "token" and p["in"] == "query"
                                            for p in signed["parameters"])


def test_the_documentation_page_lists_every_operation(server: Server) -> None:
    page = httpx.get(server.url + "documentation")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    doc = httpx.get(server.url + "openapi.json").json()
    listed = re.findall(r"<tr><td><code>(\w+)</code></td><td><code>([^<]+)</code>", page.text)
    expected = [(m.upper(), p) for p, item in doc["paths"].items() for m in item]
    assert sorted(listed) == sorted(expected)
    assert "http://" not in page.text and "https://" not in page.text  # nothing loaded from elsewhere


def test_a_pattern_the_generator_cannot_read_is_an_error() -> None:
    with pytest.raises(ValueError):
        path_template(r"/object/(\d+)")
    assert path_template(r"/object/(?P<bucket_id>[^/]+)/(?P<key>.+)") == \
        ("/object/{bucket_id}/{key}", [("bucket_id", False), ("key", True)])


def test_expose_docs_false_hides_both(postgres: Postgres) -> None:
    with own_server("file", postgres, None, env={"EXPOSE_DOCS": "false"}) as srv:
        for path in ("openapi.json", "documentation"):
            r = httpx.get(srv.url + path)
            assert r.status_code == 404 and r.json()["code"] == "InvalidRequest"
