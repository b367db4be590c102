"""Choosing a store by URL: ``PORTAFN_STORE``, the provider registry by scheme, and the embedded default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

from portafn.lazy import Lazy
from portafn.store.port import Store

DEFAULT_URL = "sqlite:///.portafn/portafn.db"

_registered: dict[str, type[Store]] = {}
_override: ContextVar[Store | None] = ContextVar("portafn_store", default=None)
_threads_override: Store | None = None  # use_store(..., follow_threads=True): every thread's fallback


class StoreConfigError(ValueError):
    """A store URL that names no installed store or is malformed."""


def _open_default() -> Store:
    return open_store(os.environ.get("PORTAFN_STORE") or DEFAULT_URL)


_default: Lazy[Store] = Lazy(_open_default)


def register_store(cls: type[Store]) -> type[Store]:
    """Register a store class for its ``scheme`` in this process (usable as a class decorator).

    Installed stores are declared by a provider plugin (``portafn.plugins``) instead; this is for
    stores defined in an application or a test.
    """
    _registered[cls.scheme] = cls
    return cls


def store_class(url: str) -> type[Store]:
    """The store class registered for the URL's scheme."""
    scheme = urlsplit(url).scheme
    if not scheme:
        raise StoreConfigError(
            f"store URL {url!r} has no scheme (try memory://, sqlite:///PATH, or a scheme an installed adapter declares)"
        )
    if scheme in _registered:
        return _registered[scheme]
    from portafn.plugins import PluginError, load, store_owner

    try:
        owner = store_owner(scheme)
    except PluginError as exc:
        raise StoreConfigError(str(exc)) from None
    cls = load(owner.stores[scheme])
    if not (isinstance(cls, type) and issubclass(cls, Store)):
        raise StoreConfigError(f"{owner.stores[scheme]} for {scheme}:// is not a Store")
    return cls


def open_store(url: str) -> Store:
    """A new store for ``url``."""
    return store_class(url)(url)


def current_store() -> Store:
    """The store tables use now: an override set by ``use_store``, else the process default
    (``PORTAFN_STORE``, or the embedded SQLite file under ``.portafn/``), opened on first use."""
    override = _override.get()
    if override is not None:
        return override
    if _threads_override is not None:
        return _threads_override
    return _default.get()


def set_default_store(store: Store | None) -> None:
    """Replace the process default store (None: resolve again from the environment on next use)."""
    global _default
    # Rebinding is atomic: a thread inside the old Lazy's get() finishes with the old value.
    _default = Lazy(_open_default) if store is None else Lazy(lambda: store)


@contextmanager
def use_store(store: Store, *, follow_threads: bool = False) -> Iterator[Store]:
    """Within the block (this thread or task), tables use ``store``.

    With ``follow_threads=True`` threads started during the block (which do not inherit this
    thread's context) use it too, unless they set their own; the test fixtures use this so a
    thread a test starts reads and writes the test's store.
    """
    global _threads_override
    token = _override.set(store)
    previous = _threads_override
    if follow_threads:
        _threads_override = store
    try:
        yield store
    finally:
        _override.reset(token)
        _threads_override = previous
