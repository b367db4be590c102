"""HTTP events from API Gateway (REST v1, HTTP API v2), Lambda function URLs and ALB, both ways.

Each source expects its own response shape:

- REST API (payload 1.0): ``multiValueHeaders`` (so repeated headers and several Set-Cookie survive);
- HTTP API and function URLs (payload 2.0): single ``headers`` joined with commas, and ``cookies``;
- ALB: ``statusDescription`` ("200 OK"), and ``multiValueHeaders`` exactly when the target group
  has multi-value headers on (the request then carries ``multiValueHeaders`` too).

Binary bodies travel base64-encoded with ``isBase64Encoded`` set, in both directions.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal, TypeGuard
from urllib.parse import quote, unquote, unquote_plus

from portafn.errors import EventFormatError
from portafn.http import Headers, HttpRequest, HttpResponse

HttpSource = Literal["apigw-v1", "apigw-v2", "alb"]


def _is_map(value: object) -> TypeGuard[Mapping[str, Any]]:
    # JSON events are dicts: the exact-type test spares the ABC check on every request.
    return type(value) is dict or isinstance(value, Mapping)


def http_source(event: Mapping[str, Any]) -> HttpSource | None:
    """Which HTTP integration sent ``event``, or None when it is not an HTTP event."""
    ctx = event.get("requestContext")
    if not _is_map(ctx):
        return None
    if "elb" in ctx:
        return "alb"
    if event.get("version") == "2.0" or isinstance(ctx.get("http"), Mapping):
        return "apigw-v2"  # function URLs use the same 2.0 payload
    if "httpMethod" in event:
        return "apigw-v1"
    return None


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise EventFormatError("aws", "body", "must be a string or null", keys=event.keys())
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise EventFormatError(
                "aws", "body", "isBase64Encoded is set but the body is not base64"
            ) from None
    return body.encode("utf-8")


def _mapping(event: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = event.get(name)
    if value is None:
        return {}
    if not _is_map(value):
        raise EventFormatError("aws", name, "must be an object or null", keys=event.keys())
    return value


def to_request(event: Mapping[str, Any], source: HttpSource) -> HttpRequest:
    """The neutral request for an HTTP event of ``source``."""
    request = _v2_request(event) if source == "apigw-v2" else _v1_request(event, alb=source == "alb")
    request.principal = principal(event)
    if request.principal is not None:
        request.principal_claims = authorizer_claims(event)
    return request


def _v2_request(event: Mapping[str, Any]) -> HttpRequest:
    ctx = event["requestContext"]
    http = ctx.get("http")
    if not _is_map(http) or "method" not in http:
        raise EventFormatError("aws", "requestContext.http.method", "missing", keys=event.keys())
    headers = Headers.from_pairs([(str(k), str(v)) for k, v in _mapping(event, "headers").items()])
    cookies_list = event.get("cookies") or []
    cookies: dict[str, str] = {}
    for c in cookies_list:
        name, sep, value = str(c).partition("=")
        if sep:
            cookies[name.strip()] = value
    if cookies_list and "cookie" not in headers:
        # Payload 2.0 moves cookies out of the headers; put them back for code reading the header.
        headers.set("cookie", "; ".join(str(c) for c in cookies_list))
    raw_path = event.get("rawPath") or http.get("path") or "/"
    return HttpRequest(
        str(http["method"]),
        str(raw_path),
        query=str(event.get("rawQueryString") or ""),
        headers=headers,
        body=_body(event),
        client=http.get("sourceIp"),
        cookies=cookies,
        raw=event,
    )


def _v1_request(event: Mapping[str, Any], *, alb: bool) -> HttpRequest:
    if "httpMethod" not in event:
        raise EventFormatError("aws", "httpMethod", "missing", keys=event.keys())
    multi_headers = _mapping(event, "multiValueHeaders")
    if multi_headers:
        headers = Headers({str(k): [str(x) for x in (v or [])] for k, v in multi_headers.items()})
    else:
        headers = Headers({str(k): str(v) for k, v in _mapping(event, "headers").items()})
    multi_query = _mapping(event, "multiValueQueryStringParameters")
    if multi_query:
        query = {str(k): [str(x) for x in (v or [])] for k, v in multi_query.items()}
    else:
        query = {str(k): [str(v)] for k, v in _mapping(event, "queryStringParameters").items()}
    if alb:
        # ALB passes query strings as the client sent them, still percent-encoded; API Gateway
        # decodes them. Decode here so handlers see the same values everywhere.
        query = {unquote_plus(k): [unquote_plus(v) for v in vs] for k, vs in query.items()}
    ctx = _mapping(event, "requestContext")
    identity = ctx.get("identity") if isinstance(ctx.get("identity"), Mapping) else {}
    client = identity.get("sourceIp") if isinstance(identity, Mapping) else None
    if client is None and alb:
        forwarded = headers.get("x-forwarded-for")
        client = forwarded.split(",")[0].strip() if forwarded else None
    return HttpRequest(
        str(event["httpMethod"]),
        str(event.get("path") or "/") if alb else _rest_path(event),
        query=query,
        headers=headers,
        body=_body(event),
        client=client,
        raw=event,
    )


_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_TEMPLATE_PARAM = re.compile(r"\{([^{}/]+?)(\+?)\}")


def _rest_path(event: Mapping[str, Any]) -> str:
    """The raw path of a REST API (payload 1.0) event, as the client sent it.

    API Gateway's REST API hands over ``path`` already percent-decoded, so ``%2F`` and a real
    ``/`` look alike there. Its ``resource`` template and decoded ``pathParameters`` still tell
    them apart: rebuild the path from those (each parameter re-encoded, a greedy ``{name+}``
    keeping its slashes), and otherwise re-encode ``path``.
    """
    path = str(event.get("path") or "/")
    resource = event.get("resource")
    params = event.get("pathParameters")
    if isinstance(resource, str) and "{" in resource and isinstance(params, Mapping):

        def one(m: re.Match[str]) -> str:
            value = params.get(m.group(1) + m.group(2)) or params.get(m.group(1))
            if not isinstance(value, str):
                raise KeyError(m.group(1))
            return quote(value, safe="/" if m.group(2) else "")

        try:
            rebuilt = _TEMPLATE_PARAM.sub(one, resource)
        except KeyError:
            rebuilt = None  # a template the parameters do not fill: fall back to the decoded path
        # Trust the rebuild only when it is the same path (a stage or base-path mapping is not).
        if rebuilt is not None and unquote(rebuilt) == path:
            return rebuilt
    return quote(path, safe=_PATH_SAFE)


def principal(event: Mapping[str, Any]) -> str | None:
    """Who API Gateway's authorizer says the caller is: JWT ``sub``, Lambda or IAM principal."""
    ctx = event.get("requestContext")
    auth = ctx.get("authorizer") if _is_map(ctx) else None
    if auth is None or not _is_map(auth):
        return None
    jwt = auth.get("jwt")
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else auth.get("claims")
    iam = auth.get("iam")
    for candidate in (
        claims.get("sub") if isinstance(claims, Mapping) else None,
        auth.get("principalId"),
        iam.get("userArn") if isinstance(iam, Mapping) else None,
        (auth.get("lambda") or {}).get("principalId") if isinstance(auth.get("lambda"), Mapping) else None,
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def authorizer_claims(event: Mapping[str, Any]) -> dict[str, Any]:
    """What API Gateway's authorizer said about the caller: JWT claims (with the HTTP API's
    ``scopes`` as ``scp``) or a Lambda authorizer's context."""
    ctx = event.get("requestContext")
    auth = ctx.get("authorizer") if isinstance(ctx, Mapping) else None
    if not isinstance(auth, Mapping):
        return {}
    jwt = auth.get("jwt")
    if isinstance(jwt, Mapping):
        claims = dict(jwt.get("claims") or {})
        if isinstance(jwt.get("scopes"), list):
            claims.setdefault("scp", jwt["scopes"])
        return claims
    for key in ("claims", "lambda"):
        if isinstance(auth.get(key), Mapping):
            return dict(auth[key])
    return {}


def _encode_body(response: HttpResponse) -> tuple[str, bool]:
    if response.is_binary:
        return base64.b64encode(response.body).decode("ascii"), True
    return response.body.decode("utf-8", errors="replace"), False


def from_response(response: HttpResponse, source: HttpSource, event: Mapping[str, Any]) -> dict[str, Any]:
    """The response in the shape ``source`` expects."""
    body, b64 = _encode_body(response)
    spelled, cookies = _spelled(response)
    if source == "apigw-v2":
        out: dict[str, Any] = {
            "statusCode": response.status,
            "headers": {name: ",".join(values) for name, values in spelled.items()},
            "body": body,
            "isBase64Encoded": b64,
        }
        if cookies:
            out["cookies"] = cookies
        return out
    multi = spelled
    if cookies:
        multi["Set-Cookie"] = cookies
    if source == "apigw-v1":
        return {
            "statusCode": response.status,
            "multiValueHeaders": multi,
            "body": body,
            "isBase64Encoded": b64,
        }
    out = {
        "statusCode": response.status,
        "statusDescription": status_description(response.status),
        "body": body,
        "isBase64Encoded": b64,
    }
    if "multiValueHeaders" in event:
        out["multiValueHeaders"] = multi
    else:
        # Single-value mode carries one value per name: join lists (RFC 9110 allows it) except
        # Set-Cookie, which cannot be joined, so the last cookie wins as ALB documents.
        single = {name: ",".join(values) for name, values in multi.items() if name != "Set-Cookie"}
        if cookies:
            single["Set-Cookie"] = cookies[-1]
        out["headers"] = single
    return out


def _spelled(response: HttpResponse) -> tuple[dict[str, list[str]], list[str]]:
    """The response's headers by the spelling each name was first set with, every value kept,
    and apart from them its cookies: ``cookies`` first, then any ``Set-Cookie`` header values."""
    out: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    cookies = list(response.cookies)
    for name, value in response.headers.items():
        lower = name.lower()
        if lower == "set-cookie":
            cookies.append(value)
            continue
        key = spelling.setdefault(lower, name)
        out.setdefault(key, []).append(value)
    return out, cookies


def status_description(status: int) -> str:
    """ALB's ``statusDescription``: the code and its reason phrase, as in ``200 OK``."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)
