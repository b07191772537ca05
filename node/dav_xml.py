"""WebDAV XML for the CardDAV service: requests read safely, multistatus answers written (RFC 4918 §14, RFC 6352,
RFC 6578).

Requests come from the network: they are parsed by defusedxml with DTDs forbidden (no entity expansion, no
external entities: the "billion laughs" and XXE classes), after the body was bounded by the application's
client_max_size. Answers are written as text with every value escaped; a property a request names in an unknown
namespace is echoed back in its own namespace (in a 404 propstat).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from node.errors import BadInput

__all__ = [
    "CARDDAV",
    "CS",
    "DAV",
    "NAMESPACES",
    "Prop",
    "PropStat",
    "Response",
    "error_body",
    "local",
    "multistatus",
    "parse_xml",
    "prop_xml",
    "response_xml",
]

DAV = "DAV:"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
#: Prefixes every answer declares on its root element.
NAMESPACES = {DAV: "d", CARDDAV: "card", CS: "cs"}
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Prop:
    """A property's name: (namespace, local name)."""

    ns: str
    name: str

    @classmethod
    def of(cls, el: Element) -> Prop:
        ns, name = local(el.tag)
        return cls(ns, name)


@dataclass(frozen=True, slots=True)
class PropStat:
    status: int
    props: Sequence[str]  # each a complete XML element (prop_xml)


@dataclass(frozen=True, slots=True)
class Response:
    href: str
    propstats: Sequence[PropStat] = ()
    status: int | None = None  # a response with a status and no propstat (a removed member, RFC 6578)


def local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def parse_xml(body: bytes, expected: Sequence[tuple[str, str]] | None = None) -> Element:
    """The request's XML document, or BadInput saying why it cannot be read."""
    if not body.strip():
        raise BadInput("the request needs an XML body")
    try:
        root: Element = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise BadInput("XML with a DTD or entities is not accepted here") from None
    except SafeET.ParseError as exc:
        raise BadInput(f"the request body is not well-formed XML ({exc})") from None
    _check_depth(root)
    if expected is not None and local(root.tag) not in expected:
        names = ", ".join(n for _, n in expected)
        raise BadInput(f"expected a {names} element, got {local(root.tag)[1][:60]!r}")
    return root


def _check_depth(root: Element) -> None:
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise BadInput(f"the XML is nested deeper than {_MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in el)


def _qname(prop: Prop) -> tuple[str, str]:
    """(the element's name as written, a namespace declaration it needs)."""
    prefix = NAMESPACES.get(prop.ns)
    if prefix is not None:
        return f"{prefix}:{prop.name}", ""
    if not prop.ns:
        return prop.name, ' xmlns=""'
    return f"x:{prop.name}", f" xmlns:x={quoteattr(prop.ns)}"


def prop_xml(prop: Prop, inner: str = "", *, text: str | None = None) -> str:
    """``<prefix:name>inner</prefix:name>``; ``text`` is escaped, ``inner`` is XML already."""
    name, decl = _qname(prop)
    # A CR in text would reach the client as LF (XML normalises line ends): a vCard's CRLF is kept as &#13;LF.
    body = inner if text is None else escape(text, {"\r": "&#13;"})
    if not body:
        return f"<{name}{decl}/>"
    return f"<{name}{decl}>{body}</{name}>"


_REASONS = {
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    424: "Failed Dependency",
    507: "Insufficient Storage",
}


def _status(code: int) -> str:
    return f"<d:status>HTTP/1.1 {code} {_REASONS.get(code, '')}</d:status>"


def _declarations() -> str:
    return " ".join(f"xmlns:{p}={quoteattr(ns)}" for ns, p in NAMESPACES.items())


def response_xml(href: str, propstats: Sequence[PropStat]) -> str:
    """One response element as text (node/dav_props.py writes a book's thousands of cards with it)."""
    inner = "".join(
        f"<d:propstat><d:prop>{''.join(ps.props)}</d:prop>{_status(ps.status)}</d:propstat>"
        for ps in propstats
    )
    return f"<d:response><d:href>{escape(href)}</d:href>{inner}</d:response>"


def multistatus(
    responses: Iterable[Response], *, sync_token: str | None = None, written: Iterable[str] = ()
) -> bytes:
    """The multistatus document: ``responses``, then ``written`` (response elements already written)."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n', f"<d:multistatus {_declarations()}>"]
    for r in responses:
        parts.append(f"<d:response><d:href>{escape(r.href)}</d:href>")
        for ps in r.propstats:
            parts.append(f"<d:propstat><d:prop>{''.join(ps.props)}</d:prop>{_status(ps.status)}</d:propstat>")
        if r.status is not None:
            parts.append(_status(r.status))
        parts.append("</d:response>")
    parts.extend(written)
    if sync_token is not None:
        parts.append(f"<d:sync-token>{escape(sync_token)}</d:sync-token>")
    parts.append("</d:multistatus>")
    return "".join(parts).encode("utf-8")


def error_body(condition: Prop, message: str, inner: str = "") -> bytes:
    """A DAV:error body naming the precondition that failed (RFC 4918 §16), with Kith's words for a person."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<d:error {_declarations()}>'
        f"{prop_xml(condition, inner)}<d:responsedescription>{escape(message)}</d:responsedescription>"
        "</d:error>"
    ).encode()
