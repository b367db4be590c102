"""``portafn test``: the contract suite's short form, pytest with the provider and store matrix."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "test",
        help="run pytest on every selected provider and store",
        description="Runs pytest with --portafn-providers and --portafn-stores; other arguments go to pytest.",
    )
    p.add_argument("--providers", help="comma-separated (default: every installed provider)")
    p.add_argument("--stores", default="sqlite", help="comma-separated store names or URLs (default: sqlite)")
    p.add_argument("--report", help="directory for report.json and report.md")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest (paths, -k, -x, ...)")
    p.set_defaults(run=run)


def pytest_argv(args: argparse.Namespace) -> list[str]:
    """The pytest command line this invocation stands for."""
    from portafn.plugins import LOCAL, runtimes

    providers = args.providers or ",".join(p for p in runtimes() if p != LOCAL) or LOCAL
    argv = ["--portafn-providers", providers, "--portafn-stores", args.stores]
    if args.report:
        argv += ["--portafn-report", args.report]
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return argv + extra


def run(args: argparse.Namespace) -> int:
    """Run pytest in this process and return its exit status."""
    from portafn.cli.main import CliError

    try:
        import pytest
    except ModuleNotFoundError:
        raise CliError("portafn test needs pytest: pip install pytest") from None
    use_working_directory()
    return int(pytest.main(pytest_argv(args)))


def use_working_directory() -> None:
    """Let tests import the user's package from the current directory, as ``python -m pytest`` does.

    The console script's ``sys.path`` starts with its own bin directory, not the working directory.
    """
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if cwd not in parts:
        # Subprocesses the tests start (a provider's runtime) import it the same way.
        os.environ["PYTHONPATH"] = os.pathsep.join([cwd, *parts])
