"""S3 XML in and out, with lxml.

Success documents carry the S3 namespace on their root (botocore and most SDKs ignore
it, but some strict clients want it); error documents must NOT (botocore then reads
every error code as empty, reference §3.4). Request bodies are parsed with entities,
DTDs and network access off, and a DOCTYPE is refused outright: XML bodies come from
the network and entity expansion is the classic way to blow up a parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from s3proxy import errors
from s3proxy.timefmt import iso_millis

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class Markup(str):
    """Elements already written as well-formed XML (escaped where needed), put into a
    document as they are. Listings render their thousand `<Contents>` this way, one
    f-string each."""


# A child spec: (tag, text) or (tag, [child specs]) or (tag, None) for "omit"; or Markup.
Child = tuple[str, Any] | Markup


# a carriage return would reach the reader as a line feed (XML parsers normalise line
# ends), so a prefix or marker holding one is written as a character reference
_ENTITIES = {"\r": "&#13;"}
# characters XML 1.0 cannot carry at all, not even as character references
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """`text` escaped for an element: carriage returns as references, characters XML
    cannot carry replaced by U+FFFD (keys cannot hold them, but an echoed request value
    might)."""
    return escape(_NOT_XML.sub("\ufffd", text), _ENTITIES)


def escape_all(texts: list[str]) -> list[str]:
    """Each text escaped; the list as it is when none needs it (the usual case for keys
    and ETags: one scan of them all joined instead of a check per text)."""
    joined = "".join(texts)
    if ("&" not in joined and "<" not in joined and ">" not in joined and "\r" not in joined
            and not _NOT_XML.search(joined)):
        return texts
    return [xml_text(text) for text in texts]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return xml_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_millis(value)
    return xml_text(str(value))


def _render(children: Iterable[Child], out: list[str]) -> None:
    for child in children:
        if isinstance(child, Markup):
            out.append(child)
            continue
        tag, value = child
        if value is None:
            continue
        if isinstance(value, list):
            out.append(f"<{tag}>")
            _render(value, out)
            out.append(f"</{tag}>")
        else:
            out.append(f"<{tag}>{_text(value)}</{tag}>")


def document(root: str, children: Iterable[Child], *, namespace: bool = True, text: str | None = None) -> bytes:
    """Serialise a success (or, with namespace=False, error) document.

    Written as text rather than built as an lxml tree: documents are flat lists of
    simple elements, and a 1,000-key listing renders about 7x faster this way; every
    text value goes through `escape`, so the output is well-formed whatever keys hold."""
    out = [f'<{root} xmlns="{NS}">' if namespace else f"<{root}>"]
    if text:
        out.append(xml_text(text))
    _render(children, out)
    out.append(f"</{root}>")
    return DECLARATION + "".join(out).encode("utf-8")


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
        raise errors.MalformedXML()
    try:
        el = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise errors.MalformedXML() from exc
    if el is None or etree.QName(el).localname != root:
        raise errors.MalformedXML()
    return el


def children(el: etree._Element, tag: str) -> list[etree._Element]:
    """Direct children named `tag`, whatever their namespace."""
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == tag]


def child_text(el: etree._Element, tag: str) -> str | None:
    found = children(el, tag)
    if not found:
        return None
    return found[0].text or ""
