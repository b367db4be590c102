"""The AWS plan's month for ``portafn cost``: Lambda, the HTTP API and DynamoDB on demand.

Billing rules applied: Lambda bills duration rounded up to the millisecond at the configured
memory; an HTTP API request up to 512 KB is one request; DynamoDB's model here is one read unit per
strongly consistent read of an item up to 4 KB and one write unit per write of an item up to 1 KB.
"""

from __future__ import annotations

import math

from portafn.cost.model import HOURS_PER_MONTH, Estimate, LineItem, Usage, metered
from portafn.cost.prices import PriceTable, load_prices

PLAN = "Lambda + HTTP API + DynamoDB on-demand"


def prices() -> PriceTable:
    """The AWS price table shipped with this adapter."""
    return load_prices("aws", __package__ or "portafn_aws")


def estimate(usage: Usage, prices: PriceTable) -> list[Estimate]:
    """The month of ``usage`` on AWS (one plan)."""
    n = usage.requests
    gb_seconds = n * math.ceil(usage.duration_ms) / 1000 * usage.memory_mb / 1024
    items: list[LineItem] = [
        metered(
            "Lambda requests",
            n,
            "request",
            prices.price("lambda_requests_per_million"),
            per=1e6,
            free=prices.allowance("lambda_requests"),
        ),
        metered(
            "Lambda duration",
            gb_seconds,
            "GB-s",
            prices.price("lambda_gb_second"),
            free=prices.allowance("lambda_gb_seconds"),
        ),
    ]
    if usage.http:
        items.append(
            metered("HTTP API requests", n, "request", prices.price("http_api_requests_per_million"), per=1e6)
        )
    items += [
        metered(
            "DynamoDB reads",
            n * usage.reads,
            "RRU",
            prices.price("dynamodb_read_units_per_million"),
            per=1e6,
            part="store",
        ),
        metered(
            "DynamoDB writes",
            n * usage.writes,
            "WRU",
            prices.price("dynamodb_write_units_per_million"),
            per=1e6,
            part="store",
        ),
        metered(
            "DynamoDB storage",
            usage.storage_gb,
            "GB-month",
            prices.price("dynamodb_storage_gb_month"),
            free=prices.allowance("dynamodb_storage_gb"),
            part="store",
        ),
    ]
    notes: tuple[str, ...] = ()
    if usage.memory_mb > 10240:
        notes = ("Lambda offers at most 10240 MB",)
    return [
        Estimate(
            provider="aws",
            plan=PLAN,
            items=tuple(items),
            always_on=prices.always_on,
            always_on_monthly=prices.always_on_hourly * HOURS_PER_MONTH,
            notes=notes,
        )
    ]
