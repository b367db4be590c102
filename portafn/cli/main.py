"""``portafn``: entry point. Each subcommand lives in its own module with a ``register`` function."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from portafn.errors import PortafnError
from portafn.plugins import PluginError

# Subcommand modules, in the order ``portafn --help`` lists them. A module that cannot be imported
# (an optional adapter missing) is left out of the help rather than breaking the whole command.
COMMANDS = (
    "portafn.cli.new",
    "portafn.cli.routes",
    "portafn.cli.invoke",
    "portafn.cli.serve",
    "portafn.cli.openapi",
    "portafn.cli.check",
    "portafn.cli.conformance",
    "portafn.cli.test",
    "portafn.cli.dev",
    "portafn.cli.package",
    "portafn.cli.cost",
    "portafn.cli.project",
)


class CliError(Exception):
    """An error the CLI reports as one line, with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="portafn", description="Run one function on every cloud.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CliError as exc:
        print(f"portafn: {exc}", file=sys.stderr)
        return 2
    except (PortafnError, PluginError) as exc:
        # A user's mistake (a bad registration, a missing adapter) is one line, never a traceback.
        print(f"portafn: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
