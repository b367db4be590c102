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


def test_rebuild_command_applies_every_item_of_a_table_projection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.projections.table_app import Account, Summary, accounts, summaries, summary_view

    url = f"sqlite:///{tmp_path}/table.db"
    with use_store(open_store(url)):
        accounts.put(Account(owner="o-1", account_id="a", balance=5, version=3))
        accounts.put(Account(owner="o-2", account_id="b", balance=7, version=1))
        summaries.put(Summary(owner="o-1", account_id="a", balance=-1, applied=[1, 1]))
    status = main(["project", "rebuild", "tests.projections.table_app:app", "tp_summaries", "--store", url])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.strip() == "rebuilt tp_summary: 2 items, 2 changes applied"
    assert "rebuilding tp_summary (tp_summaries)" in err
    assert "o-1/a: 1 changes" in err
    assert "[2] " in err
    with use_store(open_store(url)):
        assert summaries.get("o-1", "a") == Summary(owner="o-1", account_id="a", balance=5, applied=[3])
        assert summary_view.item_position("o-1", "a") == 3


def test_a_table_projector_is_granted_its_checkpoints_and_its_views_not_its_source() -> None:
    from portafn.package.access import DELETE, GET, PUT, table_access
    from tests.projections.table_app import app as table_app

    [projector] = [fn for fn in table_app.functions.values() if fn.name == "portafn_project_tp_summary"]
    # The source's changes arrive through the trigger (its stream); apply reads, puts and deletes.
    assert table_access(table_app, projector) == {
        "tp_summary_checkpoints": {GET, PUT},
        "tp_summaries": {GET, PUT, DELETE},
    }


def test_a_table_projection_refuses_a_foreign_source_and_its_source_as_a_view() -> None:
    from portafn.projections import TableProjection
    from tests.projections.table_app import Account, accounts

    app = App("tp-reg")
    source = app.table(Account, partition_key="owner", sort_key="account_id", name="tp_reg_source")
    view = app.table(Total, partition_key="stream_id", name="tp_reg_view")
    with pytest.raises(RegistrationError, match=r"source is a table made by this app's app\.table"):
        TableProjection(
            app, "t1", accounts, views=(view,), apply=lambda tx, c: None, version=lambda a: a.version
        )
    with pytest.raises(RegistrationError, match="cannot be its source table"):
        TableProjection(
            app, "t2", source, views=(source,), apply=lambda tx, c: None, version=lambda a: a.version
        )
    TableProjection(app, "t3", source, views=(view,), apply=lambda tx, c: None, version=lambda a: a.version)
    with pytest.raises(RegistrationError, match="already has a projection"):
        Projection(app, "t3", EventStream(app, "tp_reg", Posted), views=(view,), apply=lambda tx, e: None)
