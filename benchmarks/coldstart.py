"""Cold start: a fresh interpreter imports a Lambda entry and serves its first HTTP request.

Three contenders, all answering the same API Gateway HTTP API (2.0) ``POST`` that creates an order
in the same DynamoDB Local:

- ``portafn``: the orders sample as ``portafn package --provider aws`` builds it (``lambda.zip``
  extracted into a fresh task folder, entry ``lambda_function.handler``);
- ``native``: ``peers/aws_native.py``, a hand-written handler doing the same work;
- ``powertools``: ``peers/aws_powertools.py``, the same endpoint on Powertools'
  ``APIGatewayHttpResolver`` with validation.

Each child runs as Lambda's runtime would: ``python -S`` with only the task folder, a "runtime"
folder holding what the managed runtime provides (boto3 and its dependencies, linked from this
venv) and, for Powertools, a "layer" folder on ``PYTHONPATH``. The peers get pydantic from the same
extracted zip, so every contender loads the same pydantic build. Runs are interleaved (ABC, CBA,
...) after one unmeasured warm-up each.

Two modes: ``as deployed``, with fresh task folders and ``PYTHONDONTWRITEBYTECODE=1``: Lambda's
``/var/task`` is read-only, so only bytecode shipped in the zip is used (``portafn package`` ships
a ``.pyc`` for every module; the peers' handler files are compiled on every cold start, their
pydantic is the zip's, compiled), and ``cached``, where the interpreter may write ``.pyc`` files
(after the warm-up every contender imports compiled bytecode: the best case). The runtime and
layer folders keep their bytecode in both modes (AWS ships its runtime compiled; pip-built layers
are compiled at install). Every child sets ``AWS_LAMBDA_FUNCTION_NAME`` as Lambda does, so
portafn prepares its store and client while the handler module is imported (Lambda's init).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import PEERS, Section, Settings, median, mib, ms, p90, progress, ratio
from benchmarks.events import apigw_v2_event

SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
# What the managed Python runtime puts on the path besides the task: boto3 and what it needs.
RUNTIME_PROVIDED = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"]
# The zip's own code; everything else in it (pydantic and its dependencies) the peers share.
PORTAFN_ONLY = ("lambda_function.py", "portafn", "portafn_aws", "samples")

# Run by ``python -S -c`` in the task folder. Standard library only, and nothing imported before
# t1 but what the Lambda runtime itself has loaded by then.
CHILD = r"""
import importlib, json, resource, sys, time
spec, event_path, out_path = sys.argv[1:4]
with open(event_path) as f:
    event = json.load(f)

class Context:
    aws_request_id = "cold-start"
    function_name = "orders"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    memory_limit_in_mb = "512"
    log_group_name = "/aws/lambda/orders"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 30000

module_name, attr = spec.split(".")[0], spec.split(".")[1]
t1 = time.perf_counter_ns()
handler = getattr(importlib.import_module(module_name), attr)
t2 = time.perf_counter_ns()
response = handler(event, Context())
t3 = time.perf_counter_ns()
# VmHWM: ru_maxrss after fork+exec on Linux can report the parent's peak instead of this image's.
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith("VmHWM:"):
            rss_kib = int(line.split()[1])
with open(out_path, "w") as f:
    json.dump({"init": t2 - t1, "first": t3 - t2, "status": response.get("statusCode"),
               "body": str(response.get("body"))[:300], "rss_kib": rss_kib}, f)
"""


@dataclass(frozen=True, slots=True)
class Contender:
    """One cold-start contender: its name, task folder, handler spec and extra path entries."""

    name: str
    task: Path
    handler: str
    extra_path: tuple[Path, ...] = ()


@dataclass(slots=True)
class Sample:
    """One measured cold start."""

    wall_ns: int
    init_ns: int
    first_ns: int
    rss_kib: int


def _link(target: Path, source: Path) -> None:
    if not target.exists() and not target.is_symlink():
        target.symlink_to(source)


def _runtime_dir(base: Path) -> Path:
    runtime = base / "runtime"
    runtime.mkdir(exist_ok=True)
    for name in RUNTIME_PROVIDED:
        source = SITE / name
        if not source.exists():
            raise RuntimeError(f"{name} is not installed in this venv (uv sync --all-packages)")
        _link(runtime / name, source)
    return runtime


def _layer_dir(base: Path) -> Path:
    """A Powertools layer stand-in (its /opt/python)."""
    layer = base / "layer"
    layer.mkdir(exist_ok=True)
    source = SITE / "aws_lambda_powertools"
    if not source.exists():
        raise RuntimeError("aws-lambda-powertools is not installed (it is in the `bench` dependency group)")
    _link(layer / "aws_lambda_powertools", source)
    return layer


def _tasks(base: Path, lambda_zip: Path, mode: str) -> dict[str, Path]:
    """Fresh task folders for the three contenders; the peers link the zip's pydantic."""
    pf = base / f"task-portafn-{mode}"
    with zipfile.ZipFile(lambda_zip) as zf:
        zf.extractall(pf)
    out = {"portafn": pf}
    for name in ("native", "powertools"):
        task = base / f"task-{name}-{mode}"
        task.mkdir()
        shutil.copy(PEERS / f"aws_{name}.py", task / f"aws_{name}.py")
        for entry in pf.iterdir():
            if entry.name in PORTAFN_ONLY or entry.name.startswith("portafn"):
                continue
            _link(task / entry.name, entry)
        out[name] = task
    return out


def _env(contender: Contender, runtime: Path, server_env: dict[str, str], nopyc: bool) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    path = [contender.task, runtime, *contender.extra_path]
    env = {
        **keep,
        **server_env,
        "PYTHONPATH": os.pathsep.join(str(p) for p in path),
        "PYTHONNOUSERSITE": "1",
        "LAMBDA_TASK_ROOT": str(contender.task),
        "AWS_LAMBDA_FUNCTION_NAME": "orders",
        # The peers' boto3.client("dynamodb") finds DynamoDB Local through botocore's own
        # service-specific endpoint variable, as it would find a VPC endpoint; portafn reads its URL.
        "AWS_ENDPOINT_URL_DYNAMODB": server_env["BENCH_DYNAMODB_ENDPOINT"],
        # As the SAM template sets it: the table exists, so the first request does not check.
        "PORTAFN_CREATE_TABLES": "0",
    }
    if nopyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_once(contender: Contender, env: dict[str, str], event: dict[str, Any], scratch: Path) -> Sample:
    event_path = scratch / "event.json"
    out_path = scratch / "out.json"
    event_path.write_text(json.dumps(event))
    out_path.unlink(missing_ok=True)
    with open(scratch / f"{contender.name}.log", "ab") as log:
        start = time.perf_counter_ns()
        proc = subprocess.run(
            [sys.executable, "-S", "-c", CHILD, contender.handler, str(event_path), str(out_path)],
            cwd=contender.task,
            env=env,
            stdout=log,
            stderr=log,
            timeout=120,
            check=False,
        )
        wall = time.perf_counter_ns() - start
    if proc.returncode != 0 or not out_path.exists():
        tail = (scratch / f"{contender.name}.log").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"cold start of {contender.name} failed (exit {proc.returncode}):\n{tail}")
    out = json.loads(out_path.read_text())
    if out["status"] != 201:
        raise RuntimeError(f"{contender.name} answered {out['status']}, not 201: {out['body']}")
    return Sample(wall, out["init"], out["first"], out["rss_kib"])


def create_peer_tables(endpoint: str, env: dict[str, str]) -> None:
    """The peers' tables (key customer_id, order_id), created before anything is timed."""
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    existing = set(client.list_tables()["TableNames"])
    for name in ("native_orders", "powertools_orders"):
        if name in existing:
            continue
        client.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "customer_id", "KeyType": "HASH"},
                {"AttributeName": "order_id", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "customer_id", "AttributeType": "S"},
                {"AttributeName": "order_id", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def run(settings: Settings, lambda_zip: Path, server_env: dict[str, str], endpoint: str) -> list[Section]:
    """Measure both modes; one section each."""
    from portafn.store.registry import open_store
    from samples.orders.app import app, orders

    create_peer_tables(endpoint, server_env)
    # portafn's table exists beforehand too, as it would after the first deployment's first call.
    store = open_store(server_env["PORTAFN_STORE"])
    store.ensure_table(orders.spec)
    sections = []
    with tempfile.TemporaryDirectory(prefix="portafn-bench-cold-") as tmp:
        base = Path(tmp)
        runtime, layer = _runtime_dir(base), _layer_dir(base)
        env_all = {**server_env, "BENCH_DYNAMODB_ENDPOINT": endpoint}
        for mode, runs in (("cached", settings.cold_runs), ("nopyc", settings.cold_runs_nopyc)):
            nopyc = mode == "nopyc"
            tasks = _tasks(base, lambda_zip, mode)
            contenders = [
                Contender("native", tasks["native"], "aws_native.handler"),
                Contender("portafn", tasks["portafn"], "lambda_function.handler"),
                Contender("powertools", tasks["powertools"], "aws_powertools.handler", (layer,)),
            ]
            envs = {c.name: _env(c, runtime, env_all, nopyc) for c in contenders}
            samples: dict[str, list[Sample]] = {c.name: [] for c in contenders}
            scratch = base / f"scratch-{mode}"
            scratch.mkdir()
            counter = 0

            def once(
                c: Contender,
                scratch: Path = scratch,
                envs: dict[str, dict[str, str]] = envs,
                mode: str = mode,
            ) -> Sample:
                nonlocal counter
                counter += 1
                event = apigw_v2_event(app, f"cold-{c.name}", f"{mode}-{counter}")
                return _run_once(c, envs[c.name], event, scratch)

            if not nopyc:
                for c in contenders:  # warm-up: compiles the bytecode the cached mode relies on
                    once(c)
            for i in range(runs):
                progress(f"cold start ({mode}): round {i + 1}/{runs}")
                order = contenders if i % 2 == 0 else list(reversed(contenders))
                for c in order:
                    samples[c.name].append(once(c))
            sections.append(_section(mode, samples, runs))
    return sections


def _section(mode: str, samples: dict[str, list[Sample]], runs: int) -> Section:
    title = (
        "Cold start: import + first request (bytecode cached)"
        if mode == "cached"
        else "Cold start as deployed: import + first request, read-only task folder (the zip's .pyc only)"
    )
    section = Section(
        f"cold_{mode}",
        title,
        [
            "init+first median ms",
            "init+first p90 ms",
            "vs native",
            "vs powertools",
            "import ms",
            "first request ms",
            "process wall ms",
            "peak RSS MiB",
        ],
    )
    total = {n: [s.init_ns + s.first_ns for s in v] for n, v in samples.items()}
    for name in ("portafn", "native", "powertools"):
        got = samples[name]
        section.add(
            name,
            **{
                "init+first median ms": ms(median(total[name])),
                "init+first p90 ms": ms(p90(total[name])),
                "vs native": ratio(median(total[name]), median(total["native"])),
                "vs powertools": ratio(median(total[name]), median(total["powertools"])),
                "import ms": ms(median([s.init_ns for s in got])),
                "first request ms": ms(median([s.first_ns for s in got])),
                "process wall ms": ms(median([s.wall_ns for s in got])),
                "peak RSS MiB": mib(median([s.rss_kib * 1024 for s in got])),
            },
        )
    section.notes.append(
        f"{runs} interleaved runs per contender; medians. init+first = importing the handler module "
        "plus serving the first request, timed inside the fresh process; process wall adds interpreter "
        "start and exit, timed by the parent. Peak RSS is the child's VmHWM (its ru_maxrss can carry the parent's peak across fork+exec)."
    )
    return section
