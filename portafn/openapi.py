"""OpenAPI 3.1 from an app's routes and pydantic models.

Everything comes from what registration already decided: the route templates, how the binder
fills each parameter (path, query, header, body), the handler's return annotation, its
docstring and its authenticator. ``portafn openapi MODULE:APP`` writes the document;
``portafn serve`` serves it at ``GET /openapi.json``; deployed packages serve it only when the
app calls ``enable_openapi()``.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from portafn.binding import HttpBinder, Param
from portafn.http import HttpResponse
from portafn.triggers import HttpTrigger

if TYPE_CHECKING:
    from pydantic.json_schema import JsonSchemaMode

    from portafn.app import App, Function

OPENAPI_VERSION = "3.1.0"
DEFAULT_PATH = "/openapi.json"
_REF = "#/components/schemas/{model}"
_GREEDY = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\+\}")
_EVERY_METHOD = ("get", "put", "post", "delete", "patch", "head", "options")
_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
}


class _Schemas:
    """Collects every type's JSON schema, with models shared under ``components.schemas``."""

    def __init__(self) -> None:
        self._wanted: list[tuple[int, JsonSchemaMode, TypeAdapter[Any]]] = []
        self._slots: list[tuple[dict[str, Any], str]] = []

    def ref(self, adapter: TypeAdapter[Any], mode: JsonSchemaMode, into: dict[str, Any], key: str) -> None:
        """Fill ``into[key]`` with ``adapter``'s schema once every schema is generated."""
        self._wanted.append((len(self._wanted), mode, adapter))
        self._slots.append((into, key))

    def finish(self) -> dict[str, Any]:
        """Generate the schemas, fill every slot and return the shared definitions."""
        if not self._wanted:
            return {}
        by_key, top = TypeAdapter.json_schemas(self._wanted, ref_template=_REF)
        for (key, mode, _), (into, slot) in zip(self._wanted, self._slots, strict=True):
            into[slot] = by_key[(key, mode)]
        return dict(top.get("$defs", {}))


def build(app: App, *, title: str | None = None, version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s HTTP routes."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    security_schemes: dict[str, Any] = {}
    for fn in app.by_kind("http"):
        trigger = fn.trigger
        assert isinstance(trigger, HttpTrigger)
        path = _GREEDY.sub(r"{\1}", trigger.path.template)
        operation = _operation(fn, schemas, security_schemes)
        methods = _EVERY_METHOD if trigger.method == "*" else (trigger.method.lower(),)
        for method in methods:
            paths.setdefault(path, {})[method] = (
                operation if len(methods) == 1 else {**operation, "operationId": f"{fn.name}_{method}"}
            )
    components: dict[str, Any] = {"schemas": {**schemas.finish(), "Problem": _PROBLEM}}
    if security_schemes:
        components["securitySchemes"] = security_schemes
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title or app.name, "version": version},
        "paths": paths,
        "components": components,
    }


def _operation(fn: Function, schemas: _Schemas, security: dict[str, Any]) -> dict[str, Any]:
    binder = fn.binder
    assert isinstance(binder, HttpBinder)
    op: dict[str, Any] = {"operationId": fn.name}
    doc = inspect.getdoc(fn.handler)
    if doc:
        summary, _, rest = doc.partition("\n")
        op["summary"] = summary.strip()
        if rest.strip():
            op["description"] = rest.strip()
    parameters = [_parameter(p, schemas) for p in binder.params if p.source in ("path", "query", "header")]
    if parameters:
        op["parameters"] = parameters
    body = next((p for p in binder.params if p.source == "body"), None)
    if body is not None:
        op["requestBody"] = _request_body(body, schemas)
    op["responses"] = _responses(fn, schemas)
    if (requirement := _security(fn, security)) is not None:
        op["security"] = [requirement]
    return op


def _parameter(p: Param, schemas: _Schemas) -> dict[str, Any]:
    where = "path" if p.source == "path" else p.source
    out: dict[str, Any] = {
        "name": p.header if p.source == "header" else p.name,
        "in": where,
        "required": p.source == "path" or p.default is inspect.Parameter.empty,
    }
    if p.many:
        out["explode"] = True
    assert p.adapter is not None
    schemas.ref(p.adapter, "validation", out, "schema")
    return out


def _request_body(p: Param, schemas: _Schemas) -> dict[str, Any]:
    media = {"bytes": "application/octet-stream", "str": "text/plain"}.get(p.body_kind, "application/json")
    content: dict[str, Any] = {}
    if p.body_kind in ("bytes", "str"):
        content["schema"] = {"type": "string", **({"format": "binary"} if p.body_kind == "bytes" else {})}
    else:
        assert p.adapter is not None
        schemas.ref(p.adapter, "validation", content, "schema")
    return {"required": p.default is inspect.Parameter.empty, "content": {media: content}}


def _responses(fn: Function, schemas: _Schemas) -> dict[str, Any]:
    problem = {
        "description": "A problem (RFC 9457): invalid input, not found, conflict, ...",
        "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}},
    }
    returned = _return_type(fn)
    if returned is None:
        return {"204": {"description": "No content."}, "default": problem}
    if returned is HttpResponse or returned is Any:
        return {"200": {"description": "The handler's response."}, "default": problem}
    content: dict[str, Any] = {}
    schemas.ref(TypeAdapter(returned), "serialization", content, "schema")
    ok = {"description": "Success.", "content": {"application/json": content}}
    return {"200": ok, "default": problem}


def _return_type(fn: Function) -> Any:
    try:
        hints = typing.get_type_hints(fn.handler)
    except Exception:
        return Any  # annotations the binder did not need may not resolve; describe it loosely
    returned = hints.get("return", Any)
    if typing.get_origin(returned) in (typing.Awaitable, typing.Coroutine):
        returned = typing.get_args(returned)[-1]
    if returned is type(None):
        return None
    if isinstance(returned, type) and issubclass(returned, HttpResponse):
        return HttpResponse
    return returned


def _security(fn: Function, schemes: dict[str, Any]) -> dict[str, list[str]] | None:
    from portafn.auth.apikey import APIKey
    from portafn.auth.platform import PlatformIdentity

    guard = fn.options.get("auth")
    if guard is None:
        return None
    header = getattr(guard, "header", None)  # an API key, or a token in its own header
    if isinstance(guard, APIKey) or isinstance(header, str):
        name = f"apiKey_{header}".replace("-", "_")
        schemes[name] = {"type": "apiKey", "in": "header", "name": header}
        return {name: []}
    if isinstance(guard, PlatformIdentity):
        schemes["platform"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "The caller the platform's own authentication verified.",
        }
        return {"platform": []}
    schemes["bearer"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    return {"bearer": sorted(getattr(guard, "scopes", ()))}


def serve_document(app: App, path: str = DEFAULT_PATH, **info: Any) -> None:
    """Register ``GET path`` answering the app's document (made on first request, then kept)."""
    from portafn.lazy import Lazy

    document: Lazy[bytes] = Lazy(lambda: json.dumps(build(app, **info)).encode())

    def openapi() -> HttpResponse:
        """The OpenAPI document of this app."""
        return HttpResponse(document.get(), content_type="application/json")

    app.http("GET", path, name="openapi", auth=False)(openapi)
