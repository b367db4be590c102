"""Which store capabilities an app's tables need, known without running anything.

A table needs TTL when it declares a ``ttl`` field, a change source when a function consumes its
changes, and whatever it lists in ``requires``. ``check(app, capabilities)`` lists what a store
lacks, so ``portafn check`` and packaging fail before deployment rather than in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from portafn.app import App
from portafn.store.capabilities import Capabilities, Capability
from portafn.triggers import ChangesTrigger


@dataclass(frozen=True, slots=True)
class Gap:
    """A capability a table needs that a store does not declare, and why it is needed."""

    table: str
    capability: Capability
    reason: str


def required(app: App) -> dict[str, dict[Capability, str]]:
    """Per table, each capability it needs and why."""
    needs: dict[str, dict[Capability, str]] = {name: {} for name in app.tables}
    for name, table in app.tables.items():
        if table.spec.ttl_field:
            needs[name][Capability.TTL] = f"ttl field {table.spec.ttl_field!r}"
        for capability in table.requires:
            needs[name][capability] = "declared in requires="
    for fn in app.functions.values():
        if isinstance(fn.trigger, ChangesTrigger):
            needs[fn.trigger.table.name][Capability.CHANGE_SOURCE] = f"@app.changes function {fn.name!r}"
    return needs


def check(app: App, capabilities: Capabilities) -> list[Gap]:
    """What the app needs that a store with ``capabilities`` lacks."""
    return [
        Gap(table, capability, why)
        for table, needs in required(app).items()
        for capability, why in needs.items()
        if not capabilities.has(capability)
    ]


def provider_gaps(app: App, scheme: str, providers: list[str]) -> dict[str, list[str]]:
    """Per deployable provider, why the app's change functions would never run with ``scheme://``.

    A change function (``@app.changes``, and the outbox's relays) is triggered by the provider from
    the store's change stream; a provider triggers only on the streams its plugin declares in
    ``change_sources``. Local stores (declared by the built-in provider) are for development, so
    they get no per-provider verdict.
    """
    from portafn.plugins import LOCAL, provider, store_owner

    if store_owner(scheme).name == LOCAL:
        return {}
    watchers = [fn for fn in app.functions.values() if isinstance(fn.trigger, ChangesTrigger)]
    out: dict[str, list[str]] = {}
    for name in providers:
        sources = provider(name).change_sources
        out[name] = [
            f"@app.changes function {fn.name!r} would never run: {name} triggers on changes of "
            + (", ".join(f"{s}://" for s in sorted(sources)) or "no store")
            + " only"
            for fn in watchers
            if scheme not in sources
        ]
    return out
