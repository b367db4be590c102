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
        return Principal(id=request.principal, scheme="platform")
