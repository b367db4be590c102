"""Auth declared on the App or a route: who the caller is, in ``ctx.principal``.

An authenticator turns a request into a ``Principal`` or refuses it: ``APIKey`` (a key header),
``BearerJWT`` (a bearer token verified against a JWKS, with PyJWT: ``portafn[jwt]``) and
``PlatformIdentity`` (the caller the provider's own authentication already verified). The runtime
runs the route's authenticator after routing and before binding; a refusal is a 401 (no or bad
credentials) or 403 (known caller, missing scope or role) problem+json answer.
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portafn.problems import problem

if TYPE_CHECKING:
    from portafn.http import HttpRequest, HttpResponse

__all__ = [
    "APIKey",
    "AuthError",
    "Authenticator",
    "BearerJWT",
    "Forbidden",
    "PlatformIdentity",
    "Principal",
    "Unauthenticated",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: ``id`` (a JWT's ``sub``, an API key's owner, the platform's principal), the
    ``scheme`` that said so, the token's ``claims`` and the ``scopes`` and ``roles`` they grant."""

    id: str
    scheme: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()


class AuthError(Exception):
    """A refusal: its ``status`` (401 or 403) and a ``detail`` that names no secret."""

    status = 401

    def __init__(self, detail: str, *, challenge: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.challenge = challenge

    def response(self) -> HttpResponse:
        """The problem+json answer (with ``WWW-Authenticate`` on a 401 that has a challenge)."""
        resp = problem(self.status, self.detail)
        if self.challenge:
            resp.headers.set("WWW-Authenticate", self.challenge)
        return resp


class Unauthenticated(AuthError):
    """No credentials, or credentials that do not verify: 401."""

    status = 401


class Forbidden(AuthError):
    """A known caller without the scope or role the route requires: 403."""

    status = 403


class AuthUnavailable(AuthError):
    """The key set that verifies tokens cannot be fetched: 503, the caller may retry."""

    status = 503


class Authenticator(ABC):
    """Identifies the caller of a request; ``scopes`` and ``roles`` are what a route requires."""

    challenge: str | None = None

    def __init__(self, *, scopes: Iterable[str] = (), roles: Iterable[str] = ()) -> None:
        self.scopes = frozenset(scopes)
        self.roles = frozenset(roles)

    @abstractmethod
    def identify(self, request: HttpRequest) -> Principal:
        """The caller, or ``Unauthenticated``."""

    def __call__(self, request: HttpRequest) -> Principal:
        """Identify the caller, then check the required scopes and roles."""
        principal = self.identify(request)
        if not self.scopes <= principal.scopes:
            raise Forbidden(f"This needs the scopes: {', '.join(sorted(self.scopes - principal.scopes))}.")
        if self.roles and not self.roles & principal.roles:
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(self.roles))}.")
        return principal


class APIKey(Authenticator):
    """An API key in a header (``X-API-Key`` by default).

    ``keys`` maps each key to the id of its owner, or is a function from a key to that id (None
    when unknown). A mapping is compared in constant time against every key.
    """

    def __init__(
        self,
        keys: Mapping[str, str] | Callable[[str], str | None],
        *,
        header: str = "X-API-Key",
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
    ) -> None:
        super().__init__(scopes=scopes, roles=roles)
        self.header = header
        self._lookup = keys if callable(keys) else _constant_time_lookup(dict(keys))

    def identify(self, request: HttpRequest) -> Principal:
        """The key's owner, or ``Unauthenticated`` naming the header (never the key)."""
        given = request.headers.get(self.header)
        if not given:
            raise Unauthenticated(f"The {self.header} header is missing.")
        owner = self._lookup(given)
        if owner is None:
            raise Unauthenticated(f"The {self.header} header holds no valid key.")
        return Principal(id=owner, scheme="api_key")


def _constant_time_lookup(keys: dict[str, str]) -> Callable[[str], str | None]:
    encoded = [(k.encode(), owner) for k, owner in keys.items()]

    def lookup(given: str) -> str | None:
        candidate = given.encode()
        found: str | None = None
        for key, owner in encoded:
            # Every key is compared, so the time taken says nothing about which one nearly matched.
            if hmac.compare_digest(key, candidate):
                found = owner
        return found

    return lookup


class PlatformIdentity(Authenticator):
    """The caller the provider's own authentication verified before portafn ran: API Gateway's
    authorizer (JWT ``sub``, Lambda or IAM principal) or Azure App Service authentication (Easy
    Auth). The adapters read it only from what the platform sets; ``portafn serve`` sets none."""

    def identify(self, request: HttpRequest) -> Principal:
        """``request.principal`` as a ``Principal``, or ``Unauthenticated``."""
        if not request.principal:
            raise Unauthenticated("No caller was authenticated by the platform.")
        return Principal(id=request.principal, scheme="platform")


def __getattr__(name: str) -> Any:
    # BearerJWT needs PyJWT (portafn[jwt]); importing portafn.auth must not.
    if name == "BearerJWT":
        from portafn.auth.bearer import BearerJWT

        return BearerJWT
    raise AttributeError(name)
