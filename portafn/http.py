"""Provider-neutral HTTP request and response."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel
from pydantic_core import to_json

HeaderInput = Mapping[str, str] | Mapping[str, list[str]] | Iterable[tuple[str, str]] | None

_FORBIDDEN_IN_HEADER = re.compile(r"[\r\n\x00]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_LIST_ITEM = re.compile(r'\s*((?:"(?:[^"\\]|\\.)*"|[^,"])*)\s*(?:,|$)')
_TEXT_TYPES = ("text/", "application/json", "application/problem+json", "application/xml")
_TEXT_SUFFIXES = ("+json", "+xml")
# Up to this many headers (a response's usual few), a lookup scans them instead of indexing them.
_SCAN_AT_MOST = 4


@dataclass(frozen=True, slots=True)
class Header:
    """Marks a handler parameter as a request header: ``tenant: Annotated[str, Header()]``.

    The header's name is ``name``, else the parameter's name with ``_`` as ``-``
    (``x_tenant`` reads ``X-Tenant``). ``list[X]`` takes every element (``Headers.get_list``);
    otherwise the last value counts, as for a query parameter. Field constraints apply.
    """

    name: str | None = None
    __portafn_marker__ = True


class Headers:
    """Case-insensitive, multi-valued headers that keep the order and spelling they arrived in."""

    __slots__ = ("_first", "_items")

    def __init__(self, items: HeaderInput = None) -> None:
        self._items: list[tuple[str, str]] = []
        # Lower-cased name to first value, built on the first lookup and dropped on any change:
        # a request's headers are read several times and never changed.
        self._first: dict[str, str] | None = None
        if items is None:
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        append = self._items.append
        for name, value in pairs:
            if type(value) is str and type(name) is str:
                append((name, value))
            elif isinstance(value, list | tuple):
                self._items.extend((str(name), str(v)) for v in value)
            else:
                append((str(name), str(value)))

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Headers holding ``pairs`` (names and values already ``str``) as they are, not copied."""
        headers = cls()
        headers._items = pairs
        return headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name``, or ``default``."""
        first = self._first
        if first is None:
            items = self._items
            if len(items) <= _SCAN_AT_MOST:
                key = name.lower()
                for k, v in items:
                    if k == key or k.lower() == key:
                        return v
                return default
            # Built from the last pair back, so the first value of a repeated name wins.
            first = self._first = {k.lower(): v for k, v in reversed(items)}
        return first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        key = name.lower()
        return [v for k, v in self._items if k == key or k.lower() == key]

    def get_list(self, name: str) -> list[str]:
        """Every element of a list-valued header (RFC 9110 5.6.1), in order, however it arrived.

        Providers differ in whether a repeated header arrives as several values or as one value
        joined with commas; this reads both the same way. Quoted strings keep their commas.
        """
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(item for item in (m.group(1).strip() for m in _LIST_ITEM.finditer(value)) if item)
        return out

    def add(self, name: str, value: str) -> None:
        """Append a value, keeping any already there."""
        self._items.append((name, value))
        self._first = None

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with one."""
        self.remove(name)
        self._items.append((name, value))
        self._first = None

    def remove(self, name: str) -> None:
        """Drop every value of ``name``."""
        key = name.lower()
        if any(k == key or k.lower() == key for k, _ in self._items):
            self._items = [(k, v) for k, v in self._items if k.lower() != key]
            self._first = None

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs, repeated names included."""
        return list(self._items)

    def to_multi(self) -> dict[str, list[str]]:
        """Names (lower-cased) to every value."""
        out: dict[str, list[str]] = {}
        for k, v in self._items:
            out.setdefault(k.lower(), []).append(v)
        return out

    def to_single(self) -> dict[str, str]:
        """Names (lower-cased) to their values joined with ``,`` as RFC 9110 allows."""
        return {k: ",".join(v) for k, v in self.to_multi().items()}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for k, _ in self._items:
            if k.lower() not in seen:
                seen.append(k.lower())
        return iter(seen)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self.to_multi() == other.to_multi()

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def unsafe_header(headers: Headers, cookies: Iterable[str] = ()) -> str | None:
    """The first header name a response must not send: a value with CR, LF or NUL, or a bad name.

    A handler that copies client input into a header would otherwise let the client add headers
    or a body of its own (response splitting).
    """
    for name, value in headers._items:
        if name not in _GOOD_NAMES and not _good_name(name):
            return _printable(name)
        if "\r" in value or "\n" in value or "\x00" in value:
            return name
    for value in cookies:
        if _FORBIDDEN_IN_HEADER.search(value):
            return "Set-Cookie"
    return None


# Header names already found to be tokens: a process sends the same few on every response.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 1024


def _good_name(name: str) -> bool:
    if _TOKEN.fullmatch(name) is None:
        return False
    if len(_GOOD_NAMES) < _GOOD_NAMES_MAX:
        _GOOD_NAMES.add(name)
    return True


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:100])


def _model_json(model: BaseModel) -> bytes:
    """``model.model_dump_json()`` as bytes: the serializer's own bytes (no decode and encode again),
    unless the model's class overrides ``model_dump_json``."""
    if type(model).model_dump_json is BaseModel.model_dump_json:
        return model.__pydantic_serializer__.to_json(model)
    return model.model_dump_json().encode()


def parse_query(query: str) -> dict[str, list[str]]:
    """Parse a raw query string into names with every value, blank values kept."""
    out: dict[str, list[str]] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        out.setdefault(k, []).append(v)
    return out


def parse_cookies(headers: Headers) -> dict[str, str]:
    """Cookies sent in ``Cookie`` headers; a malformed cookie header is ignored rather than fatal."""
    out: dict[str, str] = {}
    for header in headers.get_all("cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            # Fall back to the lenient split browsers use.
            for part in header.split(";"):
                name, sep, value = part.strip().partition("=")
                if sep and name:
                    out[name] = value
            continue
        out.update({k: m.value for k, m in jar.items()})
    return out


def is_text_type(content_type: str | None) -> bool:
    """Whether a body of this content type is text (and so needs no base64 on the wire)."""
    if not content_type:
        return False
    known = _TEXT_TYPE_SEEN.get(content_type)
    if known is None:
        media = content_type.split(";", 1)[0].strip().lower()
        known = media.startswith(_TEXT_TYPES) or media.endswith(_TEXT_SUFFIXES)
        if len(_TEXT_TYPE_SEEN) < 256:  # an app answers with a handful of content types
            _TEXT_TYPE_SEEN[content_type] = known
    return known


_TEXT_TYPE_SEEN: dict[str, bool] = {}


class HttpRequest:
    """An HTTP request as every provider delivers it, translated to one shape.

    ``query`` keeps repeated keys (``query["tag"] == ["a", "b"]``); ``headers`` is case-insensitive;
    ``body`` is the exact bytes received; ``raw`` is the provider's original event. ``path`` is
    the path as the client sent it (percent-encoding kept); ``path_params`` are decoded once.
    ``principal`` is who the platform's authorizer says the caller is, where one ran, and
    ``principal_claims`` what it said about them (token claims; Azure Easy Auth's claims, with
    ``roles``), set by adapters only from what the platform itself sets.
    """

    __slots__ = (
        "_cookies",
        "body",
        "client",
        "headers",
        "method",
        "path",
        "path_params",
        "principal",
        "principal_claims",
        "query",
        "raw",
    )

    def __init__(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, list[str]] | str | None = None,
        headers: Headers | HeaderInput = None,
        body: bytes | str | None = None,
        client: str | None = None,
        cookies: Mapping[str, str] | None = None,
        path_params: Mapping[str, str] | None = None,
        principal: str | None = None,
        raw: Any = None,
    ) -> None:
        self.method = method.upper()
        self.path = path or "/"
        if isinstance(query, str):
            self.query = parse_query(query) if query else {}
        else:
            self.query = {k: list(v) for k, v in (query or {}).items()}
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        self.client = client
        self._cookies = dict(cookies) if cookies is not None else None
        self.path_params: dict[str, str] = dict(path_params or {})
        self.principal = principal
        self.principal_claims: dict[str, Any] | None = None
        self.raw = raw

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies by name, from the provider's own list or the ``Cookie`` header."""
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers)
        return self._cookies

    @property
    def content_type(self) -> str | None:
        """The media type of the body, without parameters, lower-cased."""
        value = self.headers.get("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    def query_one(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.path})"


class HttpResponse:
    """A response every provider can carry.

    ``body`` may be bytes, str, a pydantic model, a dict or a list (JSON-encoded), or None. Binary
    bodies survive every adapter: they are base64-encoded on the wire where the provider needs it.
    ``cookies`` are full ``Set-Cookie`` values.
    """

    __slots__ = ("body", "cookies", "headers", "status")

    def __init__(
        self,
        body: bytes | str | BaseModel | dict[str, Any] | list[Any] | None = None,
        status: int = 200,
        headers: Headers | HeaderInput = None,
        *,
        content_type: str | None = None,
        cookies: Iterable[str] = (),
    ) -> None:
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.cookies = list(cookies)
        inferred: str | None
        if body is None:
            self.body, inferred = b"", None
        elif isinstance(body, bytes):
            self.body, inferred = body, "application/octet-stream"
        elif isinstance(body, str):
            self.body, inferred = body.encode(), "text/plain; charset=utf-8"
        elif isinstance(body, BaseModel):
            self.body, inferred = _model_json(body), "application/json"
        else:
            self.body, inferred = to_json(body), "application/json"
        if content_type is not None:
            self.headers.set("content-type", content_type)
        elif inferred is not None and self.headers.get("content-type") is None:
            self.headers.add("content-type", inferred)

    @property
    def content_type(self) -> str | None:
        """The Content-Type header, if set."""
        return self.headers.get("content-type")

    @property
    def is_binary(self) -> bool:
        """True when the body must be base64-encoded on providers that carry text only."""
        return bool(self.body) and not is_text_type(self.content_type)

    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {len(self.body)} bytes)"
