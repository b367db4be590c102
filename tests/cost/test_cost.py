"""The cost model against a hand calculation from the published list prices (docs/cost.md's example).

The example: 5,000,000 HTTP requests a month, 120 ms each at 512 MB, 2 reads and 1 write of items up
to 1 KB per request, 1 GB stored. Every expected number below is worked out by hand from the price
tables' values (which are the providers' list prices as recorded in adapters/*/prices.toml).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from portafn.cli.cost import parse_count, parse_ops
from portafn.cost import Usage, break_even, estimates, pricing_providers
from portafn.cost.prices import PriceTableError, parse_prices
from portafn.cost.registry import plan_estimator, pricing

EXAMPLE = Usage(
    requests=5_000_000, duration_ms=120, memory_mb=512, reads=2, writes=1, storage_gb=1, http=True
)


def _plans() -> dict[str, float]:
    return {plan.plan: plan.total for _, plans in estimates(EXAMPLE) for plan in plans}


def test_every_adapter_prices_its_plans() -> None:
    assert pricing_providers() == ["aws", "azure", "gcp"]


def test_aws_example_matches_the_hand_calculation() -> None:
    # Lambda requests: (5,000,000 - 1,000,000 free) x $0.20 / 1M            = 0.80
    # Lambda duration: 5,000,000 x 0.120 s x 0.5 GB = 300,000 GB-s < 400,000 free = 0.00
    # HTTP API:        5,000,000 x $1.00 / 1M                                 = 5.00
    # DynamoDB reads:  10,000,000 RRU x $0.125 / 1M                           = 1.25
    # DynamoDB writes: 5,000,000 WRU x $0.625 / 1M                            = 3.125
    # storage:         1 GB < 25 GB free                                      = 0.00
    hand = 0.80 + 0.0 + 5.00 + 1.25 + 3.125 + 0.0
    assert _plans()["Lambda + HTTP API + DynamoDB on-demand"] == pytest.approx(hand, abs=1e-9)


def test_azure_example_matches_the_hand_calculation() -> None:
    # Consumption executions: (5,000,000 - 1,000,000) x $0.20 / 1M          = 0.80
    # execution time: 5,000,000 x 0.120 s x 0.5 GB = 300,000 GB-s < 400,000  = 0.00
    # Cosmos RU: 5,000,000 x (2 x 1 RU + 1 x 5 RU) = 35,000,000 x $0.25 / 1M = 8.75
    # Cosmos storage: 1 GB x $0.25 (serverless has no free tier)           = 0.25
    consumption = 0.80 + 0.0 + 8.75 + 0.25
    # Flex executions: (5,000,000 - 250,000) x $0.40 / 1M                    = 1.90
    # Flex time: 5,000,000 x max(0.120, 1.0) s x 0.5 GB (512 MB instance)
    #            = 2,500,000 GB-s - 100,000 free = 2,400,000 x $0.000026     = 62.40
    flex = 1.90 + 62.40 + 8.75 + 0.25
    plans = _plans()
    assert plans["Functions Consumption + Cosmos DB serverless"] == pytest.approx(consumption, abs=1e-9)
    assert plans["Functions Flex Consumption + Cosmos DB serverless"] == pytest.approx(flex, abs=1e-9)


def test_gcp_example_matches_the_hand_calculation() -> None:
    # requests: (5,000,000 - 2,000,000) x $0.40 / 1M                         = 1.20
    # billable time: 120 ms rounded up to 200 ms; 512 MB gets 0.333 vCPU
    # CPU: 5,000,000 x 0.2 x 0.333 = 333,000 - 180,000 = 153,000 x $0.000024 = 3.672
    # memory: 5,000,000 x 0.2 x 0.5 = 500,000 - 360,000 = 140,000 x $0.0000025 = 0.35
    # a month is 730 h = 30.41666... days
    # reads: 10,000,000 - 50,000 x 30.41666 = 8,479,166.67 x $0.06 / 100k    = 5.0875
    # writes: 5,000,000 - 20,000 x 30.41666 = 4,391,666.67 x $0.18 / 100k    = 7.905
    # storage: 1 GiB, 1 GiB free                                            = 0.00
    hand = 1.20 + 3.672 + 0.35 + 5.0875 + 7.905
    assert _plans()["Cloud Run functions + Firestore"] == pytest.approx(hand, abs=1e-9)


def test_aws_break_even_matches_the_hand_formula() -> None:
    # Above 6,666,667 requests the GB-s exceed the free 400,000, so compute(N) =
    #   0.2e-6 (N - 1e6) + 1.0e-6 N + 0.0000166667 (0.06 N - 400,000)
    # and the t4g.small costs 0.0168 x 730 = 12.264 a month. Solving compute(N) = 12.264:
    rate = 0.2e-6 + 1.0e-6 + 0.0000166667 * 0.06
    hand = (12.264 + 0.2 + 0.0000166667 * 400_000) / rate
    table = pricing("aws").prices()
    point = break_even(EXAMPLE, plan_estimator("aws", "Lambda + HTTP API + DynamoDB on-demand", table))
    assert point is not None
    assert abs(point - hand) <= 1


def test_break_even_is_none_when_the_instance_never_wins() -> None:
    table = pricing("aws").prices()
    tiny = Usage(requests=1, duration_ms=1, memory_mb=128, http=False)
    assert (
        break_even(tiny, plan_estimator("aws", "Lambda + HTTP API + DynamoDB on-demand", table), 1e12) is None
    )


def test_price_tables_carry_version_date_and_sources() -> None:
    for name in pricing_providers():
        table = pricing(name).prices()
        assert table.version
        assert table.taken
        assert table.currency == "USD"
        assert table.sources
        assert all(url.startswith("https://") for url in table.sources.values())
        assert "check" in table.note


def test_a_malformed_price_table_is_refused_by_name() -> None:
    with pytest.raises(PriceTableError, match="lacks 'version'"):
        parse_prices("toy", {"sources": {}, "prices": {}, "always_on": {"name": "x", "hourly": 1}})
    with pytest.raises(PriceTableError, match=r"prices\.a must be a number"):
        parse_prices(
            "toy",
            {
                "version": "1",
                "taken": "d",
                "currency": "USD",
                "region": "r",
                "sources": {},
                "prices": {"a": "cheap"},
                "always_on": {"name": "x", "hourly": 1},
            },
        )


def test_counts_and_ops_parse() -> None:
    assert parse_count("5M/month") == 5_000_000
    assert parse_count("2.5k") == 2500
    assert parse_count("1,000,000") == 1_000_000
    assert parse_ops("2,1") == (2.0, 1.0)
    with pytest.raises(Exception, match="not a count"):
        parse_count("many")


def test_cli_prints_a_table_per_plan_and_the_break_even() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "portafn.cli.main",
            "cost",
            "samples.orders.app:app",
            "--requests",
            "5M/month",
            "--duration-ms",
            "120",
            "--memory",
            "512",
            "--store-ops",
            "2,1",
            "--storage-gb",
            "1",
            "--provider",
            "aws",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Lambda + HTTP API + DynamoDB on-demand" in out
    assert "10.18" in out
    assert "break-even against EC2 t4g.small" in out
    assert "azure" not in out


def test_pricing_loads_no_cloud_sdk() -> None:
    code = (
        "import sys; from portafn.cost import estimates, Usage; "
        "estimates(Usage(requests=1, duration_ms=1, memory_mb=128)); "
        "bad = [m for m in ('boto3', 'botocore', 'azure.cosmos', 'google.cloud.firestore') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
