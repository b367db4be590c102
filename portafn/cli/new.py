"""``portafn new NAME``: write a starter project (app, test, pyproject with the plugin set up, README)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("new", help="write a starter project in a new directory")
    p.add_argument("name", help="the project (and directory) name; its package is the name with '_' for '-'")
    p.add_argument("--dir", default=".", help="where to create it (default: the current directory)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the files and say what to do next."""
    from portafn.cli.main import CliError
    from portafn.starter import StarterError, write

    try:
        root = write(args.name, Path(args.dir))
    except StarterError as exc:
        raise CliError(str(exc)) from None
    print(f"portafn: wrote {root}; next: cd {root} && portafn test")
    return 0
