"""Projections: read models kept up to date from event streams (once per event, in order per stream)
or from a table's changes (once per item version, newest wins).

See ``portafn.projections.projection`` and docs/projections.md.
"""

from portafn.projections.base import ProjectionBase
from portafn.projections.checkpoints import Position, ProjectionCheckpoint
from portafn.projections.projection import Projection
from portafn.projections.rebuild import RebuildProgress, RebuildResult, rebuild
from portafn.projections.table_projection import TableProjection

__all__ = [
    "Position",
    "Projection",
    "ProjectionBase",
    "ProjectionCheckpoint",
    "RebuildProgress",
    "RebuildResult",
    "TableProjection",
    "rebuild",
]
