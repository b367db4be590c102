"""The text table ``portafn cost`` prints for one provider."""

from __future__ import annotations

from collections.abc import Iterator

from portafn.cost.model import Estimate, LineItem
from portafn.cost.prices import PriceTable


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.2f}"


def _price(item: LineItem) -> str:
    per = {1.0: "", 1e5: " /100k", 1e6: " /1M"}.get(item.per, f" /{item.per:g}")
    return f"{item.price:.10f}".rstrip("0").rstrip(".") + per


def render(table: PriceTable, estimate: Estimate, break_even: int | None, monthly: float) -> Iterator[str]:
    """Lines describing one plan's month and its break-even point."""
    yield f"{estimate.provider}: {estimate.plan}"
    yield f"  prices {table.version} ({table.region}, {table.currency}); {table.note}"
    yield f"  {'item':<28}{'quantity':>18}{'free':>16}  {'unit price':<18}{'cost':>12}"
    for item in estimate.items:
        yield (
            f"  {item.name:<28}{_number(item.quantity):>18}{_number(item.free):>16}  "
            f"{_price(item) + ' ' + item.unit:<18}{item.cost:>12.2f}"
        )
    yield f"  {'total (compute ' + format(estimate.part('compute'), '.2f') + ', store ' + format(estimate.part('store'), '.2f') + ')':<80}{estimate.total:>12.2f}"
    where = "never below 10^13 requests/month" if break_even is None else f"{break_even:,} requests/month"
    yield f"  break-even against {estimate.always_on} at {monthly:.2f}/month (compute lines only): {where}"
    for note in estimate.notes:
        yield f"  note: {note}"
    for name, url in table.sources.items():
        yield f"  source {name}: {url}"
