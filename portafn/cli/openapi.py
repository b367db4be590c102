"""``portafn openapi MODULE:APP``: write the app's OpenAPI 3.1 document."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from portafn.cli.loading import AppLoadError, load_app


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("openapi", help="write an app's OpenAPI 3.1 document")
    p.add_argument("app", metavar="MODULE:APP")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    p.add_argument("--title", help="info.title (default: the app's name)")
    p.add_argument("--version", default="0.1.0", help="info.version (default: 0.1.0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the document as JSON."""
    from portafn.cli.main import CliError
    from portafn.openapi import build

    try:
        app = load_app(args.app)
    except AppLoadError as exc:
        raise CliError(str(exc)) from None
    text = json.dumps(build(app, title=args.title, version=args.version), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"portafn: wrote {args.output}", file=sys.stderr)
    return 0
