"""``python -m portafn.dev.install``: fetch what every declared local server needs (``portafn dev install``)."""

from __future__ import annotations

import sys

from portafn.dev.servers import install, known


def main(names: list[str] | None = None) -> int:
    """Run each server's installer; exit non-zero with a clear line if one fails."""
    for name in names or known():
        try:
            install([name])
        except Exception as exc:
            print(f"portafn dev install: {name}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
