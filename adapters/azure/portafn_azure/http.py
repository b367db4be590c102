"""``azure.functions.HttpRequest``/``HttpResponse`` to and from portafn's HTTP types.

Requests: the host joins repeated headers with ``,`` before the worker sees them, so each header
arrives once; the query keeps every value the library kept; the body is the exact bytes. Responses:
``Set-Cookie`` values each become their own header (the library's response converter turns them
into cookies); other repeated headers are joined with ``, `` (RFC 9110), because the library's
converter keeps one value per name; binary bodies pass as bytes.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from portafn.errors import EventFormatError
from portafn.http import Headers, HttpRequest, HttpResponse, parse_query


def to_request(req: Any, route_prefix: str = "api") -> HttpRequest:
    """A portafn request from the library's ``HttpRequest``; ``route_prefix`` is host.json's."""
    url = getattr(req, "url", None)
    method = getattr(req, "method", None)
    if not isinstance(url, str) or not isinstance(method, str):
        raise EventFormatError("azure", "HttpRequest", "needs a method and a url", keys=dir(req))
    parts = urlsplit(url)
    path = parts.path or "/"
    prefix = _prefix(route_prefix)
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :] or "/"
    headers = Headers.from_pairs([(str(k), str(v)) for k, v in _header_items(req.headers)])
    # The URL keeps repeated query keys; the library's ``params`` keeps only one value per key.
    query = parse_query(parts.query) if parts.query else {k: [str(v)] for k, v in dict(req.params).items()}
    body = req.get_body() or b""
    client = headers.get("x-forwarded-for")
    request = HttpRequest(
        method,
        path,
        query=query,
        headers=headers,
        body=body,
        client=client.split(",")[0].strip() if client else None,
        path_params={str(k): str(v) for k, v in dict(getattr(req, "route_params", {}) or {}).items()},
        # App Service authentication sets this after it verified the caller; clients cannot.
        principal=headers.get("x-ms-client-principal-id"),
        raw=req,
    )
    if request.principal:
        request.principal_claims = easy_auth_claims(headers.get("x-ms-client-principal"))
    return request


def easy_auth_claims(encoded: str | None) -> dict[str, Any]:
    """The claims App Service authentication passes in ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON
    ``{"claims": [{"typ", "val"}], "role_typ", ...}``): each type to its value (a list when
    repeated), and the role claims as ``roles``. Unreadable input gives no claims."""
    if not encoded:
        return {}
    try:
        decoded = json.loads(base64.b64decode(encoded, validate=False))
    except (ValueError, TypeError):
        return {}
    items = decoded.get("claims") if isinstance(decoded, dict) else None
    if not isinstance(items, list):
        return {}
    role_type = decoded.get("role_typ") or "roles"
    claims: dict[str, Any] = {}
    roles: list[str] = []
    for item in items:
        typ, val = (item.get("typ"), item.get("val")) if isinstance(item, dict) else (None, None)
        if not isinstance(typ, str) or not isinstance(val, str):
            continue
        if typ in (role_type, "roles"):
            roles.append(val)
            continue
        previous = claims.get(typ)
        claims[typ] = (
            val if previous is None else [*(previous if isinstance(previous, list) else [previous]), val]
        )
    if roles:
        claims["roles"] = roles
    return claims


@functools.lru_cache(maxsize=8)
def _prefix(route_prefix: str) -> str:
    """host.json's route prefix as a path prefix (``api`` is ``/api``; empty is none)."""
    return "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""


def _header_items(headers: Any) -> Iterable[tuple[Any, Any]]:
    """The request's header pairs. The library's headers are a ``Mapping`` over a plain dict
    whose every read folds case again; read that dict where it is there."""
    inner = getattr(headers, "__http_headers__", None)
    return inner.items() if isinstance(inner, dict) else dict(headers).items()


def to_azure_response(resp: HttpResponse) -> Any:
    """The library's ``HttpResponse`` for a portafn response (cookies and binary kept)."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in resp.headers.items():
        lower = name.lower()
        if lower == "set-cookie":
            cookies.append(value)
        else:
            prior = joined.get(lower)
            joined[lower] = value if prior is None else prior + ", " + value
    # Headers given to the constructor are added once each, without the search a set does.
    out = _func().HttpResponse(body=resp.body, status_code=resp.status, headers=joined)
    for cookie in [*cookies, *resp.cookies]:
        out.headers.add("Set-Cookie", cookie)
    return out


@functools.cache
def _func() -> Any:
    """``azure.functions``, imported on first use (not when this module is)."""
    import azure.functions

    return azure.functions
