"""The cost model's values: a month of usage, a billed line, a provider's estimate."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

# Providers bill by the month of 730 hours (8760 / 12); daily allowances are scaled by the same month.
HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24

# "compute" lines are what an always-on instance would replace; "store" lines are paid either way.
Part = Literal["compute", "store"]


@dataclass(frozen=True, slots=True)
class Usage:
    """One month of an app's traffic, as the model sees it.

    ``reads`` and ``writes`` are table operations per request on items of at most 1 KB (a larger
    item costs more units on every store); ``http`` says the requests arrive over HTTP, which on
    some providers adds a gateway's charge.
    """

    requests: float
    duration_ms: float
    memory_mb: int
    reads: float = 0.0
    writes: float = 0.0
    storage_gb: float = 0.0
    http: bool = True

    def __post_init__(self) -> None:
        if (
            self.requests < 0
            or self.duration_ms < 0
            or self.reads < 0
            or self.writes < 0
            or self.storage_gb < 0
        ):
            raise ValueError("usage values cannot be negative")
        if self.memory_mb <= 0:
            raise ValueError("memory must be a positive number of MB")

    def with_requests(self, requests: float) -> Usage:
        """The same usage at another monthly request count (the break-even search varies only this)."""
        return replace(self, requests=requests)


@dataclass(frozen=True, slots=True)
class LineItem:
    """One billed meter: ``quantity`` units, of which ``free`` are in the free tier, at ``price`` per ``per``."""

    name: str
    quantity: float
    unit: str
    price: float
    per: float
    free: float = 0.0
    part: Part = "compute"

    @property
    def billed(self) -> float:
        """Units paid for, after the free tier."""
        return max(0.0, self.quantity - self.free)

    @property
    def cost(self) -> float:
        """What this line costs for the month."""
        return self.billed * self.price / self.per


def metered(
    name: str,
    quantity: float,
    unit: str,
    price: float,
    *,
    per: float = 1.0,
    free: float = 0.0,
    part: Part = "compute",
) -> LineItem:
    """A line item; ``per`` is how many units ``price`` buys (1e6 for a per-million price)."""
    return LineItem(name=name, quantity=quantity, unit=unit, price=price, per=per, free=free, part=part)


@dataclass(frozen=True, slots=True)
class Estimate:
    """One provider plan's month: its lines, and the always-on instance it is compared with."""

    provider: str
    plan: str
    items: tuple[LineItem, ...]
    always_on: str
    always_on_monthly: float
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        """The month's total."""
        return sum(item.cost for item in self.items)

    def part(self, part: Part) -> float:
        """The month's total of the ``compute`` or the ``store`` lines."""
        return sum(item.cost for item in self.items if item.part == part)
