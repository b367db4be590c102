"""``portafn conformance STORE_URL [--json FILE]``: prove a store against its own declaration."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "conformance",
        help="run the store conformance suite against a store URL",
        description=(
            "Run every conformance test that applies to the store at STORE_URL: the core, each claimed "
            "capability, and a check that each unclaimed capability raises Unsupported. Tables get a "
            "unique prefix and are cleared at the end. Exit status 0 when nothing failed, 1 otherwise."
        ),
    )
    p.add_argument(
        "url",
        metavar="STORE_URL",
        help="memory://, sqlite:///PATH, or a scheme an installed adapter declares",
    )
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    p.add_argument("--prefix", help="table-name prefix for this run (default: a random one)")
    p.add_argument("-k", dest="select", metavar="TEXT", help="run only rows whose id contains TEXT")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the suite, print the table, write JSON if asked; 0 when nothing failed."""
    from portafn.cli.main import CliError
    from portafn.conformance import Planned
    from portafn.conformance import run as run_suite
    from portafn.store.errors import StoreError
    from portafn.store.registry import StoreConfigError

    select: str | None = args.select

    def only(row: Planned) -> bool:
        return select is None or select in row.id

    try:
        report = run_suite(args.url, prefix=args.prefix, only=only if select else None)
    except (StoreConfigError, ValueError) as exc:
        raise CliError(str(exc)) from None
    except StoreError as exc:
        raise CliError(f"cannot use the store: {exc}") from None
    text = report.table()
    print(text.splitlines()[-1] if args.quiet else text)
    if args.json:
        try:
            report.write_json(args.json)
        except OSError as exc:
            raise CliError(f"cannot write {args.json}: {exc.strerror}") from None
    if not report.results:
        print("portafn: no conformance rows selected", file=sys.stderr)
        return 1
    return 0 if report.ok else 1
