"""flask requests into ``HttpRequest`` and ``HttpResponse`` back into flask responses.

functions-framework hands an HTTP target the ``flask.Request``: repeated query keys, cookies and a
binary body arrive as sent; repeated request headers arrive joined with ", " (WSGI merges them,
as RFC 9110 allows). Responses keep repeated headers and every ``Set-Cookie`` separately.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from portafn.http import Headers, HttpRequest, HttpResponse

if TYPE_CHECKING:
    import flask


def to_request(request: flask.Request) -> HttpRequest:
    """The neutral request for a flask request (``raw`` is the flask request)."""
    query: dict[str, list[str]] = {k: request.args.getlist(k) for k in request.args}
    headers = Headers(list(request.headers.items()))
    return HttpRequest(
        request.method,
        request.path,
        query=query,
        headers=headers,
        body=request.get_data(cache=True),
        client=request.remote_addr,
        raw=request,
    )


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
