"""One ``portafn serve`` subprocess for the hostile tests, reused by every test module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portafn.dev.process import ManagedProcess, free_port, port_open

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of ``portafn serve tests.hostile.apps:app``, one per test module (read timeout 2 s)."""
    port = free_port()
    proc = ManagedProcess(
        "portafn-serve-hostile",
        [
            sys.executable,
            "-m",
            "portafn.cli.main",
            "serve",
            "tests.hostile.apps:app",
            "--port",
            str(port),
            "--read-timeout",
            "2",
        ],
        ready=lambda: port_open(port),
        cwd=ROOT,
        env={
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PORTAFN_STORE": "memory://",
        },
        log_dir=tmp_path_factory.mktemp("serve-logs"),
        startup_timeout=30,
    )
    with proc:
        yield port
