"""RFC 9457 problem details as HTTP responses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from portafn.http import HttpResponse

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str | None = None, **extensions: Any) -> HttpResponse:
    """A ``application/problem+json`` response with the standard title for ``status``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extensions)
    return HttpResponse(body, status=status, content_type=PROBLEM_JSON)
