"""``BearerJWT``: bearer tokens verified with PyJWT against a JWKS that is fetched once and kept.

Install with ``pip install portafn[jwt]``. The key set is fetched on first use, kept for
``cache_seconds`` and fetched again early when a token names a key id it does not hold (a key
rotation), at most once per ``refetch_interval``, so verifying a token costs no request on the
warm path and a client cannot make every request cost one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from portafn.auth.signed import SignedJWT, bearer_token

if TYPE_CHECKING:
    from portafn.http import HttpRequest


class BearerJWT(SignedJWT):
    """``Authorization: Bearer <JWT>`` verified for signature, ``exp``/``nbf``, ``iss`` and ``aud``.

    ``jwks_url`` is the issuer's key set (or a function returning it, read on first use, for
    settings that come from the environment). The principal's id is ``sub``; scopes come from
    ``scope`` (space-separated) or ``scp``; roles from ``roles`` or ``groups``. ``native=True``
    also asks the packager for the platform's own JWT authorizer (the HTTP API's on AWS).
    """

    challenge = "Bearer"
    scheme = "jwt"
    label = "bearer token"

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
        refetch_interval: float = 60.0,
        timeout: float = 5.0,
        native: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            jwks_url,
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            scopes=scopes,
            roles=roles,
            leeway=leeway,
            cache_seconds=cache_seconds,
            refetch_interval=refetch_interval,
            timeout=timeout,
            clock=clock,
        )
        self.native = native

    def token(self, request: HttpRequest) -> str:
        """The ``Authorization: Bearer`` token."""
        return bearer_token(request)
