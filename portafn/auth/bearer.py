"""``BearerJWT``: bearer tokens verified with PyJWT against a JWKS that is fetched once and kept.

Install with ``pip install portafn[jwt]``. The key set is fetched on first use, kept for
``cache_seconds`` and fetched again early when a token names a key id it does not hold (a key
rotation), so verifying a token costs no request on the warm path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from portafn.auth.base import Authenticator, AuthUnavailable, Principal, Unauthenticated
from portafn.lazy import Lazy

if TYPE_CHECKING:
    from jwt import PyJWKClient

    from portafn.http import HttpRequest


class BearerJWT(Authenticator):
    """``Authorization: Bearer <JWT>`` verified for signature, ``exp``/``nbf``, ``iss`` and ``aud``.

    ``jwks_url`` is the issuer's key set (or a function returning it, read on first use, for
    settings that come from the environment). The principal's id is ``sub``; scopes come from
    ``scope`` (space-separated) or ``scp``; roles from ``roles`` or ``groups``. ``native=True``
    also asks the packager for the platform's own JWT authorizer (the HTTP API's on AWS).
    """

    challenge = "Bearer"

    def __init__(
        self,
        jwks_url: str | Callable[[], str],
        *,
        issuer: str,
        audience: str | Iterable[str],
        algorithms: Iterable[str] = ("RS256",),
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        leeway: float = 30.0,
        cache_seconds: float = 300.0,
        timeout: float = 5.0,
        native: bool = False,
    ) -> None:
        super().__init__(scopes=scopes, roles=roles)
        try:
            # Imported when declared, not first used: a missing PyJWT fails at import time, and
            # packaging (which ships what the app imports) carries it.
            import jwt  # noqa: F401
        except ImportError:
            raise ImportError("BearerJWT needs PyJWT: pip install 'portafn[jwt]'") from None
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = [audience] if isinstance(audience, str) else list(audience)
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self.native = native
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._client: Lazy[PyJWKClient] = Lazy(self._make_client)

    def _make_client(self) -> PyJWKClient:
        from jwt import PyJWKClient

        url = self.jwks_url() if callable(self.jwks_url) else self.jwks_url
        return PyJWKClient(url, cache_jwk_set=True, lifespan=self._cache_seconds, timeout=self._timeout)

    def identify(self, request: HttpRequest) -> Principal:
        """The token's subject, or ``Unauthenticated`` saying why (never echoing the token)."""
        import jwt

        token = _bearer(request)
        try:
            key = self._client.get().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError:
            raise AuthUnavailable("The token's key set cannot be fetched; try again.") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Unauthenticated(
                f"The bearer token is not valid ({_reason(exc)}).", challenge="Bearer"
            ) from None
        return Principal(
            id=str(claims["sub"]),
            scheme="jwt",
            claims=claims,
            scopes=frozenset(_scopes(claims)),
            roles=frozenset(_strings(claims.get("roles")) + _strings(claims.get("groups"))),
        )


def _bearer(request: HttpRequest) -> str:
    value = request.headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A bearer token is required.", challenge="Bearer")
    return token.strip()


def _reason(exc: Exception) -> str:
    # PyJWT's class names are fixed words (ExpiredSignatureError, InvalidAudienceError): safe to show.
    return type(exc).__name__.removesuffix("Error")


def _scopes(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    return _strings(claims.get("scp"))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
