"""The Google Cloud plan's month for ``portafn cost``: Cloud Run functions (request-based) with Firestore.

Billing rules applied: billable time is rounded up to 100 ms and charged per vCPU-second and
GiB-second, the vCPU following the memory as Cloud Functions assigns it by default; Firestore
charges per document read and written beyond a daily free quota, scaled here to a 730-hour month.
"""

from __future__ import annotations

import math

from portafn.cost.model import DAYS_PER_MONTH, HOURS_PER_MONTH, Estimate, Usage, metered
from portafn.cost.prices import PriceTable, load_prices

PLAN = "Cloud Run functions + Firestore"
# Memory (MB) -> the vCPU a function gets by default at that memory, smallest tier that fits.
VCPU_BY_MEMORY_MB = (
    (128, 0.083),
    (256, 0.167),
    (512, 0.333),
    (1024, 0.583),
    (2048, 1.0),
    (4096, 2.0),
    (8192, 2.0),
    (16384, 4.0),
    (32768, 8.0),
)


def prices() -> PriceTable:
    """The Google Cloud price table shipped with this adapter."""
    return load_prices("gcp", __package__ or "portafn_gcp")


def vcpu_for(memory_mb: int) -> float:
    """The default vCPU of a function with ``memory_mb``."""
    return next((cpu for size, cpu in VCPU_BY_MEMORY_MB if size >= memory_mb), VCPU_BY_MEMORY_MB[-1][1])


def estimate(usage: Usage, prices: PriceTable) -> list[Estimate]:
    """The month of ``usage`` on Google Cloud (one plan)."""
    n = usage.requests
    step = prices.price("billing_step_ms")
    seconds = math.ceil(usage.duration_ms / step) * step / 1000
    items = (
        metered(
            "Requests",
            n,
            "request",
            prices.price("requests_per_million"),
            per=1e6,
            free=prices.allowance("requests"),
        ),
        metered(
            "CPU time",
            n * seconds * vcpu_for(usage.memory_mb),
            "vCPU-s",
            prices.price("vcpu_second"),
            free=prices.allowance("vcpu_seconds"),
        ),
        metered(
            "Memory time",
            n * seconds * usage.memory_mb / 1024,
            "GiB-s",
            prices.price("gib_second"),
            free=prices.allowance("gib_seconds"),
        ),
        metered(
            "Firestore reads",
            n * usage.reads,
            "document",
            prices.price("firestore_reads_per_100k"),
            per=1e5,
            free=prices.allowance("firestore_reads_daily") * DAYS_PER_MONTH,
            part="store",
        ),
        metered(
            "Firestore writes",
            n * usage.writes,
            "document",
            prices.price("firestore_writes_per_100k"),
            per=1e5,
            free=prices.allowance("firestore_writes_daily") * DAYS_PER_MONTH,
            part="store",
        ),
        metered(
            "Firestore storage",
            usage.storage_gb,
            "GiB-month",
            prices.price("firestore_storage_gib_month"),
            free=prices.allowance("firestore_storage_gib"),
            part="store",
        ),
    )
    return [
        Estimate(
            provider="gcp",
            plan=PLAN,
            items=items,
            always_on=prices.always_on,
            always_on_monthly=prices.always_on_hourly * HOURS_PER_MONTH,
            notes=("the daily Firestore free quota counts only if traffic is spread evenly over the month",),
        )
    ]
