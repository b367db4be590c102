"""The typed errors portafn raises outside the store (store errors live in ``portafn.store.errors``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class PortafnError(Exception):
    """Base class of every error portafn raises on purpose."""


class RegistrationError(PortafnError):
    """A function could not be registered; raised at import time and names the function."""

    def __init__(self, function: str, problem: str) -> None:
        self.function = function
        self.problem = problem
        super().__init__(f"{function}: {problem}")


class EventFormatError(PortafnError):
    """A provider event does not have the shape its translation expects.

    ``provider`` names the cloud, ``field`` the missing or malformed part, and ``keys`` the top-level
    keys that were seen, so the message says what arrived without echoing its values.
    """

    def __init__(self, provider: str, field: str, problem: str, *, keys: Iterable[str] | None = None) -> None:
        self.provider = provider
        self.field = field
        self.problem = problem
        self.keys = sorted(keys) if keys is not None else None
        seen = f" (keys seen: {', '.join(self.keys)})" if self.keys is not None else ""
        super().__init__(f"{provider} event: {field}: {problem}{seen}")


class FunctionNotFound(PortafnError):
    """No function of that name is registered on the app."""


class EventDataError(PortafnError):
    """An event's payload failed validation against the handler's declared data type.

    Raised before the handler runs; queue adapters treat it as a failed message so that retry and
    dead-lettering apply, and nothing is lost.
    """

    def __init__(self, function: str, errors: list[dict[str, Any]]) -> None:
        self.function = function
        self.errors = errors
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) or "data" for e in errors)
        super().__init__(f"{function}: event data failed validation ({fields})")


class HttpError(PortafnError):
    """Raise from an HTTP handler to answer with a problem+json of ``status`` and ``detail``.

    ``headers`` are added to the response (``Retry-After``, say). The detail is sent to the caller,
    so it must not carry secrets or internals.
    """

    def __init__(
        self, status: int, detail: str | None = None, *, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        super().__init__(f"HTTP {status}" + (f": {detail}" if detail else ""))
