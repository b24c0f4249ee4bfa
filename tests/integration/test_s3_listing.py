"""ListObjects (v1), ListObjectsV2 and ListObjectVersions: prefixes, delimiters, paging
with every kind of marker, url encoding and owners."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration import s3_support
from tests.integration.s3_support import error_code

s3 = s3_support.s3  # the shared fixture
admin = s3_support.admin  # the shared fixture
s3_bucket = s3_support.s3_bucket  # the shared fixture

KEYS = ["a.txt", "dir/one", "dir/sub/two", "dir/three", "e f+g", "z/ü", "zz"]


@pytest.fixture
def filled(admin: Any, s3_bucket: str) -> str:
    for key in KEYS:
        admin.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    return s3_bucket


def test_v2_delimiter_prefix_and_paging(s3: Any, filled: str) -> None:
    out = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["a.txt", "e f+g", "zz"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir/", "z/"]
    assert out["KeyCount"] == 5 and not out["IsTruncated"]
    out = s3.list_objects_v2(Bucket=filled, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["dir/one", "dir/three"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir/sub/"]
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=filled, MaxKeys=2, **kwargs)
        seen += [o["Key"] for o in page["Contents"]]
        if token:
            assert page["ContinuationToken"] == token
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(KEYS, key=lambda k: k.encode())
    after = s3.list_objects_v2(Bucket=filled, StartAfter="dir/three")
    assert after["StartAfter"] == "dir/three"
    assert [o["Key"] for o in after["Contents"]] == ["e f+g", "z/ü", "zz"]
    owned = s3.list_objects_v2(Bucket=filled, FetchOwner=True, MaxKeys=1)["Contents"][0]
    assert "Owner" in owned
    assert "Owner" not in s3.list_objects_v2(Bucket=filled, MaxKeys=1)["Contents"][0]
    assert s3.list_objects_v2(Bucket=filled, MaxKeys=0)["KeyCount"] == 0


def test_v1_markers(s3: Any, filled: str) -> None:
    page = s3.list_objects(Bucket=filled, MaxKeys=3, Delimiter="/")
    assert page["IsTruncated"]
    names = [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert sorted(names) == ["a.txt", "dir/", "e f+g"]
    assert page["NextMarker"] == "e f+g"
    rest = s3.list_objects(Bucket=filled, Marker=page["NextMarker"], Delimiter="/")
    assert rest["Marker"] == "e f+g"
    assert [o["Key"] for o in rest["Contents"]] == ["zz"]
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["z/"]
    resumed = s3.list_objects(Bucket=filled, Marker="dir/", Delimiter="/")  # a common prefix is skipped whole
    assert [o["Key"] for o in resumed["Contents"]][0] == "e f+g"
    everything = s3.list_objects(Bucket=filled)
    assert [o["Key"] for o in everything["Contents"]] == sorted(KEYS, key=lambda k: k.encode())
    assert all("Owner" in o for o in everything["Contents"])


def test_url_encoding(server: Any, filled: str) -> None:
    # botocore always asks for encoding-type=url and decodes; check the raw wire as well
    client = s3_support.s3_client(server)
    assert "e f+g" in [o["Key"] for o in client.list_objects_v2(Bucket=filled)["Contents"]]
    url = client.generate_presigned_url("list_objects_v2", Params={"Bucket": filled, "EncodingType": "url",
                                                                   "Prefix": "e "})
    raw = httpx.get(url).text
    assert "<Key>e%20f%2Bg</Key>" in raw and "<EncodingType>url</EncodingType>" in raw
    assert "<Prefix>e%20</Prefix>" in raw


def test_object_versions_for_unversioned_bucket(s3: Any, filled: str) -> None:
    out = s3.list_object_versions(Bucket=filled, Prefix="dir/")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in out["Versions"]] == [
        ("dir/one", "null", True), ("dir/sub/two", "null", True), ("dir/three", "null", True)]
    page = s3.list_object_versions(Bucket=filled, MaxKeys=2)
    assert page["IsTruncated"] and page["NextKeyMarker"] == "dir/one"
    rest = s3.list_object_versions(Bucket=filled, KeyMarker=page["NextKeyMarker"])
    assert rest["Versions"][0]["Key"] == "dir/sub/two"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=filled, MaxKeys=-1)
    assert error_code(exc.value)[1] == 400
