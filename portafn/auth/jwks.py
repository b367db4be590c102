"""``KeySet``: an issuer's JWKS, fetched on first use, kept, and refetched at a bounded rate.

A token that names a key id the cached set lacks is either a key rotation (the issuer published a
new key) or a forgery. Refetching on every such token would let any client make each request
cost a round trip to the issuer, so an unknown key id refetches at most once per
``refetch_interval`` seconds (counting every fetch, the first and the expiry ones included) and is
refused with 401 meanwhile (by the authenticator). Likewise a fetch that fails (the issuer is down)
is not tried again for ``refetch_interval`` seconds unless a key set is cached: meanwhile each
request fails at once (503 from the authenticator) instead of waiting on the issuer in turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from portafn.lazy import Lazy

if TYPE_CHECKING:
    from jwt import PyJWK, PyJWKClient


class KeySet:
    """The keys that verify an issuer's tokens (PyJWT's ``PyJWKClient`` with its JWKS cache).

    ``url`` is the JWKS address, or a function returning it (read on first use, for settings that
    come from the environment). The set is kept for ``cache_seconds``; an unknown key id fetches it
    again only if no fetch happened in the last ``refetch_interval`` seconds.
    """

    def __init__(
        self,
        url: str | Callable[[], str],
        *,
        cache_seconds: float = 300.0,
        refetch_interval: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._client: Lazy[PyJWKClient] = Lazy(self._make_client)

    def _make_client(self) -> PyJWKClient:
        from jwt import PyJWKClient

        keyset = self

        class Client(PyJWKClient):
            def fetch_data(self) -> Any:
                # Noted before the request: a failed fetch counts against the interval too.
                keyset._fetched_at = keyset._clock()
                return super().fetch_data()

        url = self.url() if callable(self.url) else self.url
        return Client(url, cache_jwk_set=True, lifespan=self.cache_seconds, timeout=self.timeout)

    def signing_key(self, token: str) -> PyJWK | None:
        """The key named by ``token``'s ``kid`` header; None when the set lacks it (after a refetch,
        if one is due).

        Raises PyJWT's ``PyJWKClientConnectionError`` when the set cannot be fetched and
        ``DecodeError`` when the token's header is not a JWT header.
        """
        import jwt

        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            return None
        with self._lock:
            if self._failed_at is not None and self._clock() - self._failed_at < self.refetch_interval:
                raise jwt.PyJWKClientConnectionError("the key set could not be fetched a moment ago")
            client = self._client.get()
            try:
                key = client.match_kid(client.get_signing_keys(), kid)
                if key is None and self._may_refetch():
                    key = client.match_kid(client.get_signing_keys(refresh=True), kid)
            except jwt.PyJWKClientConnectionError:
                self._failed_at = self._clock()
                raise
            self._failed_at = None
        return key

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self.refetch_interval
