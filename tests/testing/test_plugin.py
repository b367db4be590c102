"""The pytest plugin itself: matrix parametrization, store isolation, the report, clear failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

APP = """
import pytest
from pydantic import BaseModel
from portafn import App, Message

app = App("mini")

class Note(BaseModel):
    id: str
    text: str

notes = app.table(Note, partition_key="id")

@app.http("PUT", "/notes/{id}")
def put_note(id: str, body: Note) -> Note:
    notes.put(body)
    return body

@app.queue("notes-in")
def on_note(msg: Message[Note]) -> None:
    notes.insert(msg.data)

@pytest.fixture
def portafn_app():
    return app
"""

TESTS = """
from conftest import notes

def test_put(portafn_client):
    assert portafn_client.put("/notes/a", json={"id": "a", "text": "x"}).status == 200
    assert notes.get("a").text == "x"

def test_isolated(portafn_client):
    # Each test starts with empty tables, whatever ran before in the same store.
    assert notes.get("a") is None

def test_queue(portafn_client):
    assert portafn_client.send("notes-in", {"id": "q", "text": "y"}).ok
    assert not portafn_client.send("notes-in", {"id": "q", "text": "again"}).ok

def test_fails_only_on_sqlite(portafn_client, portafn_target):
    assert portafn_target.store != "sqlite"
"""


def test_matrix_runs_each_cell_and_reports_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_mini=TESTS)
    report_dir = pytester.path / "report"
    result = pytester.runpytest(
        "--portafn-providers",
        "local",
        "--portafn-stores",
        "memory,sqlite",
        "--portafn-report",
        str(report_dir),
    )
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*portafn portability report*",
            "*test_mini.py::test_fails_only_on_sqlite*pass*FAIL*",
            "*test_mini.py::test_put*pass*pass*",
        ]
    )
    data = json.loads((report_dir / "report.json").read_text())
    assert data["columns"] == ["local/memory", "local/sqlite"]
    assert data["tests"]["test_mini.py::test_fails_only_on_sqlite"] == {
        "local/memory": "passed",
        "local/sqlite": "failed",
    }
    assert set(data["capabilities"]) == {"memory", "sqlite"}
    markdown = (report_dir / "report.md").read_text()
    assert "| `test_mini.py::test_put` | pass | pass |" in markdown


STORE_ONLY = """
def test_store(portafn_store, portafn_target):
    assert portafn_target.provider == "local"
    assert portafn_store.name == portafn_target.store
"""


def test_a_store_only_test_runs_once_per_store_and_stays_out_of_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_s=STORE_ONLY)
    report_dir = pytester.path / "report"
    result = pytester.runpytest(
        "--portafn-providers",
        "local,aws",
        "--portafn-stores",
        "memory,sqlite",
        "--portafn-report",
        str(report_dir),
        "-v",
    )
    result.assert_outcomes(passed=2)  # once per store, whatever the providers
    result.stdout.fnmatch_lines(["*test_store?memory? PASSED*", "*test_store?sqlite? PASSED*"])
    assert not (report_dir / "report.json").exists()  # no provider x store cell was run


def test_missing_app_fixture_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(portafn_client):\n    pass\n")
    result = pytester.runpytest("--portafn-stores", "memory")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `portafn_app` fixture*"])


def test_unknown_provider_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_x="def test_x(portafn_client):\n    pass\n")
    result = pytester.runpytest("--portafn-providers", "nowhere", "--portafn-stores", "memory")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no portafn driver for provider 'nowhere'*"])


def test_check_command_names_table_and_capability(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from portafn.cli.main import main

    assert main(["check", "samples.orders.app:app", "--store", "sqlite:///x.db"]) == 0
    out = capsys.readouterr().out
    assert "table orders: needs change source (@app.changes function 'on_order_change')" in out
    assert "ok: sqlite offers everything orders needs" in out


def test_check_reports_provider_and_store_pairs_where_changes_never_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from portafn.cli.main import main

    assert main(["check", "tests.reliability.outbox_app:outbox_app", "--store", "cosmos://a/db"]) == 1
    out = capsys.readouterr().out
    assert "ok on azure x cosmos" in out
    assert "MISSING on aws x cosmos: @app.changes function 'portafn_outbox_relay" in out
    assert "MISSING on gcp x cosmos" in out
    assert main(["check", "samples.orders.app:app", "--store", "dynamodb://", "--provider", "aws"]) == 0
    assert "ok on aws x dynamodb" in capsys.readouterr().out


def test_check_reports_what_a_store_lacks() -> None:
    from portafn.capcheck import check
    from portafn.store.capabilities import Capabilities, Capability
    from samples.orders.app import app

    bare = Capabilities(supported=frozenset({Capability.CONDITIONAL_WRITES}))
    gaps = check(app, bare)
    assert [(g.table, g.capability) for g in gaps] == [("orders", Capability.CHANGE_SOURCE)]
    assert "on_order_change" in gaps[0].reason


NON_PORTABLE_APP = '''
import pytest
from dataclasses import replace
from pydantic import BaseModel
from portafn import App, HttpRequest
from portafn.store import Capability, transaction
from portafn.store.memory import MemoryStore
from portafn.store.registry import register_store


@register_store
class NarrowStore(MemoryStore):
    """Transactions within one partition only, as Cosmos DB's."""

    scheme = "narrow"
    capabilities = replace(
        MemoryStore.capabilities,
        supported=MemoryStore.capabilities.supported - {Capability.TRANSACTIONS_ACROSS_PARTITIONS},
    )


app = App("nonportable")


class Account(BaseModel):
    owner: str
    cents: int


accounts = app.table(Account, partition_key="owner")


@app.http("POST", "/transfer")
def transfer() -> dict[str, bool]:
    # Relies on a transaction across two partitions: not every store has one.
    with transaction() as tx:
        tx.put(accounts, Account(owner="a", cents=-5))
        tx.put(accounts, Account(owner="b", cents=5))
    return {"ok": True}


@app.http("GET", "/ip")
def source_ip(request: HttpRequest) -> dict[str, str]:
    # Relies on a field only API Gateway sends: not portable across providers.
    return {"ip": request.raw["requestContext"]["http"]["sourceIp"]}


@pytest.fixture
def portafn_app():
    return app
'''

NON_PORTABLE_TESTS = """
def test_transfer(portafn_client):
    assert portafn_client.post("/transfer").status == 200

def test_source_ip(portafn_client):
    assert portafn_client.get("/ip").status == 200
"""


def test_non_portable_functions_fail_in_exactly_their_cells(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(NON_PORTABLE_APP)
    pytester.makepyfile(test_np=NON_PORTABLE_TESTS)
    report_dir = pytester.path / "report"
    result = pytester.runpytest(
        "--portafn-providers",
        "local,aws",
        "--portafn-stores",
        "memory,narrow://",
        "--portafn-report",
        str(report_dir),
    )
    outcomes = json.loads((report_dir / "report.json").read_text())["tests"]
    assert outcomes["test_np.py::test_transfer"] == {
        "local/memory": "passed",
        "local/narrow://": "failed",
        "aws/memory": "passed",
        "aws/narrow://": "failed",
    }
    assert outcomes["test_np.py::test_source_ip"] == {
        "local/memory": "failed",
        "local/narrow://": "failed",
        "aws/memory": "passed",
        "aws/narrow://": "passed",
    }
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(
        [
            "*failed on provider 'aws' with store 'narrow://': the store lacks 'transactions: across partitions and tables'*",
            "*failed on provider 'local' with store 'memory'*",
        ]
    )


def test_portafn_test_is_the_short_form(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_mini=TESTS)
    report_dir = pytester.path / "short"
    result = pytester.run(
        sys.executable,
        "-m",
        "portafn.cli.main",
        "test",
        "--providers",
        "local",
        "--stores",
        "memory",
        "--report",
        str(report_dir),
        "--",
        "-k",
        "put or isolated",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*2 passed*"])
    assert json.loads((report_dir / "report.json").read_text())["columns"] == ["local/memory"]


def test_store_and_target_fixtures_work_without_the_client(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_x=(
            "def test_store(portafn_store):\n"
            "    assert portafn_store.scheme in ('memory', 'sqlite')\n\n"
            "def test_target(portafn_target):\n"
            "    assert portafn_target.provider == 'local'\n"
        )
    )
    result = pytester.runpytest("--portafn-providers", "local", "--portafn-stores", "memory,sqlite")
    result.assert_outcomes(passed=4)


def test_a_thread_the_test_starts_uses_the_test_store(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_x=(
            "import threading\n"
            "from portafn.store.registry import current_store\n\n"
            "def test_thread(portafn_client, portafn_store):\n"
            "    seen = []\n"
            "    t = threading.Thread(target=lambda: seen.append(current_store()))\n"
            "    t.start(); t.join()\n"
            "    assert seen == [portafn_store]\n"
        )
    )
    result = pytester.runpytest("--portafn-providers", "local", "--portafn-stores", "memory")
    result.assert_outcomes(passed=1)
