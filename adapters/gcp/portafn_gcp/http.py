"""flask requests into ``HttpRequest`` and ``HttpResponse`` back into flask responses.

functions-framework hands an HTTP target the ``flask.Request``: repeated query keys, cookies and a
binary body arrive as sent; repeated request headers arrive joined with ", " (WSGI merges them,
as RFC 9110 allows). Responses keep repeated headers and every ``Set-Cookie`` separately.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from portafn.http import Headers, HttpRequest, HttpResponse

if TYPE_CHECKING:
    import flask


def to_request(request: flask.Request) -> HttpRequest:
    """The neutral request for a flask request (``raw`` is the flask request)."""
    query: dict[str, list[str]] = {k: request.args.getlist(k) for k in request.args}
    headers = Headers(list(request.headers.items()))
    return HttpRequest(
        request.method,
        raw_path(request),
        query=query,
        headers=headers,
        body=request.get_data(cache=True),
        client=request.remote_addr,
        raw=request,
    )


_RAW_SAFE = "/%!$&'()*+,;=:@-._~"


def raw_path(request: flask.Request) -> str:
    """The path as the client sent it, percent-encoding kept.

    WSGI decodes ``PATH_INFO``, which would turn ``%2F`` into a path separator. The servers
    functions-framework runs on (gunicorn, werkzeug) keep the request target in ``RAW_URI`` /
    ``REQUEST_URI``; where neither is set, the decoded path is re-encoded.
    """
    for name in ("RAW_URI", "REQUEST_URI"):
        target = request.environ.get(name)
        if isinstance(target, str) and target:
            path = urlsplit(target).path
            if path.startswith("/"):
                # WSGI strings are latin-1 decoded bytes; re-encode any raw non-ASCII byte.
                return path if path.isascii() else quote(path.encode("latin-1"), safe=_RAW_SAFE)
    return quote(request.path, safe=_RAW_SAFE)


def to_flask(response: HttpResponse) -> flask.Response:
    """A flask response for a neutral one: every header value and every cookie kept."""
    import flask

    out = flask.Response(response.body, status=response.status)
    # flask sets a default Content-Type; the response's own headers replace it, repeats kept.
    out.headers.remove("Content-Type")
    for name, value in response.headers.items():
        out.headers.add(name, value)
    for cookie in response.cookies:
        out.headers.add("Set-Cookie", cookie)
    return out
