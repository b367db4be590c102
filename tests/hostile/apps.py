"""The app the hostile-input tests send requests to, on every path."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated, Any

from pydantic import Field

from portafn import App, HttpRequest, HttpResponse
from portafn.http import Header

app = App("hostile")
ECHO_HEADERS = ("x-h-a", "x-h-b")


def seen(value: str, request: HttpRequest) -> dict[str, Any]:
    """What the handler saw, in the neutral model, as JSON."""
    return {
        "method": request.method,
        "value": value,
        "query": request.query,
        "headers": {name: request.headers.get_list(name) for name in ECHO_HEADERS},
        "cookies": request.cookies,
        "body_len": len(request.body),
        "body_sha": hashlib.sha256(request.body).hexdigest(),
    }


@app.http("GET", "/seg/{value}")
def get_seg(value: str, request: HttpRequest) -> HttpResponse:
    """Echo what was seen as the JSON body."""
    return HttpResponse(seen(value, request), headers={"X-Seen-Values": str(len(request.query))})


@app.http("POST", "/seg/{value}")
def post_seg(value: str, request: HttpRequest) -> HttpResponse:
    """Echo the body as binary, and what was seen in a header."""
    text = json.dumps(seen(value, request), sort_keys=True).encode()
    return HttpResponse(
        request.body,
        headers={"X-Seen": base64.b64encode(text).decode("ascii")},
        cookies=["seen=1; Path=/; HttpOnly"],
    )


@app.http("GET", "/files/{rest+}")
def files(rest: str) -> dict[str, str]:
    """A greedy parameter: slashes, real or encoded, stay inside it."""
    return {"rest": rest}


@app.http("GET", "/inject")
def inject(value: str) -> HttpResponse:
    """Copies a client value into a response header, as careless handlers do."""
    return HttpResponse("ok", headers={"X-Echo": value})


@app.http("GET", "/inject-cookie")
def inject_cookie(value: str) -> HttpResponse:
    """Copies a client value into a cookie."""
    return HttpResponse("ok", cookies=[f"v={value}"])


@app.http("GET", "/items")
def items(
    limit: Annotated[int, Field(ge=1, le=100)] = 10,
    code: Annotated[str, Field(pattern=r"^[a-z]{3}$")] = "abc",
    page: int = Field(1, ge=1),
) -> dict[str, Any]:
    """Constrained query parameters."""
    return {"limit": limit, "code": code, "page": page}


@app.http("GET", "/items/{item_id}")
def item(item_id: Annotated[int, Field(ge=1)]) -> dict[str, int]:
    """A constrained path parameter."""
    return {"item_id": item_id}


@app.http("GET", "/tenant")
def tenant(
    x_tenant: Annotated[str, Header(), Field(pattern=r"^t-[0-9]{1,6}$")],
    accept: Annotated[list[str], Header(), Field(max_length=3)] = [],  # noqa: B006 - never mutated
    x_page_size: Annotated[int, Header(), Field(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    """Constrained header parameters."""
    return {"tenant": x_tenant, "accept": accept, "page_size": x_page_size}
