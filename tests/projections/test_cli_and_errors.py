"""``portafn project rebuild`` and the refusals a projection makes at registration and at run time."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from portafn import App
from portafn.cli.main import main
from portafn.errors import RegistrationError
from portafn.eventstore import EventStream
from portafn.projections import Projection
from portafn.store.capabilities import Capabilities, Capability
from portafn.store.registry import open_store, use_store
from tests.projections.app import Posted, Total, ledger, total_view, totals
from tests.projections.app import app as ledger_app


def test_rebuild_command_replays_every_stream_with_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    with use_store(open_store(url)):
        ledger.append("a-1", [Posted(amount=2), Posted(amount=3)], expected_version=0)
        ledger.append("a-2", [Posted(amount=4)], expected_version=0)
        totals.put(Total(stream_id="a-1", total=-1, count=7))
    status = main(["project", "rebuild", "tests.projections.app:app", "ledger_totals", "--store", url])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.strip() == "rebuilt ledger_total: 2 streams, 3 events applied"
    assert "[2/2]" in err
    assert "a-1: 2 events" in err
    with use_store(open_store(url)):
        assert totals.get("a-1") == Total(stream_id="a-1", total=5, count=2, seen=[1, 2])
        assert total_view.position("a-2") == 1


def test_rebuild_command_names_the_projections_when_the_view_is_unknown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["project", "rebuild", "tests.projections.app:app", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no projection or single view named 'nope'" in err
    assert "ledger_lines, ledger_total" in err


class Other(BaseModel):
    stream_id: str


def test_a_write_outside_the_views_is_refused_and_nothing_is_applied() -> None:
    app = App("stray")
    stream: EventStream[Posted] = EventStream(app, "stray", Posted)
    view = app.table(Total, partition_key="stream_id", name="stray_view")
    other = app.table(Other, partition_key="stream_id", name="stray_other")
    projection = Projection(
        app, "stray", stream, views=(view,), apply=lambda tx, e: tx.put(other, Other(stream_id=e.stream_id))
    )
    with use_store(open_store("memory://")):
        stream.append("x", [Posted(amount=1)], expected_version=0)
        with pytest.raises(ValueError, match="wrote table\\(s\\) stray_other outside its views"):
            projection.catch_up("x")
        assert other.get("x") is None
        assert projection.position("x") == 0


def test_registration_refuses_a_bad_name_a_duplicate_and_a_foreign_view() -> None:
    app = App("reg")
    stream: EventStream[Posted] = EventStream(app, "reg", Posted)
    view = app.table(Total, partition_key="stream_id", name="reg_view")
    with pytest.raises(RegistrationError, match="a letter then"):
        Projection(app, "bad-name", stream, views=(view,), apply=lambda tx, e: None)
    with pytest.raises(RegistrationError, match=r"this app's app\.table"):
        Projection(app, "p1", stream, views=(totals,), apply=lambda tx, e: None)
    with pytest.raises(RegistrationError, match="source stream's tables"):
        Projection(app, "p2", stream, views=(stream.table,), apply=lambda tx, e: None)
    Projection(app, "p3", stream, views=(view,), apply=lambda tx, e: None)
    with pytest.raises(RegistrationError, match="already has a projection"):
        Projection(app, "p3", stream, views=(view,), apply=lambda tx, e: None)


def test_checkpoint_tables_are_idle_only_where_positions_are_attached_to_the_views() -> None:
    every = Capabilities(frozenset(Capability))
    attached = Capabilities(frozenset(Capability) - {Capability.TRANSACTIONS_ACROSS_PARTITIONS})
    assert Projection.idle_tables(ledger_app, every) == frozenset()
    idle = Projection.idle_tables(ledger_app, attached)
    assert idle == {"ledger_total_checkpoints", "ledger_lines_checkpoints"}
    assert total_view.checkpoint_table.name in idle
    assert idle <= set(ledger_app.tables)  # still declared on the app: the other stores use them
