"""``portafn package MODULE:APP --provider NAME --out DIR``: build what the provider deploys."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "package", help="build the deployable artifacts and templates for one provider"
    )
    p.add_argument("app", metavar="MODULE:APP")
    p.add_argument("--provider", required=True, help="an installed provider with a packager")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--python", choices=("3.11", "3.12", "3.13"), help="target CPython (default: this one)")
    p.add_argument("--arch", choices=("x86_64", "arm64"), help="target CPU (default x86_64)")
    p.add_argument(
        "-r",
        "--requirements",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="the app's own dependencies (requirements.txt), repeatable",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build, print the size report; errors become one clear line (exit 2)."""
    from portafn.cli.loading import AppLoadError
    from portafn.cli.main import CliError
    from portafn.package import PackageError, package

    try:
        result = package(
            args.app,
            args.provider,
            args.out,
            python=args.python,
            arch=args.arch,
            requirements=args.requirements,
        )
    except (AppLoadError, PackageError) as exc:
        raise CliError(str(exc)) from None
    print(result.report())
    return 0
