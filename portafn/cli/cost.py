"""``portafn cost MODULE:APP --requests N/month --duration-ms D --memory MB``: a month's cost per provider."""

from __future__ import annotations

import argparse
import re
from typing import Any

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}


def parse_count(text: str) -> float:
    """``5000000``, ``5M``, ``2.5k`` or ``5M/month`` as a number."""
    match = re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmMbB]?)\s*(?:/\s*month)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count such as 5000000, 5M or 5M/month")
    return float(match.group(1).replace(",", "").replace("_", "")) * _SUFFIXES[match.group(2).lower()]


def parse_ops(text: str) -> tuple[float, float]:
    """``READS,WRITES`` per request, for example ``2,1``."""
    parts = text.split(",")
    try:
        reads, writes = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected READS,WRITES per request, for example 2,1"
        ) from None
    if reads < 0 or writes < 0:
        raise argparse.ArgumentTypeError("store operations cannot be negative")
    return reads, writes


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "cost", help="estimate a month's cost per provider and the break-even against an always-on instance"
    )
    p.add_argument("app", metavar="MODULE:APP")
    p.add_argument("--requests", required=True, type=parse_count, metavar="N/month")
    p.add_argument(
        "--duration-ms", required=True, type=float, metavar="D", help="mean duration of one request"
    )
    p.add_argument("--memory", required=True, type=int, metavar="MB")
    p.add_argument(
        "--store-ops",
        type=parse_ops,
        default=None,
        metavar="READS,WRITES",
        help="table reads and writes per request on items up to 1 KB (default 0,0 when the app has no table, else 1,1)",
    )
    p.add_argument("--storage-gb", type=float, default=0.0, metavar="GB")
    p.add_argument("--provider", action="append", metavar="NAME", help="only this provider (repeatable)")
    p.add_argument(
        "--always-on",
        type=float,
        default=None,
        metavar="USD",
        help="monthly price of the instance to compare with",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print each provider plan's month and its break-even point."""
    from portafn.cli.loading import AppLoadError, load_app
    from portafn.cli.main import CliError
    from portafn.cost import Usage, break_even, estimates
    from portafn.cost.registry import plan_estimator
    from portafn.cost.report import render

    try:
        app = load_app(args.app)
    except AppLoadError as exc:
        raise CliError(str(exc)) from None
    reads, writes = (
        args.store_ops if args.store_ops is not None else ((1.0, 1.0) if app.tables else (0.0, 0.0))
    )
    try:
        usage = Usage(
            requests=args.requests,
            duration_ms=args.duration_ms,
            memory_mb=args.memory,
            reads=reads,
            writes=writes,
            storage_gb=args.storage_gb,
            http=bool(app.by_kind("http")),
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(
        f"{app.name}: {usage.requests:,.0f} requests/month, {usage.duration_ms:g} ms, {usage.memory_mb} MB, "
        f"{reads:g} reads + {writes:g} writes per request, {usage.storage_gb:g} GB stored"
        + (", over HTTP" if usage.http else "")
    )
    for table, plans in estimates(usage, args.provider):
        for plan in plans:
            monthly = plan.always_on_monthly if args.always_on is None else args.always_on
            point = break_even(usage, plan_estimator(table.provider, plan.plan, table), monthly)
            print()
            for line in render(table, plan, point, monthly):
                print(line)
    return 0
