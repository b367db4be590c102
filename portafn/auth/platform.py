"""``PlatformIdentity``: the caller the provider's own authentication verified."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portafn.auth.base import Authenticator, Principal, Unauthenticated

if TYPE_CHECKING:
    from portafn.http import HttpRequest


class PlatformIdentity(Authenticator):
    """The caller the provider's own authentication verified before portafn ran: API Gateway's
    authorizer (JWT ``sub``, Lambda or IAM principal) or Azure App Service authentication (Easy
    Auth). The adapters read it only from what the platform sets; ``portafn serve`` sets none."""

    def identify(self, request: HttpRequest) -> Principal:
        """``request.principal`` as a ``Principal``, or ``Unauthenticated``."""
        if not request.principal:
            raise Unauthenticated("No caller was authenticated by the platform.")
        claims = request.principal_claims or {}
        return Principal(
            id=request.principal,
            scheme="platform",
            claims=claims,
            scopes=frozenset(
                claim_strings(claims.get("scope"), split=True) + claim_strings(claims.get("scp"))
            ),
            roles=frozenset(claim_strings(claims.get("roles")) + claim_strings(claims.get("groups"))),
        )


def claim_strings(value: object, *, split: bool = False) -> list[str]:
    """A claim as a list of strings: a list kept, a string alone (or split on spaces)."""
    if isinstance(value, str):
        return value.split() if split else [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
