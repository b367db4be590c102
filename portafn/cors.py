"""CORS: one policy declared on the App or a route, applied by portafn on every provider.

The runtime answers preflight requests (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) itself and adds the CORS headers to every answer, portafn's own
problems included, so a browser sees the same thing from ``portafn serve``, Lambda, Azure Functions
and Cloud Functions. The packagers turn the app's policy into the platform's own CORS settings
(HTTP API ``CorsConfiguration``, App Service CORS) where the platform answers first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portafn.errors import RegistrationError
from portafn.problems import problem
from portafn.routing import PathDecodeError

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.http import HttpRequest, HttpResponse

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


@dataclass(frozen=True, slots=True)
class CORS:
    """A CORS policy: which browser origins may call, with which methods and headers.

    ``allow_origins`` are exact origins (``https://shop.example.com``) or ``"*"`` for any.
    ``allow_methods`` and ``allow_headers`` default to ``"*"``: any method a route serves, any
    request header the browser asks for. ``expose_headers`` are response headers scripts may
    read; ``max_age`` is how long (seconds) a browser may cache a preflight answer.
    ``allow_credentials`` lets cookies and ``Authorization`` through; it needs exact origins.
    """

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ("*",)
    allow_headers: tuple[str, ...] = ("*",)
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int | None = 600

    def __init__(
        self,
        allow_origins: Iterable[str],
        *,
        allow_methods: Iterable[str] = ("*",),
        allow_headers: Iterable[str] = ("*",),
        expose_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        max_age: int | None = 600,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "allow_origins", _origins(allow_origins))
        set_(self, "allow_methods", tuple(m.upper() for m in _strings(allow_methods, "allow_methods")))
        set_(self, "allow_headers", tuple(h.lower() for h in _strings(allow_headers, "allow_headers")))
        set_(self, "expose_headers", _strings(expose_headers, "expose_headers"))
        set_(self, "allow_credentials", bool(allow_credentials))
        set_(self, "max_age", max_age)
        self._check()

    def _check(self) -> None:
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                "CORS: allow_credentials needs exact origins; browsers refuse '*' with credentials"
            )
        bad = [m for m in self.allow_methods if m != "*" and m not in _METHODS]
        if bad:
            raise ValueError(f"CORS: unknown methods {bad}")
        if self.max_age is not None and not 0 <= self.max_age <= 86_400:
            raise ValueError("CORS: max_age is 0 to 86400 seconds")

    @property
    def any_origin(self) -> bool:
        """Whether every origin is allowed."""
        return "*" in self.allow_origins

    def allows_origin(self, origin: str) -> bool:
        """Whether ``origin`` may call."""
        return self.any_origin or origin in self.allow_origins

    def allows_method(self, method: str) -> bool:
        """Whether ``method`` may be used cross-origin."""
        return "*" in self.allow_methods or method.upper() in self.allow_methods

    def allows_headers(self, names: list[str]) -> bool:
        """Whether every request header in ``names`` may be sent."""
        return "*" in self.allow_headers or all(n.lower() in self.allow_headers for n in names)


Policy = CORS | None


def _origins(values: Iterable[str]) -> tuple[str, ...]:
    origins = _strings(values, "allow_origins")
    if not origins:
        raise ValueError("CORS: allow_origins needs at least one origin (or '*')")
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise ValueError(f"CORS: {origin!r} is not an origin (scheme://host[:port], no path)")
    return origins


def _strings(values: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = tuple(values)
    for value in out:
        if not isinstance(value, str) or not (value == "*" or _TOKEN.match(value) or "://" in value):
            raise ValueError(f"CORS: {what} holds {value!r}")
    return out


def check_route_policy(fname: str, policy: object) -> CORS | bool | None:
    """A route's ``cors=`` argument, checked: a ``CORS``, ``False`` (none here) or None (the app's)."""
    if policy is None or policy is False or isinstance(policy, CORS):
        return policy
    raise RegistrationError(fname, "cors= takes a portafn.cors.CORS, False or None")


class CorsLayer:
    """The outermost layer of HTTP handling for an app that declares CORS anywhere."""

    __slots__ = ("app", "per_route")

    def __init__(self, app: App) -> None:
        self.app = app
        self.per_route = any("cors" in fn.options for fn in app.functions.values())

    def policy_for(self, method: str, path: str) -> Policy:
        """The policy for a request: its route's own, else the app's."""
        if self.per_route:
            try:
                found = self.app.router.match(method, path)
            except PathDecodeError:
                found = None
            if found is not None and found.target is not None and "cors" in found.target.options:
                chosen = found.target.options["cors"]
                return chosen if isinstance(chosen, CORS) else None
        return self.app.cors

    def around(self, request: HttpRequest, answer: Callable[[], HttpResponse]) -> HttpResponse:
        """Answer a preflight, or run ``answer`` and add the CORS headers its origin earns."""
        origin = request.headers.get("origin")
        if origin is None:
            return answer()
        wanted = request.headers.get("access-control-request-method")
        if request.method == "OPTIONS" and wanted:
            policy = self.policy_for(wanted, request.path)
            if policy is None:
                # The route asked about grants nothing: its preflight gets portafn's plain answer.
                return answer()
            return preflight(policy, request, origin, wanted)
        response = answer()
        policy = self.policy_for(request.method, request.path)
        if policy is not None:
            decorate(policy, origin, response)
        return response


def preflight(policy: CORS, request: HttpRequest, origin: str, method: str) -> HttpResponse:
    """The answer to a preflight: 204 with the grants, or a 403 problem naming what is refused."""
    asked = request.headers.get_list("access-control-request-headers")
    refused = _refusal(policy, origin, method, asked)
    if refused is not None:
        response = problem(403, f"CORS preflight refused: the {refused} is not allowed.")
        _vary(policy, response)
        return response
    from portafn.http import HttpResponse

    response = HttpResponse(status=204)
    _vary(policy, response)
    _allow_origin(policy, origin, response)
    response.headers.set("Access-Control-Allow-Methods", method.upper())
    if asked:
        response.headers.set("Access-Control-Allow-Headers", ", ".join(h.lower() for h in asked))
        response.headers.add("Vary", "Access-Control-Request-Headers")
    if policy.max_age is not None:
        response.headers.set("Access-Control-Max-Age", str(policy.max_age))
    return response


def _refusal(policy: CORS, origin: str, method: str, asked: list[str]) -> str | None:
    if not policy.allows_origin(origin):
        return "origin"
    if not policy.allows_method(method):
        return "method"
    if not all(_TOKEN.match(h) for h in asked) or not policy.allows_headers(asked):
        return "request header"
    return None


def decorate(policy: CORS, origin: str, response: HttpResponse) -> None:
    """Add the CORS headers of an actual (not preflight) response for an allowed ``origin``."""
    _vary(policy, response)
    if not policy.allows_origin(origin):
        return
    _allow_origin(policy, origin, response)
    if policy.expose_headers:
        response.headers.set("Access-Control-Expose-Headers", ", ".join(policy.expose_headers))


def _allow_origin(policy: CORS, origin: str, response: HttpResponse) -> None:
    # The origin is echoed only once it matched the policy; "*" is sent as is without credentials.
    if policy.any_origin and not policy.allow_credentials:
        response.headers.set("Access-Control-Allow-Origin", "*")
    else:
        response.headers.set("Access-Control-Allow-Origin", origin)
    if policy.allow_credentials:
        response.headers.set("Access-Control-Allow-Credentials", "true")


def _vary(policy: CORS, response: HttpResponse) -> None:
    if not policy.any_origin and "origin" not in {v.lower() for v in response.headers.get_list("vary")}:
        response.headers.add("Vary", "Origin")


def native_rules(app: App) -> dict[str, Any] | None:
    """The app-level policy as plain data for the packagers, or None when the app declares none."""
    policy = app.cors
    if policy is None:
        return None
    return {
        "allow_origins": list(policy.allow_origins),
        "allow_methods": list(policy.allow_methods),
        "allow_headers": list(policy.allow_headers),
        "expose_headers": list(policy.expose_headers),
        "allow_credentials": policy.allow_credentials,
        "max_age": policy.max_age,
    }


def has_route_policies(app: App) -> bool:
    """Whether any route declares a policy of its own (which platform CORS cannot express)."""
    return any("cors" in fn.options for fn in app.functions.values())


def preflight_owners(app: App) -> dict[str, str]:
    """For platforms that route by method: path template to the one function that should also
    take ``OPTIONS`` there so portafn can answer preflights (the first route with a policy).

    Templates already served by an ``OPTIONS`` or any-method (``*``) route need no owner.
    """
    from portafn.triggers import HttpTrigger

    routes = [(fn, fn.trigger) for fn in app.functions.values() if isinstance(fn.trigger, HttpTrigger)]
    covered = {t.path.template for _, t in routes if t.method in ("*", "OPTIONS")}
    owners: dict[str, str] = {}
    for fn, trigger in routes:
        template = trigger.path.template
        policy = fn.options.get("cors", app.cors)
        if isinstance(policy, CORS) and template not in covered and template not in owners:
            owners[template] = fn.name
    return owners
