"""``APIKey``: an API key in a header, mapped to its owner."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from portafn.auth.base import Authenticator, Principal, Unauthenticated

if TYPE_CHECKING:
    from portafn.http import HttpRequest


class APIKey(Authenticator):
    """An API key in a header (``X-API-Key`` by default).

    ``keys`` maps each key to the id of its owner, or is a function from a key to that id (None
    when unknown). A mapping is compared in constant time against every key.
    """

    def __init__(
        self,
        keys: Mapping[str, str] | Callable[[str], str | None],
        *,
        header: str = "X-API-Key",
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
    ) -> None:
        super().__init__(scopes=scopes, roles=roles)
        self.header = header
        self._lookup = keys if callable(keys) else _constant_time_lookup(dict(keys))

    def identify(self, request: HttpRequest) -> Principal:
        """The key's owner, or ``Unauthenticated`` naming the header (never the key)."""
        given = request.headers.get(self.header)
        if not given:
            raise Unauthenticated(f"The {self.header} header is missing.")
        owner = self._lookup(given)
        if owner is None:
            raise Unauthenticated(f"The {self.header} header holds no valid key.")
        return Principal(id=owner, scheme="api_key")


def _constant_time_lookup(keys: dict[str, str]) -> Callable[[str], str | None]:
    encoded = [(k.encode(), owner) for k, owner in keys.items()]

    def lookup(given: str) -> str | None:
        candidate = given.encode()
        found: str | None = None
        for key, owner in encoded:
            # Every key is compared, so the time taken says nothing about which one nearly matched.
            if hmac.compare_digest(key, candidate):
                found = owner
        return found

    return lookup
