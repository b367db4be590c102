"""``portafn project rebuild MODULE:APP VIEW``: rebuild a projection's views from every stream (or,
for a table projection, from the source table's current items)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "project", help="manage projections (read models kept from event streams or tables)"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r: argparse.ArgumentParser = actions.add_parser(
        "rebuild", help="clear a projection's views and checkpoints and replay every stream (or table item)"
    )
    r.add_argument("app", metavar="MODULE:APP")
    r.add_argument(
        "view", metavar="VIEW", help="the projection's name, or the name of a view table only it keeps"
    )
    r.add_argument(
        "--store", metavar="URL", help="the store (default: PORTAFN_STORE, else the local SQLite file)"
    )
    r.add_argument("--quiet", action="store_true", help="print the summary line only")
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Rebuild and print one line per stream, then a summary."""
    from contextlib import nullcontext

    from portafn.cli.loading import AppLoadError, load_app
    from portafn.cli.main import CliError
    from portafn.projections import Projection, RebuildProgress, TableProjection, rebuild
    from portafn.store.registry import open_store, use_store

    try:
        app = load_app(args.app)
        projection = Projection.of(app, args.view)
    except (AppLoadError, LookupError) as exc:
        raise CliError(str(exc).strip("'\"")) from None

    table = isinstance(projection, TableProjection)
    streams, events = ("items", "changes") if table else ("streams", "events")

    def show(step: RebuildProgress) -> None:
        if not args.quiet:
            done = f"{step.done}/{step.total}" if step.total else str(step.done)
            print(f"[{done}] {step.stream_id}: {step.applied} {events}", file=sys.stderr)

    store = open_store(args.store) if args.store else None
    with use_store(store) if store is not None else nullcontext():
        print(
            f"rebuilding {projection.name} ({', '.join(v.name for v in projection.views)})", file=sys.stderr
        )
        result = rebuild(projection, show)
    print(f"rebuilt {projection.name}: {result.streams} {streams}, {result.events} {events} applied")
    return 0
