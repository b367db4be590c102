"""``portafn dev up``: a real subprocess starts a server, prints how to reach it, and stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from portafn.dev.process import port_open, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_dev_up_starts_dynamodb_local_and_stops_it_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "portafn.cli.main", "dev", "up", "dynamodb"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        env: dict[str, str] = {}
        store_url = None
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while store_url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                env[key] = value
            elif line.startswith("# PORTAFN_STORE="):
                store_url = line.split("=", 1)[1].strip()
        assert store_url is not None, (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else "no store URL"
        )
        assert store_url.startswith("dynamodb://")
        # What it printed is enough to use the server: a real portafn table on it.
        script = (
            "from pydantic import BaseModel\n"
            "from portafn import App\n"
            "from portafn.store.registry import open_store, use_store\n"
            "class Row(BaseModel):\n    id: str\n    n: int\n"
            "rows = App('devup').table(Row, partition_key='id')\n"
            f"with use_store(open_store({store_url!r})):\n"
            "    rows.put(Row(id='a', n=1))\n"
            "    print(rows.get('a').n)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == "1"
        port = int(store_url.split("127.0.0.1:")[1].split("&")[0].split("/")[0])
        assert port_open(port)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        wait_until(lambda: not port_open(port), timeout=30, what="DynamoDB Local to stop")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
