"""Cold start on Azure Functions and Cloud Functions: a fresh worker process loads the function
module and serves its first HTTP request.

Contenders, each answering the same ``POST /customers/{customer_id}/orders`` with 201:

- Azure: portafn's ``samples/orders/entry_azure.py`` (``function_app(app)``) against
  ``peers/azure_native.py``, both indexed as the worker indexes them (``get_functions()``) and
  called with an ``azure.functions.HttpRequest``;
- GCP: portafn's ``http`` target of ``samples/orders/entry_gcp.py`` against
  ``peers/gcp_native.py``, each loaded by ``functions_framework.create_app`` as the framework's
  server loads it, and sent the request through flask's test client.

The host's own library (``azure.functions``; ``functions_framework`` and flask) is imported before
the clock starts, as the worker has it loaded before it loads user code. Stores are stubbed:
portafn on ``memory://``, the peers on a dict. Bytecode is cached (the venv's and the
repository's ``__pycache__``), as a deployed Python package is installed compiled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from benchmarks.common import PEERS, ROOT, Section, Settings, median, mib, ms, p90, progress, ratio

# Run as ``python -c CHILD SPEC``: import the module (the clock's first part) and serve one request.
CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
if spec["host"] == "azure":
    import azure.functions as func
else:
    import flask, functions_framework
t1 = time.perf_counter_ns()
if spec["host"] == "azure":
    import importlib, inspect
    fa = getattr(importlib.import_module(spec["module"]), "app")
    fns = {f.get_function_name(): f for f in fa.get_functions()}
else:
    client = functions_framework.create_app(target=spec["target"], source=spec["source"]).test_client()
t2 = time.perf_counter_ns()
body = json.dumps({"order_id": "o-1", "total_cents": 1250, "note": "cold"}).encode()
if spec["host"] == "azure":
    user = fns["create_order"].get_user_function()
    req = func.HttpRequest(method="POST", url="http://localhost:7071/api/customers/cold/orders",
                           headers={"content-type": "application/json"}, params={},
                           route_params={"customer_id": "cold"}, body=body)
    args = (req, None) if len(inspect.signature(user).parameters) == 2 else (req,)
    status = user(*args).status_code
else:
    status = client.post("/customers/cold/orders", data=body,
                         headers={"content-type": "application/json"}).status_code
t3 = time.perf_counter_ns()
with open("/proc/self/status") as f:
    rss = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"init": t2 - t1, "first": t3 - t2, "status": status, "rss_kib": rss}))
"""


@dataclass(frozen=True, slots=True)
class HostContender:
    """One contender: its host, its name, and what the child loads."""

    host: str
    name: str
    spec: dict[str, str]


CONTENDERS = (
    HostContender("azure", "portafn", {"module": "samples.orders.entry_azure"}),
    HostContender("azure", "native", {"module": "benchmarks.peers.azure_native"}),
    HostContender(
        "gcp", "portafn", {"target": "http", "source": str(ROOT / "samples" / "orders" / "entry_gcp.py")}
    ),
    HostContender("gcp", "native", {"target": "create_order", "source": str(PEERS / "gcp_native.py")}),
)


def _once(c: HostContender) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAFN_", "AWS_"))}
    env.update(PYTHONPATH=str(ROOT), PORTAFN_STORE="memory://", PYTHONNOUSERSITE="1")
    # What each platform sets in the worker's environment (portafn prepares at load when it sees it).
    if c.host == "azure":
        env["FUNCTIONS_WORKER_RUNTIME"] = "python"
    else:
        env.update(K_SERVICE="orders", FUNCTION_TARGET=c.spec["target"])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({"host": c.host, **c.spec})],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"init"')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"cold start of {c.host}/{c.name} failed:\n{proc.stderr[-1500:]}")
    out: dict[str, int] = json.loads(lines[-1])
    if out["status"] != 201:
        raise RuntimeError(f"{c.host}/{c.name} answered {out['status']}, not 201")
    return out


def run(settings: Settings) -> Section:
    """Both hosts, contenders interleaved; one section with a row per host and contender."""
    runs = max(2, settings.cold_runs // 2)
    samples: dict[tuple[str, str], list[dict[str, int]]] = {(c.host, c.name): [] for c in CONTENDERS}
    for c in CONTENDERS:
        _once(c)  # warm-up: the page cache and any bytecode the first run writes
    for i in range(runs):
        progress(f"cold start (Azure, GCP): round {i + 1}/{runs}")
        for c in CONTENDERS if i % 2 == 0 else tuple(reversed(CONTENDERS)):
            samples[c.host, c.name].append(_once(c))
    section = Section(
        "cold_hosts",
        "Cold start on Azure and GCP: load the function module + first request (bytecode cached)",
        [
            "load+first median ms",
            "load+first p90 ms",
            "vs native",
            "load ms",
            "first request ms",
            "peak RSS MiB",
        ],
    )
    for host in ("azure", "gcp"):
        total = {
            c.name: [s["init"] + s["first"] for s in samples[c.host, c.name]]
            for c in CONTENDERS
            if c.host == host
        }
        for c in (c for c in CONTENDERS if c.host == host):
            got = samples[c.host, c.name]
            section.add(
                f"{'Azure' if host == 'azure' else 'GCP'}: {c.name}",
                **{
                    "load+first median ms": ms(median(total[c.name])),
                    "load+first p90 ms": ms(p90(total[c.name])),
                    "vs native": ratio(median(total[c.name]), median(total["native"])),
                    "load ms": ms(median([s["init"] for s in got])),
                    "first request ms": ms(median([s["first"] for s in got])),
                    "peak RSS MiB": mib(median([s["rss_kib"] * 1024 for s in got])),
                },
            )
    section.notes.append(
        f"{runs} interleaved runs per contender; medians. load = importing the function module as the "
        "worker does (Azure: the module and `get_functions()`; GCP: `functions_framework.create_app`), "
        "timed inside a fresh process after the host's own library is imported; stores stubbed "
        "(portafn on `memory://`, the peers on a dict). Peak RSS is the child's VmHWM."
    )
    return section
