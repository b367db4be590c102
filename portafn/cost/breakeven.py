"""The monthly request count where a plan's compute lines cost as much as an always-on instance.

Only the compute lines count: the database is billed the same whether a function or an instance
calls it. Every compute line grows with the request count and never shrinks, so the crossing is
found by bisection over whole requests, whatever free tiers and rounding a provider applies.
"""

from __future__ import annotations

from collections.abc import Callable

from portafn.cost.model import Estimate, Usage

# Past ten trillion requests a month, a plan that is still cheaper is called "never" rather than searched.
CEILING = 10**13


def break_even(
    usage: Usage, estimate: Callable[[Usage], Estimate], monthly: float | None = None
) -> int | None:
    """The fewest requests per month at which ``estimate``'s compute cost reaches ``monthly``.

    ``monthly`` defaults to the estimate's own always-on instance. ``None``: not below ``CEILING``.
    """

    def compute(n: int) -> float:
        return estimate(usage.with_requests(n)).part("compute")

    target = estimate(usage).always_on_monthly if monthly is None else monthly
    if compute(CEILING) < target:
        return None
    low, high = 0, CEILING
    while low < high:
        mid = (low + high) // 2
        if compute(mid) >= target:
            high = mid
        else:
            low = mid + 1
    return low
