"""A persistent loopback host for the Azure Functions Python worker: one worker, many invocations.

Run under the worker's own venv (grpcio and protobuf at the worker's pins; no portafn there) by
``portafn_azure.dev.worker_session``; it reuses the shared loopback host (``host.py`` in
``../shared/runtimes/azure-functions-host``, imported where it stands) for the gRPC stream, the
protos and the RpcLog bookkeeping, and adds what the batch host lacks: the worker is started,
initialised, made to index the app and load every function once, then each line on stdin is one
InvocationRequest and each line on stdout its InvocationResponse with the RpcLogs bound to it.

    python worker_host.py --worker-dir W --app APP --shared-host HOST_PY [--settings-file F] [--set NAME=VALUE ...]

App settings come from ``--settings-file`` (a JSON object, so secret values never stand on a
command line that ``ps`` shows) and ``--set`` (for a hand-run host), the latter winning.

stdin, one JSON object a line: ``{"function": NAME, "input": TYPED_DATA, "trigger_metadata": {...}}``
with TypedData in the protobuf JSON mapping (``{"string": ...}``, ``{"bytes": BASE64}``,
``{"json": ...}``, ``{"http": {...}}``). stdout: first ``{"ready": true, "functions": {...}}`` (or
``{"ready": false, "error": ...}``), then per request ``{"status", "exception", "return_value",
"logs"}``. End of stdin terminates the worker.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import uuid
from concurrent import futures
from pathlib import Path
from typing import Any

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
MAX_MESSAGE = 2**31 - 1


def _shared_host(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("azure_loopback_host", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker_env(worker_dir: Path, app_dir: Path, settings: dict[str, str], scratch: Path) -> dict[str, str]:
    """The app settings plus what the host's RpcWorkerProcess and the production launcher add
    (the same environment the shared host.py gives the worker)."""
    base = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "SCM_DO_BUILD_DURING_DEPLOYMENT": "false",
        "CosmosDBConnection": "AccountEndpoint=https://localhost:8081/;AccountKey=unused",
    }
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "LANG": "C.UTF-8",
        **base,
        **settings,
        "AzureWebJobsScriptRoot": str(app_dir),
        "FUNCTIONS_WORKER_DIRECTORY": str(worker_dir),
        "FUNCTIONS_APPLICATION_DIRECTORY": str(app_dir),
        "FUNCTIONS_WORKER_RUNTIME_VERSION": f"{sys.version_info.major}.{sys.version_info.minor}",
        "CONTAINER_NAME": "harness",
        "WEBSITE_SITE_NAME": app_dir.name,
        "PYTHONPATH": f"{app_dir}/.python_packages/lib/site-packages:{worker_dir}",
    }


class Session:
    """The host's side of one worker's EventStream, kept open across invocations."""

    def __init__(self, args: argparse.Namespace) -> None:
        grpc = importlib.import_module("grpc")  # the worker venv's grpcio (untyped here)

        self.shared = _shared_host(Path(args.shared_host))
        self.worker_dir = Path(args.worker_dir).resolve()
        self.app_dir = Path(args.app).resolve()
        self.timeout = float(args.timeout)
        self.pb, pbg = self.shared._load_protos(self.worker_dir)
        self.stream = self.shared.Stream(pbg)
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ]
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
        pbg.add_FunctionRpcServicer_to_server(self.stream.servicer, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.scratch = Path(tempfile.mkdtemp(prefix="portafn-azw-"))
        self.host = self.shared.Host(self.pb, self.stream, self.scratch / "rpclog.jsonl")
        settings = json.loads(Path(args.settings_file).read_text()) if args.settings_file else {}
        settings.update(item.partition("=")[::2] for item in args.set)
        self.env = worker_env(self.worker_dir, self.app_dir, settings, self.scratch)
        self.functions: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, Any]:
        """Start the worker, initialise it, index the app and load every function."""
        worker_id, request_id = str(uuid.uuid4()), str(uuid.uuid4())
        cmd = [
            sys.executable, "-m", "azure_functions_worker",
            "--host", "127.0.0.1", "--port", str(self.port), "--workerId", worker_id,
            "--requestId", request_id, "--grpcMaxMessageLength", str(MAX_MESSAGE),
            "--functions-uri", f"http://127.0.0.1:{self.port}/", "--functions-worker-id", worker_id,
            "--functions-request-id", request_id, "--functions-grpc-max-message-length", str(MAX_MESSAGE),
        ]  # fmt: skip
        stdio = (self.scratch / "worker-stdio.log").open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=self.app_dir, env=self.env, stdout=stdio, stderr=subprocess.STDOUT
        )
        pb, host = self.pb, self.host
        host.wait_for("start_stream", timeout=self.timeout)
        host.send(
            worker_init_request=pb.WorkerInitRequest(
                host_version=self.shared.HOST_VERSION,
                capabilities={"MultiStream": "true"},
                worker_directory=str(self.worker_dir),
                function_app_directory=str(self.app_dir),
            )
        )
        init = host.wait_for("worker_init_response", timeout=self.timeout).worker_init_response
        if init.result.status != pb.StatusResult.Success:
            return {"ready": False, "error": f"WorkerInitResponse: {init.result.exception.message}"}
        host.send(
            functions_metadata_request=pb.FunctionsMetadataRequest(function_app_directory=str(self.app_dir))
        )
        md = host.wait_for("function_metadata_response", timeout=self.timeout).function_metadata_response
        if md.result.status != pb.StatusResult.Success:
            return {"ready": False, "error": f"indexing failed: {md.result.exception.message}"}
        return self._load(md.function_metadata_results)

    def _load(self, results: Any) -> dict[str, Any]:
        pb, host = self.pb, self.host
        out: dict[str, Any] = {}
        for f in results:
            host.send(function_load_request=pb.FunctionLoadRequest(function_id=f.function_id, metadata=f))
            loaded = host.wait_for(
                "function_load_response",
                timeout=self.timeout,
                match=lambda r, fid=f.function_id: r.function_id == fid,
            ).function_load_response
            if loaded.result.status != pb.StatusResult.Success:
                return {"ready": False, "error": f"loading {f.name}: {loaded.result.exception.message}"}
            bindings = [json.loads(b) for b in f.raw_bindings]
            trigger = next(b for b in bindings if str(b.get("type", "")).endswith("Trigger"))
            self.functions[f.name] = (f.function_id, trigger["name"])
            out[f.name] = {"trigger": trigger, "bindings": bindings}
        return {"ready": True, "functions": out, "scratch": str(self.scratch)}

    def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one InvocationRequest and return its response with the RpcLogs bound to it."""
        json_format = importlib.import_module("google.protobuf.json_format")

        pb, host = self.pb, self.host
        function_id, arg = self.functions[request["function"]]
        metadata = {"sys": self.shared._sys_metadata(pb, request["function"])}
        parsed = pb.InvocationRequest()
        json_format.ParseDict(
            {
                "input_data": [{"name": arg, "data": request["input"]}],
                "trigger_metadata": request.get("trigger_metadata", {}),
            },
            parsed,
        )
        invocation_id = str(uuid.uuid4())
        for name, value in metadata.items():
            parsed.trigger_metadata[name].CopyFrom(value)
        parsed.invocation_id = invocation_id
        parsed.function_id = function_id
        parsed.trace_context.CopyFrom(pb.RpcTraceContext(trace_parent=TRACEPARENT, trace_state=""))
        parsed.retry_context.CopyFrom(pb.RetryContext(retry_count=0, max_retry_count=0))
        host.send(invocation_request=parsed)
        resp = host.wait_for(
            "invocation_response",
            timeout=self.timeout,
            match=lambda r: r.invocation_id == invocation_id,
        ).invocation_response
        # The worker queues its RpcLogs on the stream ahead of the response, so they are all in.
        logs = host.logs_for(invocation_id)
        host.logs[:] = [e for e in host.logs if e["invocation_id"] != invocation_id]
        answer: dict[str, Any] = {
            "invocation_id": invocation_id,
            "status": pb.StatusResult.Status.Name(resp.result.status),
            "logs": logs,
        }
        if resp.result.status != pb.StatusResult.Success:
            answer["exception"] = resp.result.exception.message
        if resp.HasField("return_value"):
            answer["return_value"] = json_format.MessageToDict(
                resp.return_value, preserving_proto_field_name=True
            )
        return answer

    def stop(self) -> None:
        """Terminate the worker and the gRPC server."""
        try:
            self.host.send(worker_terminate=self.pb.WorkerTerminate(grace_period={"seconds": 1}))
        finally:
            self.stream.outbox.put(None)
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            self.server.stop(grace=1)


def _write(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def main() -> int:
    """Serve invocations from stdin until it closes."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker-dir", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--shared-host", required=True, help="the shared loopback host.py")
    ap.add_argument("--settings-file", help="app settings as a JSON object (kept off the command line)")
    ap.add_argument("--set", action="append", default=[], help="app setting NAME=VALUE (repeatable)")
    ap.add_argument("--timeout", type=float, default=60.0)
    session = Session(ap.parse_args())
    try:
        try:
            ready = session.start()
        except Exception as exc:  # reported to the driver, which fails the test with it
            ready = {"ready": False, "error": f"{type(exc).__name__}: {exc}"}
        _write(ready)
        if not ready["ready"]:
            return 1
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                _write(session.invoke(json.loads(line)))
            except Exception as exc:  # the driver reports it as the host's failure
                _write({"status": "HostError", "exception": f"{type(exc).__name__}: {exc}", "logs": []})
        return 0
    finally:
        session.stop()


if __name__ == "__main__":
    raise SystemExit(main())
