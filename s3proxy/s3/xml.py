"""S3 XML in and out, with lxml.

Success documents carry the S3 namespace on their root (botocore and most SDKs ignore
it, but some strict clients want it); error documents must NOT (botocore then reads
every error code as empty, reference §3.4). Request bodies are parsed with entities,
DTDs and network access off, and a DOCTYPE is refused outright: XML bodies come from
the network and entity expansion is the classic way to blow up a parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from s3proxy.storage.errors import StorageError

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# A child spec: (tag, text) or (tag, [child specs]) or (tag, None) for "omit".
Child = tuple[str, Any]


def iso(when: datetime) -> str:
    """S3's timestamp format in XML: 2024-01-01T00:00:00.000Z."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def _append(parent: etree._Element, children: Iterable[Child]) -> None:
    for tag, value in children:
        if value is None:
            continue
        el = etree.SubElement(parent, tag)
        if isinstance(value, list):
            _append(el, value)
        else:
            el.text = _text(value)


def document(root: str, children: Iterable[Child], *, namespace: bool = True, text: str | None = None) -> bytes:
    """Serialise a success (or, with namespace=False, error) document."""
    el = etree.Element(root, nsmap={None: NS}) if namespace else etree.Element(root)
    if text:
        el.text = text
    _append(el, children)
    return DECLARATION + etree.tostring(el, encoding="UTF-8")


def error_document(code: str, message: str, resource: str, request_id: str,
                   extra: Iterable[Child] = ()) -> bytes:
    return document("Error", [("Code", code), ("Message", message), *extra, ("Resource", resource),
                              ("RequestId", request_id)], namespace=False)


# --- parsing ------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)


def parse(body: bytes, root: str) -> etree._Element:
    """The request's XML root, which must be `root` (any or no namespace); MalformedXML
    for anything else, including DOCTYPEs and entities."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise StorageError("MalformedXML")
    try:
        el = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise StorageError("MalformedXML") from exc
    if el is None or etree.QName(el).localname != root:
        raise StorageError("MalformedXML")
    return el


def children(el: etree._Element, tag: str) -> list[etree._Element]:
    """Direct children named `tag`, whatever their namespace."""
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == tag]


def child_text(el: etree._Element, tag: str) -> str | None:
    found = children(el, tag)
    if not found:
        return None
    return found[0].text or ""
