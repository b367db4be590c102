"""The local servers ``portafn dev up`` and the test harness start, by name.

Each provider plugin declares its servers (``portafn.plugins.Provider.servers``): a module with
``start(log_dir: Path | None = None) -> RunningServer`` and ``install() -> None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from portafn.dev.process import ManagedProcess


@dataclass
class RunningServer:
    """A started server: its process, the environment a client needs, and a store URL if it is a store."""

    name: str
    process: ManagedProcess
    env: dict[str, str] = field(default_factory=dict)
    store_url: str | None = None
    endpoint: str | None = None

    def stop(self) -> None:
        """Stop the server process."""
        self.process.stop()


def known() -> list[str]:
    """The names of every server an installed provider declares."""
    from portafn.plugins import all_servers

    return sorted(all_servers())


def start(name: str, log_dir: Path | None = None) -> RunningServer:
    """Start the server called ``name`` and wait until it answers."""
    from portafn.plugins import PluginError, load, server_module

    try:
        module = load(server_module(name))
    except PluginError as exc:
        raise ValueError(str(exc)) from None
    server: RunningServer = module.start(log_dir)
    return server


def ensure_installed(name: str) -> None:
    """Install what server ``name`` needs if it says it lacks it (``portafn dev up`` does this)."""
    from portafn.plugins import load, server_module

    module = load(server_module(name))
    check = getattr(module, "installed", None)
    if callable(check) and not check():
        module.install()


def install(names: list[str] | None = None) -> None:
    """Fetch what the named servers (default: all) need; each prints one line of progress."""
    from portafn.plugins import load, server_module

    for name in names or known():
        load(server_module(name)).install()
