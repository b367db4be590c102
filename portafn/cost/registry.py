"""Which providers price their plans, found through the plugin registry.

A provider's ``pricing`` reference names a module with ``prices() -> PriceTable`` and
``estimate(usage, prices) -> list[Estimate]`` (one estimate per plan it offers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, cast

from portafn.cost.model import Estimate, Usage
from portafn.cost.prices import PriceTable
from portafn.plugins import load, providers


class PricingModule(Protocol):
    """What a provider's pricing module offers."""

    def prices(self) -> PriceTable:
        """The provider's current price table."""
        ...

    def estimate(self, usage: Usage, prices: PriceTable) -> list[Estimate]:
        """One estimate per plan."""
        ...


def pricing_providers() -> list[str]:
    """Providers whose plugin names a pricing module, sorted."""
    return sorted(p.name for p in providers().values() if p.pricing)


def pricing(name: str) -> PricingModule:
    """The pricing module of provider ``name``."""
    from portafn.plugins import PluginError, provider

    ref = provider(name).pricing
    if ref is None:
        raise PluginError(f"provider {name!r} has no cost model (its plugin names no pricing module)")
    return cast(PricingModule, load(ref))


def plan_estimator(name: str, plan: str, prices: PriceTable) -> Callable[[Usage], Estimate]:
    """A function of usage giving provider ``name``'s estimate for ``plan`` (for the break-even search)."""
    module = pricing(name)

    def one(usage: Usage) -> Estimate:
        return next(e for e in module.estimate(usage, prices) if e.plan == plan)

    return one


def estimates(usage: Usage, names: Sequence[str] | None = None) -> list[tuple[PriceTable, list[Estimate]]]:
    """Each chosen provider's price table and plan estimates for ``usage``."""
    out = []
    for name in names or pricing_providers():
        module = pricing(name)
        table = module.prices()
        out.append((table, module.estimate(usage, table)))
    return out
