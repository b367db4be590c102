"""Every code block of docs/getting-started.md, run as written: ``portafn new``, the CLI, curl, the test.

The guide starts from an empty directory: the project is the one ``portafn new shop`` writes, and
the files the guide shows must be exactly the files it wrote.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portafn.dev.process import ManagedProcess, free_port, port_open

DOC = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(DOC.read_text()) if kind == lang]


def portafn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("portafn") or str(Path(sys.executable).with_name("portafn"))
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    console = next(b for b in blocks("console") if "portafn new" in b)
    command, *expected = console.strip().splitlines()
    made = portafn(*shlex.split(command.removeprefix("$ "))[1:], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines() == expected
    return tmp_path / "shop"


def test_the_files_shown_are_the_files_written(project: Path) -> None:
    shown = {b.split("\n", 1)[0].removeprefix("# "): b.split("\n", 1)[1] for b in blocks("python")}
    for rel in ("shop/app.py", "tests/test_app.py"):
        assert shown[rel] == (project / rel).read_text(), rel


def test_routes_output_is_as_documented(project: Path) -> None:
    console = next(b for b in blocks("console") if "portafn routes" in b)
    command, *expected = console.strip().splitlines()
    result = portafn(*shlex.split(command.removeprefix("$ "))[1:], cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == expected


def test_serve_and_curl_as_documented(project: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the documented commands")
    port = free_port()
    serve, *curls = [ln for ln in blocks("bash")[1].replace("\\\n", " ").splitlines() if ln.strip()]
    argv = shlex.split(serve.split("#")[0].replace("8000", str(port)))
    exe = shutil.which("portafn") or str(Path(sys.executable).with_name("portafn"))
    with ManagedProcess(
        "getting-started",
        [exe, *argv[1:]],
        ready=lambda: port_open(port),
        cwd=project,
        log_dir=project / "logs",
    ):
        outputs = []
        for line in [*curls, blocks("bash")[2].strip()]:
            cmd = shlex.split(line.replace("localhost:8000", f"127.0.0.1:{port}"))
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
            outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == {"sku": "a1", "name": "pen", "price_cents": 120}
    assert outputs[2] == json.loads(blocks("json")[0])


def test_documented_test_passes(project: Path) -> None:
    command = next(b for b in blocks("console") if b.startswith("$ portafn test")).strip().removeprefix("$ ")
    exe = shutil.which("portafn") or str(Path(sys.executable).with_name("portafn"))
    env = {k: v for k, v in os.environ.items() if k != "PORTAFN_STORE"}
    done = subprocess.run(
        [exe, *shlex.split(command)[1:], "--", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" not in done.stdout  # one pass per provider, not once
    assert "portability report" in done.stdout
