"""``SignedJWT``: the verification every JWT-based authenticator shares.

A subclass says where the token is (``token``) and what its principal is called (``scheme``); this
class verifies the signature against the issuer's ``KeySet`` with only the configured algorithms
(so a token signed HS256 with the public key as secret is refused), ``exp``/``nbf`` with
``leeway``, the issuer (one of several) and the audience, and maps the claims to a ``Principal``.
PyJWT is imported when an authenticator is declared, never by ``import portafn.auth``.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from portafn.auth.base import Authenticator, AuthUnavailable, Principal, Unauthenticated
from portafn.auth.jwks import KeySet
from portafn.auth.platform import claim_strings

if TYPE_CHECKING:
    from portafn.http import HttpRequest


class SignedJWT(Authenticator):
    """A JWT carried by the request, verified against a JWKS; subclasses say where it is carried."""

    scheme = "jwt"
    label = "token"  # how refusals name it: "The <label> is not valid (<reason>)."
    required_claims: tuple[str, ...] = ("exp", "iss", "aud", "sub")

    def __init__(
        self,
        jwks_url: str | Callable[[], str],
        *,
        issuer: str | Iterable[str],
        audience: str | Iterable[str],
        algorithms: Iterable[str],
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        leeway: float = 30.0,
        cache_seconds: float = 300.0,
        refetch_interval: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(scopes=scopes, roles=roles)
        try:
            # Imported when declared, not first used: a missing PyJWT fails at import time, and
            # packaging (which ships what the app imports) carries it.
            import jwt  # noqa: F401
        except ImportError:
            raise ImportError(f"{type(self).__name__} needs PyJWT: pip install 'portafn[jwt]'") from None
        self.jwks_url = jwks_url
        self.issuers = [issuer] if isinstance(issuer, str) else list(issuer)
        self.audience = [audience] if isinstance(audience, str) else list(audience)
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self.keys = KeySet(
            jwks_url,
            cache_seconds=cache_seconds,
            refetch_interval=refetch_interval,
            timeout=timeout,
            clock=clock,
        )

    @property
    def issuer(self) -> str:
        """The first accepted issuer (the one a native authorizer is configured with)."""
        return self.issuers[0]

    @abstractmethod
    def token(self, request: HttpRequest) -> str:
        """The encoded token the request carries, or ``Unauthenticated`` when it carries none."""

    def identify(self, request: HttpRequest) -> Principal:
        """The token's subject, or ``Unauthenticated`` saying why (never echoing the token)."""
        return self.principal(self.verify(self.token(request)))

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; ``Unauthenticated`` or ``AuthUnavailable`` otherwise."""
        import jwt

        try:
            key = self.keys.signing_key(token)
            if key is None:
                raise self.refusal("UnknownKey")
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": list(self.required_claims)},
            )
        except jwt.PyJWKClientConnectionError:
            raise AuthUnavailable("The token's key set cannot be fetched; try again.") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise self.refusal(_reason(exc)) from None
        # Checked here rather than by PyJWT, whose list of issuers needs 2.9 (portafn[jwt] allows 2.8).
        if claims.get("iss") not in self.issuers:
            raise self.refusal("InvalidIssuer")
        return claims

    def refusal(self, reason: str) -> Unauthenticated:
        """The 401 for a token that does not verify, naming PyJWT's reason."""
        return Unauthenticated(f"The {self.label} is not valid ({reason}).", challenge=self.challenge)

    def principal(self, claims: dict[str, Any]) -> Principal:
        """``sub`` as the id; ``scope`` (space-separated) or ``scp`` as scopes; ``roles`` and
        ``groups`` as roles."""
        scope = claims.get("scope")
        scopes = scope.split() if isinstance(scope, str) else claim_strings(claims.get("scp"))
        return Principal(
            id=str(claims["sub"]),
            scheme=self.scheme,
            claims=claims,
            scopes=frozenset(scopes),
            roles=frozenset(claim_strings(claims.get("roles")) + claim_strings(claims.get("groups"))),
        )


def bearer_token(request: HttpRequest) -> str:
    """The token of an ``Authorization: Bearer`` header, or ``Unauthenticated``."""
    value = request.headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A bearer token is required.", challenge="Bearer")
    return token.strip()


def _reason(exc: Exception) -> str:
    # PyJWT's class names are fixed words (ExpiredSignatureError, InvalidAudienceError): safe to show.
    return type(exc).__name__.removesuffix("Error")
