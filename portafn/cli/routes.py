"""``portafn routes MODULE:APP``: list every function and what triggers it."""

from __future__ import annotations

import argparse
from typing import Any

from portafn.app import Function
from portafn.cli.loading import AppLoadError, load_app
from portafn.triggers import (
    ChangesTrigger,
    EventTrigger,
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    TopicTrigger,
)


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("routes", help="list an app's functions and triggers")
    p.add_argument("app", metavar="MODULE:APP")
    p.set_defaults(run=run)


def describe(fn: Function) -> str:
    """One line saying what triggers ``fn``."""
    t = fn.trigger
    if isinstance(t, HttpTrigger):
        return f"{t.method} {t.path.template}"
    if isinstance(t, QueueTrigger):
        return f"queue {t.queue}"
    if isinstance(t, TopicTrigger):
        return f"topic {t.topic}"
    if isinstance(t, ScheduleTrigger):
        return f"cron {t.cron.expression} (UTC)"
    if isinstance(t, StorageTrigger):
        return f"storage {t.bucket} on {t.on}"
    if isinstance(t, ChangesTrigger):
        return f"changes of table {t.table.name}"
    if isinstance(t, EventTrigger):
        return f"event {t.type}"
    raise AssertionError(t)


def run(args: argparse.Namespace) -> int:
    """Print one row per function: kind, trigger, name."""
    from portafn.cli.main import CliError

    try:
        app = load_app(args.app)
    except AppLoadError as exc:
        raise CliError(str(exc)) from None
    rows = [(fn.kind, describe(fn), fn.name) for fn in app.functions.values()]
    widths = [
        max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("KIND", "TRIGGER", "FUNCTION"))
    ]
    for row in [("KIND", "TRIGGER", "FUNCTION"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
