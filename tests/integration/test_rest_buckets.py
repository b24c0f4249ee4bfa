"""Every `/bucket` route over raw HTTP: exact JSON shapes, statuses and error bodies
(reference §2.2 and §3.1: handled errors are HTTP 400 with the real status in the body)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.rig import Server

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_error(r: httpx.Response, status: str, code: str, http_status: int = 400) -> dict[str, str]:
    assert r.status_code == http_status, r.text
    body = r.json()
    assert set(body) == {"statusCode", "error", "message", "code"}, body
    assert body["statusCode"] == status
    assert body["code"] == code
    return body  # type: ignore[no-any-return]


def test_create_get_list_update_delete(http: httpx.Client, unique: str) -> None:
    name = f"crud-{unique}"
    r = http.post("bucket", json={"name": name, "public": True, "file_size_limit": "1.5MB",
                                  "allowed_mime_types": ["image/*", "", "text/plain"]})
    assert r.status_code == 200
    assert r.json() == {"name": name}

    r = http.get(f"bucket/{name}")
    assert r.status_code == 200
    got = r.json()
    assert set(got) == {"id", "name", "owner", "public", "created_at", "updated_at",
                        "file_size_limit", "allowed_mime_types"}
    assert got["id"] == name and got["name"] == name and got["public"] is True
    assert got["owner"] == ""  # the service key has no sub: NULL strings are ""
    assert got["file_size_limit"] == 1_500_000
    assert got["allowed_mime_types"] == ["image/*", "text/plain"]
    assert ISO_MS.match(got["created_at"]) and ISO_MS.match(got["updated_at"])

    listed = [b for b in http.get("bucket").json() if b["id"] == name]
    assert len(listed) == 1
    assert listed[0]["type"] == "STANDARD"
    assert set(listed[0]) == set(got) | {"type"}

    r = http.put(f"bucket/{name}", json={"public": False, "file_size_limit": None, "ignored": 1})
    assert r.status_code == 200
    assert r.json() == {"message": "Successfully updated"}
    got = http.get(f"bucket/{name}").json()
    assert got["public"] is False and got["file_size_limit"] is None
    assert got["allowed_mime_types"] == ["image/*", "text/plain"]

    r = http.delete(f"bucket/{name}")
    assert r.status_code == 200
    assert r.json() == {"message": "Successfully deleted"}
    assert_error(http.get(f"bucket/{name}"), "404", "NoSuchBucket")


def test_create_with_explicit_id(http: httpx.Client, unique: str) -> None:
    r = http.post("bucket", json={"name": f"named-{unique}", "id": f"id-{unique}"})
    assert r.status_code == 200 and r.json() == {"name": f"named-{unique}"}
    assert http.get(f"bucket/id-{unique}").json()["name"] == f"named-{unique}"
    http.delete(f"bucket/id-{unique}")


def test_duplicate_bucket(http: httpx.Client, bucket: str) -> None:
    body = assert_error(http.post("bucket", json={"name": bucket}), "409", "BucketAlreadyExists")
    assert body["error"] == "Duplicate"


@pytest.mark.parametrize("name", ["", " lead", "trail ", "bad/slash", "x" * 101, "a--table-s3", "é"])
def test_invalid_bucket_names(http: httpx.Client, name: str) -> None:
    body = assert_error(http.post("bucket", json={"name": name}), "400", "InvalidBucketName")
    assert body["error"] == "Invalid Input"


def test_permissive_names_are_allowed(http: httpx.Client, unique: str) -> None:
    name = f"Up Case!({unique})"
    assert http.post("bucket", json={"name": name}).status_code == 200
    assert http.get(f"bucket/{name}").json()["id"] == name
    assert http.delete(f"bucket/{name}").status_code == 200


def test_list_search_sort_limit_offset(http: httpx.Client, unique: str) -> None:
    names = [f"ls-{unique}-{c}" for c in "cab"]
    for n in names:
        assert http.post("bucket", json={"name": n}).status_code == 200
    try:
        r = http.get("bucket", params={"search": f"LS-{unique}", "sortColumn": "name", "sortOrder": "desc"})
        assert [b["name"] for b in r.json()] == sorted(names, reverse=True)
        r = http.get("bucket", params={"search": f"ls-{unique}", "sortColumn": "name", "limit": 1, "offset": 1})
        assert [b["name"] for b in r.json()] == [sorted(names)[1]]
        # LIKE wildcards in the search are literal
        assert http.get("bucket", params={"search": f"ls_{unique}"}).json() == []
        assert_error(http.get("bucket", params={"sortColumn": "nope"}), "400", "InvalidRequest")
        assert_error(http.get("bucket", params={"limit": 0}), "400", "InvalidRequest")
        assert_error(http.get("bucket", params={"offset": "x"}), "400", "InvalidRequest")
    finally:
        for n in names:
            http.delete(f"bucket/{n}")


def test_file_size_limit_rules(http: httpx.Client, unique: str) -> None:
    cases = {"20GB": 20_000_000_000, "1.2345MB": 1_230_000, "30KB": 30_000, "3B": 3, 0: 0, 1024: 1024}
    for i, (given, expected) in enumerate(cases.items()):
        name = f"lim-{unique}-{i}"
        assert http.post("bucket", json={"name": name, "file_size_limit": given}).status_code == 200
        assert http.get(f"bucket/{name}").json()["file_size_limit"] == expected
        http.delete(f"bucket/{name}")
    assert_error(http.post("bucket", json={"name": f"lim-{unique}", "file_size_limit": "12 parsecs"}),
                 "400", "InvalidRequest")
    assert_error(http.post("bucket", json={"name": f"lim-{unique}", "file_size_limit": "999999GB"}),
                 "413", "EntityTooLarge")


def test_invalid_mime_types(http: httpx.Client, unique: str) -> None:
    body = assert_error(http.post("bucket", json={"name": f"m-{unique}", "allowed_mime_types": ["not a mime"]}),
                        "415", "InvalidMimeType")
    assert body["error"] == "invalid_mime_type"


def test_update_requires_a_field_and_an_existing_bucket(http: httpx.Client, bucket: str) -> None:
    assert_error(http.put(f"bucket/{bucket}", json={}), "400", "InvalidRequest")
    assert_error(http.put("bucket/does-not-exist-x", json={"public": True}), "404", "NoSuchBucket")


def test_delete_missing_bucket(http: httpx.Client) -> None:
    assert_error(http.delete("bucket/does-not-exist-y"), "404", "NoSuchBucket")


def test_empty_bucket_requires_service_role(server: Server, http: httpx.Client, bucket: str) -> None:
    r = httpx.post(server.url + f"bucket/{bucket}/empty", json={},
                   headers=server.headers(server.token("authenticated", sub="someone")))
    assert_error(r, "403", "AccessDenied", http_status=403)
    r = http.post(f"bucket/{bucket}/empty", json={})
    assert r.status_code == 200 and "message" in r.json()
    assert_error(http.post("bucket/does-not-exist-z/empty", json={}), "404", "NoSuchBucket")


def test_bodies_that_are_not_json(http: httpx.Client) -> None:
    r = http.post("bucket", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(r, "400", "InvalidRequest")
    assert_error(http.post("bucket", json=["a", "list"]), "400", "InvalidRequest")
    assert_error(http.post("bucket", json={"public": True}), "400", "InvalidRequest")
    # over the 1 MiB JSON limit: refused before the body is read, with the framework's own status
    assert_error(http.post("bucket", content=b"x" * (2 * 1024 * 1024)), "413", "EntityTooLarge", http_status=413)


def test_bad_tokens(server: Server) -> None:
    missing = httpx.get(server.url + "bucket")
    body = assert_error(missing, "400", "InvalidRequest")
    assert body["error"] == "Error" and "authorization" in body["message"]
    for token in ["garbage", server.token(exp=-10), server.token().rsplit(".", 1)[0] + ".AAAA"]:
        body = assert_error(httpx.get(server.url + "bucket", headers={"Authorization": f"Bearer {token}"}),
                            "403", "AccessDenied")
        assert body["error"] == "Unauthorized"
    import jwt as pyjwt

    wrong_key = pyjwt.encode({"role": "service_role"}, "another-secret-another-secret-xx", algorithm="HS256")
    body = assert_error(httpx.get(server.url + "bucket", headers={"Authorization": f"Bearer {wrong_key}"}),
                        "403", "AccessDenied")
    assert "signature" in body["message"]


def test_bearer_prefix_is_case_insensitive(server: Server) -> None:
    r = httpx.get(server.url + "bucket", headers={"Authorization": f"bEaReR {server.service_token}"})
    assert r.status_code == 200


def test_old_python_clients_get_no_type(server: Server, http: httpx.Client, bucket: str) -> None:
    r = http.get("bucket", headers={"X-Client-Info": "supabase-py/2.3.0"})
    assert all("type" not in b for b in r.json())
