"""``portafn package``: what each provider deploys, built for its platform, byte for byte repeatable.

``package("samples.orders.app:app", "aws", Path("dist/aws"))`` writes a Lambda zip and a SAM
template; ``"azure"`` a function app folder, its zip and an ARM template; ``"gcp"`` a source folder,
its zip, ``deploy.sh`` and Firestore index and TTL files. See docs/packaging.md.
"""

from __future__ import annotations

from portafn.package.build import Artifact, Limits, PackageResult, package
from portafn.package.errors import (
    CapabilityMissing,
    LimitExceeded,
    PackageError,
    PlatformWheelMissing,
    ToolFailed,
)
from portafn.package.zipper import write_zip

__all__ = [
    "Artifact",
    "CapabilityMissing",
    "LimitExceeded",
    "Limits",
    "PackageError",
    "PackageResult",
    "PlatformWheelMissing",
    "ToolFailed",
    "package",
    "write_zip",
]
