"""The one registry through which the core finds providers and stores.

A plugin is a ``Provider``: a name and the dotted references (``"module:attr"``) of what it brings,
a store class per URL scheme, a contract-test driver, a publisher factory, a packager module and the
local servers ``portafn dev up`` starts. Installed plugins are found through the ``portafn.providers``
entry-point group, each entry pointing at a ``Provider`` object; an application or a test can add one
with ``register_provider``. References are resolved only when used, so finding a provider imports
none of its SDKs.

The built-in ``local`` provider serves the neutral runtime with the ``memory://`` and ``sqlite://``
stores. No provider other than it is named here: everything else arrives through the registry.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, distributions
from typing import Any

ENTRY_POINT_GROUP = "portafn.providers"
LOCAL = "local"


class PluginError(LookupError):
    """No installed provider serves what was asked for; the message says how to install one."""


@dataclass(frozen=True, slots=True)
class Provider:
    """What one provider plugs into the core, as lazy ``"module:attr"`` references.

    - ``distribution``: the package to install for it (named in every "not installed" message) and
      the adapter wheel its packages ship.
    - ``stores``: URL scheme -> store class (a ``portafn.store.port.Store`` subclass).
    - ``store_servers``: URL scheme -> name of the local server (in ``servers``) that serves it.
    - ``driver``: a callable ``(App) -> Driver`` for the contract suite; ``None``: not a runtime.
    - ``publisher``: a callable ``(Runtime) -> Publisher``.
    - ``packager``: a module with the shape of ``portafn.package.build.ProviderModule``.
    - ``entry``: the callable a generated entry module calls on the app (the provider's entry point).
    - ``servers``: server name -> module with ``start(log_dir) -> RunningServer`` and ``install()``.
    - ``change_sources``: store schemes whose change stream this provider's functions can be
      triggered by when deployed (``@app.changes``, the outbox relay); ``portafn check`` reports the
      provider x store pairs where a change function would never run.
    - ``secrets``: a callable ``(portafn.settings.Secret) -> str | None`` that reads a secret from
      the provider's store by name at run time; ``None``: the platform puts secrets in the
      environment (Key Vault references, ``--set-secrets``), read like any setting.
    - ``pricing``: a module with ``prices()`` and ``estimate(usage, prices)`` for ``portafn cost``
      (see ``portafn.cost.registry``); ``None``: the provider has no cost model.
    """

    name: str
    distribution: str
    stores: Mapping[str, str] = field(default_factory=dict)
    store_servers: Mapping[str, str] = field(default_factory=dict)
    driver: str | None = None
    publisher: str | None = None
    packager: str | None = None
    entry: str | None = None
    servers: Mapping[str, str] = field(default_factory=dict)
    change_sources: frozenset[str] = frozenset()
    secrets: str | None = None
    pricing: str | None = None

    @property
    def install_hint(self) -> str:
        """How to install this provider."""
        return f"pip install {self.distribution}"


def load(reference: str) -> Any:
    """The object a ``"module:attr"`` (or ``"module"``) reference names, imported now."""
    module_name, _, attr = reference.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


_LOCAL = Provider(
    name=LOCAL,
    distribution="portafn",
    stores={"memory": "portafn.store.memory:MemoryStore", "sqlite": "portafn.store.sqlite:SqliteStore"},
    driver="portafn.testing.drivers:LocalDriver",
    publisher="portafn.reliability.publish:LocalBus",
)

_lock = threading.Lock()
_installed: dict[str, Provider] | None = None
_registered: dict[str, Provider] = {}


def _entry_points() -> list[EntryPoint]:
    """``importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)``, found faster.

    The standard call parses the entry points of every installed distribution (a venv holds
    hundreds) before selecting the group; this reads each one's ``entry_points.txt`` and parses
    only those that mention the group. Distributions are taken as ``entry_points`` takes them:
    the first of each name on the path wins.
    """
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for dist in distributions():
        name = getattr(dist, "_normalized_name", None) or dist.metadata["Name"]
        if name in seen:
            continue
        seen.add(name)
        text = dist.read_text("entry_points.txt")
        if text and ENTRY_POINT_GROUP in text:
            found.extend(dist.entry_points.select(group=ENTRY_POINT_GROUP))
    return found


def _discover() -> dict[str, Provider]:
    found: dict[str, Provider] = {LOCAL: _LOCAL}
    for ep in _entry_points():
        provider = ep.load()
        if not isinstance(provider, Provider):
            raise PluginError(f"entry point {ep.value} in {ENTRY_POINT_GROUP!r} is not a portafn Provider")
        found[provider.name] = provider
    return found


def providers() -> dict[str, Provider]:
    """Every provider: the built-in ``local``, the installed plugins, then those registered here."""
    global _installed
    if _installed is None:
        with _lock:
            if _installed is None:
                _installed = _discover()
    return {**_installed, **_registered}


def register_provider(provider: Provider) -> Provider:
    """Add (or replace) a provider in this process; a test's toy provider or an in-house adapter."""
    _registered[provider.name] = provider
    return provider


def unregister_provider(name: str) -> None:
    """Remove a provider added with ``register_provider``."""
    _registered.pop(name, None)


def provider(name: str) -> Provider:
    """The provider called ``name``; ``PluginError`` with the install hint when there is none."""
    found = providers()
    if name in found:
        return found[name]
    raise PluginError(
        f"no portafn provider {name!r} is installed (installed: {', '.join(sorted(found))}; "
        f"entry-point group {ENTRY_POINT_GROUP!r}); adapters are distributed as portafn-<provider>, "
        f"e.g. pip install portafn-{name}"
    )


def runtimes() -> list[str]:
    """Providers that can run functions (they have a contract driver), ``local`` first."""
    names = [p.name for p in providers().values() if p.driver]
    return [LOCAL, *sorted(n for n in names if n != LOCAL)]


def packagers() -> list[str]:
    """Providers that ``portafn package`` can build for."""
    return sorted(p.name for p in providers().values() if p.packager)


def store_owner(scheme: str) -> Provider:
    """The provider that declares the store ``scheme://``."""
    for p in providers().values():
        if scheme in p.stores:
            return p
    schemes = sorted(s for p in providers().values() for s in p.stores)
    raise PluginError(
        f"no store for {scheme}:// (installed: {', '.join(schemes)}); install the adapter that provides it"
    )


def store_schemes() -> dict[str, str]:
    """Every declared store scheme and its class reference."""
    return {s: ref for p in providers().values() for s, ref in p.stores.items()}


def server_module(name: str) -> str:
    """The module of the local server ``name``."""
    servers = all_servers()
    if name not in servers:
        raise PluginError(f"unknown server {name!r}; known: {', '.join(sorted(servers))}")
    return servers[name]


def all_servers() -> dict[str, str]:
    """Every local server any provider declares, by name."""
    return {n: ref for p in providers().values() for n, ref in p.servers.items()}


def store_server(scheme: str) -> str | None:
    """The local server that serves ``scheme://`` in tests and ``dev up``, if one does."""
    for p in providers().values():
        if scheme in p.store_servers:
            return p.store_servers[scheme]
    return None
