"""Google's own identity: Identity-Aware Proxy assertions and Google-signed ID tokens.

Both are JWTs that Google signs, so they are verified like any bearer token (``SignedJWT``)
against Google's published key sets, on every provider: a request that passed IAP, or a caller
holding a Google ID token (a Cloud Scheduler or Pub/Sub push job, a service account), is
identified the same way wherever the function runs. The audience is what the issuer was told:
IAP's ``/projects/PROJECT_NUMBER/apps/PROJECT_ID`` (App Engine) or
``/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID``; an ID token's is the audience the
caller asked for, usually the function's URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from portafn.auth.base import Unauthenticated
from portafn.auth.signed import SignedJWT, bearer_token

if TYPE_CHECKING:
    from portafn.http import HttpRequest

IAP_JWKS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_HEADER = "x-goog-iap-jwt-assertion"
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


class _GoogleSigned(SignedJWT):
    """A JWT Google signs: its issuers, algorithm and key set are fixed; the audience is the caller's."""

    issued_by: tuple[str, ...] = ()
    algorithm = "RS256"
    default_jwks_url = GOOGLE_JWKS_URL

    def __init__(
        self,
        audience: str | Iterable[str],
        *,
        jwks_url: str | Callable[[], str] | None = None,
        roles: Iterable[str] = (),
        leeway: float = 30.0,
        cache_seconds: float = 300.0,
        refetch_interval: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            jwks_url or self.default_jwks_url,
            issuer=self.issued_by,
            audience=audience,
            algorithms=(self.algorithm,),
            roles=roles,
            leeway=leeway,
            cache_seconds=cache_seconds,
            refetch_interval=refetch_interval,
            timeout=timeout,
            clock=clock,
        )


class GoogleIAP(_GoogleSigned):
    """The signed header Identity-Aware Proxy adds (``x-goog-iap-jwt-assertion``, ES256, issuer
    ``https://cloud.google.com/iap``) verified for ``audience``; ``jwks_url`` defaults to IAP's
    published key set. The principal's id is ``sub`` (``accounts.google.com:<user id>``);
    ``email`` and ``hd`` are among its claims."""

    scheme = "google_iap"
    label = "IAP assertion"
    header = IAP_HEADER
    issued_by = (IAP_ISSUER,)
    algorithm = "ES256"
    default_jwks_url = IAP_JWKS_URL

    def token(self, request: HttpRequest) -> str:
        """The ``x-goog-iap-jwt-assertion`` header."""
        value = (request.headers.get(self.header) or "").strip()
        if not value:
            raise Unauthenticated(f"The {self.header} header is missing.")
        return value


class GoogleIDToken(_GoogleSigned):
    """A Google-signed ID token as a bearer token (RS256, issuer ``https://accounts.google.com``
    or ``accounts.google.com``) verified for ``audience``; ``jwks_url`` defaults to Google's
    published key set. The principal's id is ``sub``; ``email`` and ``email_verified`` are among
    its claims."""

    challenge = "Bearer"
    scheme = "google_id_token"
    label = "Google ID token"
    issued_by = GOOGLE_ISSUERS

    def token(self, request: HttpRequest) -> str:
        """The ``Authorization: Bearer`` token."""
        return bearer_token(request)
