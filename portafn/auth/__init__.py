"""Auth declared on the App or a route: who the caller is, in ``ctx.principal``.

An authenticator turns a request into a ``Principal`` or refuses it: ``APIKey`` (a key header),
``BearerJWT`` (a bearer token verified against a JWKS, with PyJWT: ``portafn[jwt]``),
``portafn.auth.google``'s IAP assertions and ID tokens (Google-signed JWTs, verified the same way)
and ``PlatformIdentity`` (the caller the provider's own authentication already verified). The runtime
runs the route's authenticator after routing and before binding; a refusal is a 401 (no or bad
credentials) or 403 (known caller, missing scope or role) problem+json answer.
"""

from __future__ import annotations

from typing import Any

from portafn.auth.apikey import APIKey
from portafn.auth.base import Authenticator, AuthError, AuthUnavailable, Forbidden, Principal, Unauthenticated
from portafn.auth.platform import PlatformIdentity

__all__ = [
    "APIKey",
    "AuthError",
    "AuthUnavailable",
    "Authenticator",
    "BearerJWT",
    "Forbidden",
    "PlatformIdentity",
    "Principal",
    "Unauthenticated",
]


def __getattr__(name: str) -> Any:
    # BearerJWT needs PyJWT (portafn[jwt]) at use, not import: loading it here keeps
    # ``from portafn.auth import BearerJWT`` working while ``import portafn.auth`` stays light.
    if name == "BearerJWT":
        from portafn.auth.bearer import BearerJWT

        return BearerJWT
    raise AttributeError(name)
