"""``azure.functions.HttpRequest``/``HttpResponse`` to and from portafn's HTTP types.

Requests: the host joins repeated headers with ``,`` before the worker sees them, so each header
arrives once; the query keeps every value the library kept; the body is the exact bytes. Responses:
``Set-Cookie`` values each become their own header (the library's response converter turns them
into cookies); other repeated headers are joined with ``, `` (RFC 9110), because the library's
converter keeps one value per name; binary bodies pass as bytes.
"""

from __future__ import annotations

import base64
import json
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
    prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :] or "/"
    headers = Headers([(str(k), str(v)) for k, v in dict(req.headers).items()])
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


def to_azure_response(resp: HttpResponse) -> Any:
    """The library's ``HttpResponse`` for a portafn response (cookies and binary kept)."""
    import azure.functions as func

    out = func.HttpResponse(body=resp.body, status_code=resp.status)
    multi = resp.headers.to_multi()
    for name, values in multi.items():
        if name == "set-cookie":
            continue
        out.headers[name] = ", ".join(values)
    for cookie in [*resp.headers.get_all("set-cookie"), *resp.cookies]:
        out.headers.add("Set-Cookie", cookie)
    return out
