"""Path templates (``/orders/{order_id}``) compiled to matchers, and the router over them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]*$")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class PathDecodeError(ValueError):
    """A path parameter whose percent-escapes are not UTF-8: the client sent a bad path (400)."""

    def __init__(self, param: str) -> None:
        self.param = param
        super().__init__(f"path parameter {param!r} is not valid percent-encoded UTF-8")


def normalize_path(raw: str) -> str:
    """``raw`` with escapes of unreserved characters decoded (RFC 3986 6.2.2.2), others kept.

    Routing compares this form, so ``/%6Frders`` matches ``/orders`` while ``%2F`` stays an
    escape and never splits a segment.
    """
    if "%" not in raw:
        return raw

    def one(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    return _ESCAPE.sub(one, raw)


def decode_param(name: str, raw: str) -> str:
    """A path parameter percent-decoded exactly once as UTF-8; ``PathDecodeError`` if not UTF-8."""
    if "%" not in raw:
        return raw
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise PathDecodeError(name) from None


class TemplateError(ValueError):
    """A path template that cannot be compiled."""


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A compiled template. ``{name}`` matches one segment; ``{name+}`` matches the rest."""

    template: str
    params: tuple[str, ...]
    pattern: re.Pattern[str]
    specificity: tuple[int, int]

    def match(self, path: str) -> dict[str, str] | None:
        """The decoded path parameters if the raw (still percent-encoded) ``path`` matches, else None.

        Segments are split on literal ``/`` before decoding, so ``/seg/a%2Fb`` gives ``a/b``.
        """
        return self.match_normalized(normalize_path(path))

    def match_normalized(self, normalized: str) -> dict[str, str] | None:
        """``match`` for a path already passed through ``normalize_path`` (a router does it once)."""
        m = self.pattern.match(normalized)
        return {k: decode_param(k, v) for k, v in m.groupdict().items()} if m else None


def compile_template(template: str) -> PathTemplate:
    """Compile a template; raises ``TemplateError`` naming what is wrong."""
    if not template.startswith("/"):
        raise TemplateError(f"path {template!r} must start with '/'")
    if "//" in template:
        raise TemplateError(f"path {template!r} has an empty segment")
    regex = ""
    params: list[str] = []
    literal_segments = 0
    segments = template.strip("/").split("/") if template != "/" else []
    for i, segment in enumerate(segments):
        m = _PARAM.fullmatch(segment)
        if m:
            name, greedy = m.group(1), m.group(2)
            if name in params:
                raise TemplateError(f"path {template!r} repeats parameter {{{name}}}")
            if greedy and i != len(segments) - 1:
                raise TemplateError(f"path {template!r}: {{{name}+}} must be the last segment")
            params.append(name)
            regex += f"/(?P<{name}>.+)" if greedy else f"/(?P<{name}>[^/]+)"
            continue
        if "{" in segment or "}" in segment:
            raise TemplateError(f"path {template!r}: segment {segment!r} must be a literal or one {{name}}")
        if not _LITERAL.match(segment):
            raise TemplateError(f"path {template!r}: segment {segment!r} has characters a URL cannot carry")
        literal_segments += 1
        regex += "/" + re.escape(segment)
    pattern = re.compile("^" + (regex or "/") + "/?$" if regex else "^/$")
    return PathTemplate(template, tuple(params), pattern, (literal_segments, len(segments)))


def rewrite_params(template: str, render: Callable[[str, bool], str]) -> str:
    """``template`` with each ``{name}`` / ``{name+}`` replaced by ``render(name, greedy)``: how an
    adapter writes a route in its platform's syntax (Azure's catch-all is ``{*name}``)."""
    return _PARAM.sub(lambda m: render(m.group(1), bool(m.group(2))), template)


@dataclass(slots=True)
class Route(Generic[T]):
    """One method and template, and what it leads to."""

    method: str
    template: PathTemplate
    target: T


@dataclass(slots=True)
class RouteMatch(Generic[T]):
    """The outcome of routing: a target with its parameters, or the methods the path allows."""

    target: T | None
    params: dict[str, str] = field(default_factory=dict)
    allowed: list[str] = field(default_factory=list)


class Router(Generic[T]):
    """Matches (method, path) to a target; literal segments win over parameters."""

    def __init__(self) -> None:
        self._routes: list[Route[T]] = []
        # Per request method, the routes that take it, most specific first (made on first use).
        self._by_method: dict[str, list[Route[T]]] = {}

    def add(self, method: str, template: PathTemplate, target: T) -> Route[T] | None:
        """Add a route; returns the existing route if this one duplicates it (same method and shape)."""
        shape = _shape(template)
        for route in self._routes:
            same_method = method == "*" or route.method in (method, "*")
            if same_method and _shape(route.template) == shape:
                return route
        self._routes.append(Route(method, template, target))
        self._routes.sort(key=lambda r: r.template.specificity, reverse=True)
        self._by_method.clear()
        return None

    def match(self, method: str, path: str) -> RouteMatch[T]:
        """Route a request. ``target`` is None for 404 (``allowed`` empty) or 405.

        The first route in specificity order whose template matches and which takes the method
        wins; only the routes that take the method are tried before a miss is explained.
        """
        normalized = normalize_path(path)
        for route in self._taking(method):
            params = route.template.match_normalized(normalized)
            if params is not None:
                return RouteMatch(route.target, params)
        allowed = [r.method for r in self._routes if r.template.match_normalized(normalized) is not None]
        return RouteMatch(None, allowed=sorted(set(allowed)))

    def _taking(self, method: str) -> list[Route[T]]:
        routes = self._by_method.get(method)
        if routes is None:
            routes = [
                r
                for r in self._routes
                if r.method in ("*", method) or (method == "HEAD" and r.method == "GET")
            ]
            if len(self._by_method) < 64:  # methods are a client's choice: keep the known few
                self._by_method[method] = routes
        return routes

    @property
    def routes(self) -> list[Route[T]]:
        """Every route, most specific first."""
        return list(self._routes)


def _shape(template: PathTemplate) -> str:
    return _PARAM.sub("{}", template.template.rstrip("/") or "/")
