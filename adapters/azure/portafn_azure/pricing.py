"""The Azure plans' month for ``portafn cost``: Functions Consumption or Flex Consumption, with Cosmos DB serverless.

Billing rules applied: Consumption bills at least 100 ms per execution at the memory rounded up to
128 MB; Flex Consumption (on demand) bills at the instance memory size (512, 2048 or 4096 MB) with
a minimum billable period, counting each execution alone (concurrent executions on one instance
share its time, so this is an upper bound); Cosmos DB serverless bills request units.
"""

from __future__ import annotations

import math

from portafn.cost.model import HOURS_PER_MONTH, Estimate, LineItem, Usage, metered
from portafn.cost.prices import PriceTable, load_prices

CONSUMPTION = "Functions Consumption + Cosmos DB serverless"
FLEX = "Functions Flex Consumption + Cosmos DB serverless"
FLEX_SIZES_MB = (512, 2048, 4096)


def prices() -> PriceTable:
    """The Azure price table shipped with this adapter."""
    return load_prices("azure", __package__ or "portafn_azure")


def _cosmos(usage: Usage, prices: PriceTable) -> list[LineItem]:
    units = usage.requests * (
        usage.reads * prices.price("cosmos_ru_per_read") + usage.writes * prices.price("cosmos_ru_per_write")
    )
    return [
        metered(
            "Cosmos DB request units",
            units,
            "RU",
            prices.price("cosmos_ru_per_million"),
            per=1e6,
            part="store",
        ),
        metered(
            "Cosmos DB storage",
            usage.storage_gb,
            "GB-month",
            prices.price("cosmos_storage_gb_month"),
            part="store",
        ),
    ]


def _consumption(usage: Usage, prices: PriceTable) -> list[LineItem]:
    step = prices.price("consumption_memory_step_mb")
    memory_gb = math.ceil(usage.memory_mb / step) * step / 1024
    seconds = max(usage.duration_ms, prices.price("consumption_min_ms")) / 1000
    return [
        metered(
            "Executions",
            usage.requests,
            "execution",
            prices.price("consumption_executions_per_million"),
            per=1e6,
            free=prices.allowance("consumption_executions"),
        ),
        metered(
            "Execution time",
            usage.requests * seconds * memory_gb,
            "GB-s",
            prices.price("consumption_gb_second"),
            free=prices.allowance("consumption_gb_seconds"),
        ),
    ]


def flex_size_mb(memory_mb: int) -> int:
    """The smallest Flex Consumption instance size that holds ``memory_mb``."""
    return next((size for size in FLEX_SIZES_MB if size >= memory_mb), FLEX_SIZES_MB[-1])


def _flex(usage: Usage, prices: PriceTable) -> list[LineItem]:
    seconds = max(usage.duration_ms, prices.price("flex_min_ms")) / 1000
    return [
        metered(
            "Executions",
            usage.requests,
            "execution",
            prices.price("flex_executions_per_million"),
            per=1e6,
            free=prices.allowance("flex_executions"),
        ),
        metered(
            "On-demand execution time",
            usage.requests * seconds * flex_size_mb(usage.memory_mb) / 1024,
            "GB-s",
            prices.price("flex_gb_second"),
            free=prices.allowance("flex_gb_seconds"),
        ),
    ]


def estimate(usage: Usage, prices: PriceTable) -> list[Estimate]:
    """The month of ``usage`` on Azure: the Consumption plan and the Flex Consumption plan."""
    store = _cosmos(usage, prices)
    monthly = prices.always_on_hourly * HOURS_PER_MONTH
    consumption_notes = ("Consumption gives an app at most 1536 MB",) if usage.memory_mb > 1536 else ()
    return [
        Estimate(
            "azure",
            CONSUMPTION,
            (*_consumption(usage, prices), *store),
            prices.always_on,
            monthly,
            consumption_notes,
        ),
        Estimate(
            "azure",
            FLEX,
            (*_flex(usage, prices), *store),
            prices.always_on,
            monthly,
            ("each execution billed alone: an upper bound when executions share an instance",),
        ),
    ]
