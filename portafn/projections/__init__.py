"""Projections: read models kept up to date from event streams, once per event, in order per stream.

See ``portafn.projections.projection`` and docs/projections.md.
"""

from portafn.projections.checkpoints import Position, ProjectionCheckpoint
from portafn.projections.projection import Projection
from portafn.projections.rebuild import RebuildProgress, RebuildResult, rebuild

__all__ = [
    "Position",
    "Projection",
    "ProjectionCheckpoint",
    "RebuildProgress",
    "RebuildResult",
    "rebuild",
]
