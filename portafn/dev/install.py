"""``python -m portafn.dev.install``: fetch the emulators that come from package registries."""

from __future__ import annotations

import importlib
import sys

# Each module here exposes ``install() -> None`` and prints one line of progress.
INSTALLERS: tuple[str, ...] = (
    "portafn.dev.dynamodb",
    "portafn.dev.firestore",
    "portafn.dev.pubsub",
    "portafn.dev.cosmos",
    "portafn.dev.azurite",
)


def main() -> int:
    """Run every installer; exit non-zero with a clear line if one fails."""
    for name in INSTALLERS:
        module = importlib.import_module(name)
        try:
            module.install()
        except Exception as exc:
            print(f"portafn dev install: {name}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
