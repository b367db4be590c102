"""Distributions an app needs because of what it declares, not what it imports at load time.

An optional feature imports its library only when used (the JWT authenticators of
``portafn.auth`` and PyJWT, the ``portafn[jwt]`` extra): the app's imports then do not show the
need, so the packager asks here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portafn.app import App

JWT = "pyjwt[crypto]>=2.8"


def extra_requirements(app: App) -> list[str]:
    """Requirement lines for the optional features ``app`` declares, sorted."""
    from portafn.auth.signed import SignedJWT

    needs: set[str] = set()
    guards = [app.auth, *(fn.options.get("auth") for fn in app.functions.values())]
    if any(isinstance(guard, SignedJWT) for guard in guards):
        needs.add(JWT)
    return sorted(needs)
