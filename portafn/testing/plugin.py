"""The portafn pytest plugin (registered through the ``pytest11`` entry point).

A test that takes the ``portafn_client`` fixture runs once per selected (provider, store) pair,
and a test that takes only ``portafn_store`` runs once per selected store:

    pytest --portafn-providers aws,azure,gcp --portafn-stores sqlite,dynamodb,cosmos,firestore

The user's conftest provides the app with a ``portafn_app`` fixture. The plugin starts the servers
the selected stores need (the same code as ``portafn dev up``), clears the app's tables before each
test, stops the servers at the end, and prints a portability report (also written as JSON and
Markdown under ``--portafn-report``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portafn.app import App
from portafn.testing.client import Client, LocalClient
from portafn.testing.drivers import make_driver
from portafn.testing.report import MatrixReport

_REPORT = pytest.StashKey[MatrixReport]()
_UNSUPPORTED = pytest.StashKey[list[BaseException]]()
_SERVERS = pytest.StashKey[dict[str, Any]]()


@dataclass(frozen=True, slots=True)
class Target:
    """One cell of the matrix."""

    provider: str
    store: str

    @property
    def id(self) -> str:
        """The pytest id of this cell (a store given as a URL is named by its scheme)."""
        return f"{self.provider}-{self.store.split('://')[0]}"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The matrix selection options."""
    group = parser.getgroup("portafn", "portafn provider x store matrix")
    group.addoption("--portafn-providers", help="comma-separated providers (local and any installed adapter)")
    group.addoption(
        "--portafn-stores",
        help="comma-separated stores (memory, sqlite, a scheme an installed adapter declares, or a URL)",
    )
    group.addoption(
        "--portafn-report", help="directory for report.json and report.md (default .portafn/report)"
    )
    parser.addini("portafn_providers", "default providers for portafn_client", default="local")
    parser.addini("portafn_stores", "default stores for portafn_client", default="memory")


def _selected(config: pytest.Config, name: str) -> list[str]:
    raw = config.getoption(f"--portafn-{name}") or config.getini(f"portafn_{name}")
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def pytest_configure(config: pytest.Config) -> None:
    """Set up the report, and note the runner's environment (what an out-of-process app is not
    given unless it declares it: ``portafn.testing.app_env``)."""
    from portafn.testing import app_env

    app_env.snapshot()
    config.stash[_REPORT] = MatrixReport()
    config.stash[_SERVERS] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that uses ``portafn_client`` (or ``portafn_target`` alone) over the
    selected matrix, and every test that uses ``portafn_store`` without the client over the selected
    stores (each fixture works on its own)."""
    names = set(metafunc.fixturenames)
    if "portafn_store" in names and "portafn_client" not in names:
        # No provider is involved: a store test (the conformance suite, say) runs once per store.
        targets = [Target("local", s) for s in _selected(metafunc.config, "stores")]
        ids = [t.store.split("://")[0] for t in targets]
    elif names & {"portafn_client", "portafn_target"}:
        targets = [
            Target(p, s)
            for p in _selected(metafunc.config, "providers")
            for s in _selected(metafunc.config, "stores")
        ]
        ids = [t.id for t in targets]
    else:
        return
    metafunc.parametrize("portafn_target", targets, ids=ids, indirect=True)


@pytest.fixture
def portafn_target(request: pytest.FixtureRequest) -> Target:
    """The (provider, store) cell this test runs in."""
    target: Target = request.param
    return target


@pytest.fixture(scope="session")
def _portafn_stores(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    from portafn.store.port import Store

    opened: dict[str, Store] = {}
    yield opened  # filled lazily by _store_for, so only the stores a run selects are started
    for store in opened.values():
        store.close()
    for server in request.config.stash[_SERVERS].values():
        server.stop()


def _store_for(name: str, request: pytest.FixtureRequest, opened: dict[str, Any]) -> Any:
    from portafn.dev.process import ServerError
    from portafn.dev.servers import start
    from portafn.plugins import store_server
    from portafn.store.registry import open_store

    if name in opened:
        return opened[name]
    server_name = store_server(name)
    if name == "memory":
        url = "memory://"
    elif name == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='portafn-sqlite-')}/contract.db"
    elif server_name is not None:
        servers = request.config.stash[_SERVERS]
        try:
            server = servers.get(name) or start(server_name)
        except (ServerError, ValueError) as exc:
            pytest.fail(
                f"portafn: cannot start the {name} server for the contract suite: {exc}", pytrace=False
            )
        servers[name] = server
        os.environ.update(server.env)
        assert server.store_url is not None
        url = server.store_url
    elif "://" in name:
        url = name  # any store URL, a registered third-party store included
    else:
        pytest.fail(f"portafn: unknown store {name!r} in --portafn-stores", pytrace=False)
    opened[name] = open_store(url)
    return opened[name]


@pytest.fixture
def portafn_store(
    request: pytest.FixtureRequest, portafn_target: Target, _portafn_stores: dict[str, Any]
) -> Any:
    """The open store of this test's cell (started on first use, shared by the session)."""
    return _store_for(portafn_target.store, request, _portafn_stores)


@pytest.fixture
def portafn_client(
    request: pytest.FixtureRequest, portafn_target: Target, portafn_store: Any
) -> Iterator[Client]:
    """A client for the user's ``portafn_app`` through one provider's driver, on one store."""
    from portafn.store.registry import use_store

    try:
        app = request.getfixturevalue("portafn_app")
    except pytest.FixtureLookupError:
        pytest.fail("portafn: define a `portafn_app` fixture returning your App", pytrace=False)
    if not isinstance(app, App):
        pytest.fail(
            f"portafn: the portafn_app fixture returned {type(app).__name__}, not an App", pytrace=False
        )
    store = portafn_store
    try:
        driver = make_driver(portafn_target.provider, app)
    except LookupError as exc:
        pytest.fail(f"portafn: {exc}", pytrace=False)
    # follow_threads: a thread the test starts has no copy of the test's context, and must still
    # reach this cell's store rather than the process default.
    with use_store(store, follow_threads=True):
        for table in app.tables.values():
            store.ensure_table(table.spec)
            store.clear(table.spec)
        request.config.stash[_REPORT].note_app(app, portafn_target.store, store)
        client = Client(app, driver)
        # A handler's Unsupported becomes a 500 or a failed delivery; its log record still says
        # which capability was missing, for the cell's failure message.
        watcher = _UnsupportedWatcher()
        request.node.stash[_UNSUPPORTED] = watcher.seen
        logger = logging.getLogger("portafn")
        logger.addHandler(watcher)
        try:
            if portafn_target.provider == "local":
                # The local bus delivers what the app publishes in process, as `portafn serve` does.
                yield client
            else:
                # Elsewhere what the app publishes is kept for client.deliver_published(), which
                # delivers it through the provider's driver to the adapter's real entry point.
                with client.capture_published():
                    yield client
        finally:
            logger.removeHandler(watcher)


@pytest.fixture
def portafn_local() -> type[LocalClient]:
    """``portafn_local(app)`` gives an in-process ``LocalClient`` for ``app``."""
    return LocalClient


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Record each matrix cell's outcome for the report."""
    report = yield
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("portafn_target") if callspec else None
    if "portafn_client" not in getattr(item, "fixturenames", ()):
        target = None  # a store-only test is no cell of the provider x store matrix
    if isinstance(target, Target) and report.failed:
        seen = item.stash.get(_UNSUPPORTED, [])
        report.sections.append(("portafn cell", _cell_failure(target, call.excinfo, seen)))
    if isinstance(target, Target) and (report.when == "call" or report.failed or report.skipped):
        name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        item.config.stash[_REPORT].record(name, target.provider, target.store, report.outcome, report.when)
    return report


def _cell_failure(
    target: Target, excinfo: pytest.ExceptionInfo[BaseException] | None, seen: list[BaseException]
) -> str:
    """One line naming the provider, the store and, where it is one, the missing capability."""
    from portafn.store.errors import Unsupported

    line = f"failed on provider {target.provider!r} with store {target.store!r}"
    errors = [excinfo.value] if excinfo is not None else []
    missing = sorted({e.capability for e in [*errors, *seen] if isinstance(e, Unsupported)})
    if missing:
        line += f": the store lacks {', '.join(repr(m) for m in missing)}"
    return line


class _UnsupportedWatcher(logging.Handler):
    """Keeps the ``Unsupported`` errors logged by handlers during one test."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        from portafn.store.errors import Unsupported

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, Unsupported):
            self.seen.append(error)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the matrix and write it as JSON and Markdown."""
    report = config.stash.get(_REPORT, None)
    if report is None or not report.cells:
        return
    out_dir = Path(config.getoption("--portafn-report") or ".portafn/report")
    json_path, md_path = report.write(out_dir)
    terminalreporter.section("portafn portability report")
    for line in report.text_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {json_path} and {md_path}")
