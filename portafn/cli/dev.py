"""``portafn dev up [SERVER ...]``: start local stand-ins for cloud services until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from portafn.dev.process import ServerError
from portafn.dev.servers import RunningServer, ensure_installed, known, start


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("dev", help="local stand-ins for cloud services")
    dev = p.add_subparsers(dest="dev_command", required=True, metavar="ACTION")
    up = dev.add_parser("up", help="start servers and print the environment that points clients at them")
    up.add_argument(
        "servers", nargs="*", help="which to start (default: every server the installed adapters declare)"
    )
    up.set_defaults(run=run_up)
    inst = dev.add_parser("install", help="fetch what the local servers need (jars, npm packages, emulators)")
    inst.add_argument("servers", nargs="*", help="which (default: all)")
    inst.set_defaults(run=run_install)


def run_up(args: argparse.Namespace) -> int:
    """Start the servers, print their environment, wait for Ctrl-C or SIGTERM, stop them."""
    from portafn.cli.main import CliError

    names = args.servers or known()
    running: list[RunningServer] = []
    try:
        for name in names:
            print(f"portafn dev: starting {name} ...", file=sys.stderr, flush=True)
            ensure_installed(name)  # downloads go to the user cache (portafn.dev.cache)
            server = start(name)
            running.append(server)
            for key, value in server.env.items():
                print(f"export {key}={value}")
            if server.store_url:
                print(f"# PORTAFN_STORE={server.store_url}")
        print("portafn dev: ready; Ctrl-C stops everything", file=sys.stderr, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
    except (ServerError, ValueError) as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        pass
    finally:
        for server in reversed(running):
            server.stop()
    return 0


def run_install(args: argparse.Namespace) -> int:
    """Install what each named server needs."""
    from portafn.cli.main import CliError
    from portafn.dev.install import main

    if main(args.servers or None):
        raise CliError("portafn dev install failed; see the line above")
    return 0
