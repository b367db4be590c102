"""The principal, the refusals and the base class every authenticator shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portafn.problems import problem

if TYPE_CHECKING:
    from portafn.http import HttpRequest, HttpResponse


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
