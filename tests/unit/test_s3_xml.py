"""S3 XML documents: well-formed whatever the keys hold, namespace on success documents
only, and request bodies parsed without entity expansion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from s3proxy import errors
from s3proxy.s3.xml import NS, document, error_document, parse


def test_success_document_round_trips_awkward_text() -> None:
    key = "a&b <c> \"d\" 'e' 日本語/ü"
    when = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2)))
    body = document("ListBucketResult", [
        ("Name", "bkt"), ("Prefix", None), ("IsTruncated", False), ("MaxKeys", 1000),
        ("Contents", [("Key", key), ("LastModified", when), ("Size", 3)]),
    ])
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = etree.fromstring(body)
    assert root.tag == f"{{{NS}}}ListBucketResult"
    ns = {"s": NS}
    assert root.findtext("s:Contents/s:Key", namespaces=ns) == key
    assert root.findtext("s:Contents/s:LastModified", namespaces=ns) == "2024-01-02T01:04:05.678Z"
    assert root.findtext("s:IsTruncated", namespaces=ns) == "false"
    assert root.find("s:Prefix", namespaces=ns) is None  # None means "omit"


def test_error_document_has_no_namespace() -> None:
    root = etree.fromstring(error_document("NoSuchKey", "gone & <away>", "/b/k", "ID1"))
    assert root.tag == "Error" and root.nsmap == {}
    assert [c.tag for c in root] == ["Code", "Message", "Resource", "RequestId"]
    assert root.findtext("Message") == "gone & <away>"


def test_parse_accepts_any_namespace_and_refuses_entities() -> None:
    assert parse(b"<Delete><Object><Key>k</Key></Object></Delete>", "Delete").tag.endswith("Delete")
    assert parse(f'<Delete xmlns="{NS}"><Quiet>true</Quiet></Delete>'.encode(), "Delete") is not None
    bomb = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Delete>&a;</Delete>'
    for body in (bomb, b"<Delete><unclosed></Delete>", b"<Other/>"):
        with pytest.raises(errors.Error) as caught:
            parse(body, "Delete")
        assert caught.value.code == "MalformedXML"


def test_naive_and_utc_datetimes() -> None:
    body = document("R", [("T", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))])
    assert b"<T>2024-05-06T07:08:09.000Z</T>" in body
