"""``portafn check MODULE:APP --store URL``: what the app needs that a store, or a provider with it, lacks."""

from __future__ import annotations

import argparse
from typing import Any

from portafn.capcheck import check, provider_gaps, required
from portafn.cli.loading import AppLoadError, load_app
from portafn.store.capabilities import Capabilities


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "check", help="check an app's tables against a store's capabilities"
    )
    p.add_argument("app", metavar="MODULE:APP")
    p.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="store URL: memory://, sqlite:///PATH, or a scheme an installed adapter declares",
    )
    p.add_argument(
        "--provider",
        action="append",
        metavar="NAME",
        help="judge the store with this provider (repeatable; default: every installed provider)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print each table's needs and any gap; exit 1 if the store lacks something."""
    from portafn.cli.main import CliError
    from portafn.plugins import LOCAL, runtimes
    from portafn.store.registry import StoreConfigError, store_class

    try:
        app = load_app(args.app)
        cls = store_class(args.store)
    except (AppLoadError, StoreConfigError) as exc:
        raise CliError(str(exc)) from None
    # The class declares capabilities; nothing is opened or contacted.
    capabilities = getattr(cls, "capabilities", None)
    if not isinstance(capabilities, Capabilities):
        raise CliError(
            f"{cls.scheme}:// declares its capabilities only per instance; its store must declare them on the class"
        )
    for table, needs in required(app).items():
        listed = ", ".join(f"{c.value} ({why})" for c, why in needs.items()) or "only the portable core"
        print(f"table {table}: needs {listed}")
    gaps = check(app, capabilities)
    for gap in gaps:
        print(f"MISSING: {cls.scheme} lacks {gap.capability.value} for table {gap.table} ({gap.reason})")
    if not gaps:
        print(f"ok: {cls.scheme} offers everything {app.name} needs")
    chosen = args.provider or [p for p in runtimes() if p != LOCAL]
    missing = 0
    for name, reasons in provider_gaps(app, cls.scheme, chosen).items():
        for reason in reasons:
            print(f"MISSING on {name} x {cls.scheme}: {reason}")
        if not reasons:
            print(f"ok on {name} x {cls.scheme}")
        missing += len(reasons)
    missing += report_settings(app, chosen)
    return 1 if gaps or missing else 0


def report_settings(app: Any, chosen: list[str]) -> int:
    """Print where each declared setting comes from and each one missing here; the count missing.

    A required field is looked for in the environment and ``.env``; a secret that a chosen
    provider resolves from its own store is named with that store's name, not looked up.
    """
    from portafn.plugins import provider
    from portafn.settings import app_settings

    missing = 0
    for handle in app_settings(app):
        for field in handle.missing():
            print(
                f"MISSING setting {field.field} of {handle.model.__name__}: set environment variable {field.env} (or .env) to run it here"
            )
            missing += 1
        for field in handle.secrets:
            assert field.secret is not None
            for name in chosen:
                how = "its secret store" if provider(name).secrets else f"environment variable {field.env}"
                print(f"secret {field.field} on {name}: {field.secret.kind} {field.secret.name!r} via {how}")
    return missing
