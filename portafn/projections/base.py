"""What every projection shares, whatever its source: a name, its view tables, where its per-stream
checkpoints live, and the rule that ``apply`` writes only the views.

``Projection`` (an event stream's events) and ``TableProjection`` (a table's changes) build on it;
``ProjectionBase.of`` finds either by name, which is what ``portafn project rebuild`` needs.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from portafn.errors import RegistrationError
from portafn.projections.checkpoints import (
    AttachedCheckpoints,
    Checkpoints,
    ProjectionCheckpoint,
    TableCheckpoints,
    choose,
    keeps_table,
)
from portafn.store.registry import current_store

if TYPE_CHECKING:
    from portafn.app import App
    from portafn.store.capabilities import Capabilities
    from portafn.store.port import Store
    from portafn.store.table import Table
    from portafn.store.transaction import Transaction

FUNCTION_PREFIX = "portafn_project_"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_registry: weakref.WeakKeyDictionary[App, dict[str, ProjectionBase]] = weakref.WeakKeyDictionary()


class ProjectionBase:
    """A named projection of ``app`` keeping ``views``, with per-stream checkpoints advanced in the
    transaction that writes them. ``apply`` is the user's function; ``source_table`` the table whose
    change function (``portafn_project_<name>``) drives it."""

    apply: Callable[..., None]

    def __init__(
        self,
        app: App,
        name: str,
        views: Sequence[Table[Any]],
        *,
        sources: Sequence[Table[Any]],
        source_text: str = "its source stream's tables",
        attached: AttachedCheckpoints | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise RegistrationError(
                name, "a projection's name is a letter then letters, digits or _ (48 at most)"
            )
        if not views:
            raise RegistrationError(name, "a projection needs at least one view table")
        known = _registry.setdefault(app, {})
        if name in known:
            raise RegistrationError(name, f"app {app.name!r} already has a projection named {name!r}")
        for view in views:
            if app.tables.get(view.name) is not view:
                raise RegistrationError(name, "views= takes tables made by this app's app.table()")
            if any(view is source for source in sources):
                raise RegistrationError(name, f"a projection's views cannot be {source_text}")
        self.app = app
        self.name = name
        self.views: tuple[Table[Any], ...] = tuple(views)
        self._table_checkpoints = TableCheckpoints(app, name)
        self._attached_checkpoints = attached or AttachedCheckpoints(name, self.views[0])
        known[name] = self

    @property
    def source_table(self) -> Table[Any]:
        """The table whose change function drives this projection."""
        raise NotImplementedError

    @property
    def function_name(self) -> str:
        """The change function this projection registers: ``portafn_project_<name>``."""
        return f"{FUNCTION_PREFIX}{self.name}"

    @classmethod
    def of(cls, app: App, name: str) -> ProjectionBase:
        """The projection of ``app`` called ``name``, or the only one whose views include table ``name``."""
        known = _registry.get(app, {})
        if name in known:
            return known[name]
        owners = [p for p in known.values() if any(v.name == name for v in p.views)]
        if len(owners) == 1:
            return owners[0]
        have = ", ".join(sorted(known)) or "none"
        raise LookupError(
            f"app {app.name!r} has no projection or single view named {name!r} (projections: {have})"
        )

    @classmethod
    def all(cls, app: App) -> list[ProjectionBase]:
        """Every projection declared on ``app`` (of either source), in declaration order."""
        return list(_registry.get(app, {}).values())

    @property
    def checkpoint_table(self) -> Table[ProjectionCheckpoint]:
        """``<name>_checkpoints``: where positions live on stores whose transactions span tables."""
        return self._table_checkpoints.table

    @classmethod
    def idle_tables(cls, app: App, capabilities: Capabilities) -> frozenset[str]:
        """The checkpoint tables of ``app``'s projections that a store with ``capabilities`` never
        touches (it attaches positions to the views), so a template need not create them."""
        if keeps_table(capabilities):
            return frozenset()
        return frozenset(p.checkpoint_table.name for p in cls.all(app))

    def checkpoints(self, store: Store | None = None) -> Checkpoints:
        """Where this projection's positions live on ``store`` (default: the current store)."""
        return choose(store or current_store(), self._table_checkpoints, self._attached_checkpoints)

    def position(self, stream_id: str) -> int:
        """The last version of ``stream_id`` applied to the views (0: none)."""
        store = current_store()
        return self.checkpoints(store).position(store, stream_id).version

    def _check_writes(self, tx: Transaction) -> None:
        views = {v.name for v in self.views}
        stray = sorted({op.table.name for op in tx.ops} - views)
        if stray:
            raise ValueError(
                f"projection {self.name!r} wrote table(s) {', '.join(stray)} outside its views "
                f"({', '.join(sorted(views))}): a rebuild would apply those writes twice"
            )
