"""Warm invocation: the cost of one more request in a process that has served many.

In-process loops over pre-built native requests, each creating a new order (so every request does
the full work: route, validate, build, store, log, answer 201). Contenders run in interleaved
blocks (``common.timed_blocks``) after a warm-up.

- AWS, store stubbed: portafn's ``lambda_handler(app)`` with its tables on ``stub_store.DictStore``
  (a dict behind the store port), against ``peers/aws_native.py`` and ``peers/aws_powertools.py``
  with their store swapped for a dict. This isolates what the frameworks themselves cost per
  request; a fourth row runs portafn on its memory store (a test stand-in) for comparison.
- AWS, on DynamoDB Local: the same three with the real conditional PutItem; the network round
  trip to the local server dominates, so this row says how much of a real request is framework.
- Azure: portafn's ``function_app(app)`` against ``peers/azure_native.py``, both called as the
  worker calls them (the library's ``HttpRequestConverter`` decodes the host's ``Datum``, the
  function runs, ``HttpResponseConverter`` encodes the answer); store stubbed (``DictStore`` / dict).
- GCP: portafn's functions-framework ``http`` target against ``peers/gcp_native.py``, both served
  by ``functions_framework.create_app`` through flask's test client; store stubbed.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import operator
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from typing import Any

from benchmarks.common import PEERS, ROOT, Section, Settings, median, progress, ratio, timed_blocks, us
from benchmarks.events import apigw_v2_event, order_request
from benchmarks.stub_store import DictStore

Runner = Callable[[int], None]


class _Null(io.TextIOBase):
    """A text stream that drops what it is given, cheaply (log lines still get formatted)."""

    def write(self, s: str) -> int:
        return len(s)


NULL = _Null()


def _silence_logs() -> None:
    """Send every configured log handler to NULL; give the natives' loggers a handler too, so that
    every contender formats and writes its log line, as it would on the platform."""
    for name in ("native.orders",):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler: logging.Handler = logging.StreamHandler(NULL)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is not NULL:
                handler.setStream(NULL)


def _apigw_events(app: Any, who: str, count: int) -> Iterator[dict[str, Any]]:
    """``count`` events, built before any timing starts (only the handler is timed)."""
    template = apigw_v2_event(app, f"warm-{who}", "o-template")
    body = json.loads(template["body"])
    events = []
    for i in range(count):
        event = copy.deepcopy(template)
        event["body"] = json.dumps({**body, "order_id": f"o-{i}"})
        events.append(event)
    return iter(events)


def _lambda_runner(handler: Callable[..., Any], events: Iterator[dict[str, Any]], who: str) -> Runner:
    from portafn_aws.driver import DriverContext

    # One context per invocation, as Lambda gives: each request carries a request id not seen
    # before, so nothing keyed on it (log fields, correlation) can be served from a cache.
    contexts = iter([DriverContext("orders") for _ in range(operator.length_hint(events))])

    def run(n: int) -> None:
        for _ in range(n):
            response = handler(next(events), next(contexts))
            if response["statusCode"] != 201:
                raise RuntimeError(f"{who} answered {response['statusCode']}: {response.get('body')}")

    return run


def _peer(name: str) -> Any:
    import importlib

    return importlib.import_module(f"benchmarks.peers.{name}")


def _aws(settings: Settings, stubbed: bool) -> dict[str, list[float]]:
    from portafn_aws import lambda_handler

    from portafn.store.registry import set_default_store
    from samples.orders.app import app

    native, powertools = _peer("aws_native"), _peer("aws_powertools")
    if stubbed:
        native.orders, powertools.orders = native.DictOrders(), powertools.DictOrders()
        total = settings.warm_requests
    else:
        set_default_store(None)  # PORTAFN_STORE: DynamoDB Local
        native.orders, powertools.orders = native.DynamoOrders(), powertools.DynamoOrders()
        total = settings.warm_requests_store
    blocks = settings.warm_blocks
    per_block = max(1, total // blocks)
    warmup = max(3, per_block // 2)
    need = warmup + per_block * blocks
    tag = "stub" if stubbed else "ddb"
    handler = lambda_handler(app)
    portafn = _lambda_runner(handler, _apigw_events(app, f"pf-{tag}", need), "portafn")
    contenders = {
        "portafn": _on_store(portafn, DictStore()) if stubbed else portafn,
        "native": _lambda_runner(native.handler, _apigw_events(app, f"na-{tag}", need), "native"),
        "powertools": _lambda_runner(powertools.handler, _apigw_events(app, f"pt-{tag}", need), "powertools"),
    }
    if stubbed:
        from portafn.store.memory import MemoryStore

        on_memory = _lambda_runner(handler, _apigw_events(app, "pf-mem", need), "portafn")
        contenders[ON_MEMORY] = _on_store(on_memory, MemoryStore("memory://"))
    for run in contenders.values():
        run(1)
    _silence_logs()
    try:
        with redirect_stdout(NULL):
            return timed_blocks(contenders, blocks=blocks, per_block=per_block, warmup=warmup - 1)
    finally:
        set_default_store(None)


ON_MEMORY = "portafn on its memory store (a test stand-in)"


def _on_store(run: Runner, store: Any) -> Runner:
    """``run`` with tables on ``store`` (switched once per block, not per request)."""
    from portafn.store.registry import use_store

    def on(n: int) -> None:
        with use_store(store):
            run(n)

    return on


def _azure(settings: Settings) -> dict[str, list[float]]:
    from azure.functions.http import HttpRequestConverter, HttpResponseConverter
    from portafn_azure import function_app
    from portafn_azure.driver import _Context, http_datum

    from portafn.http import HttpRequest
    from portafn.store.registry import set_default_store
    from samples.orders.app import app

    native_app = _peer("azure_native").app
    pf_fn = {f.get_function_name(): f for f in function_app(app).get_functions()}["create_order"]
    na_fn = {f.get_function_name(): f for f in native_app.get_functions()}["create_order"]
    set_default_store(DictStore())

    def datums(who: str, count: int) -> Iterator[Any]:
        out = []
        for i in range(count):
            request: HttpRequest = order_request(f"warm-{who}", f"o-{i}")
            request.path_params = {"customer_id": f"warm-{who}"}  # the host's route match
            out.append(http_datum(request))
        return iter(out)

    def runner(fn: Any, datums: Iterator[Any], with_context: bool, who: str) -> Runner:
        user = fn.get_user_function()
        context = _Context("create_order")

        def run(n: int) -> None:
            for _ in range(n):
                req = HttpRequestConverter.decode(next(datums), trigger_metadata={})
                resp = user(req, context) if with_context else user(req)
                out = HttpResponseConverter.encode(resp, expected_type=None)
                status = int(out.value["status_code"].value)
                if status != 201:
                    raise RuntimeError(f"{who} answered {status}: {out.value['body'].value!r}")

        return run

    blocks = settings.warm_blocks
    per_block = max(1, settings.warm_requests // blocks)
    warmup = max(3, per_block // 2)
    need = warmup + per_block * blocks + 1
    contenders = {
        "portafn": runner(pf_fn, datums("pf", need), True, "portafn"),
        "native": runner(na_fn, datums("na", need), False, "native"),
    }
    for run in contenders.values():
        run(1)
    _silence_logs()
    try:
        with redirect_stdout(NULL):
            return timed_blocks(contenders, blocks=blocks, per_block=per_block, warmup=warmup - 1)
    finally:
        set_default_store(None)


def _gcp(settings: Settings) -> dict[str, list[float]]:
    import functions_framework

    from portafn.store.registry import set_default_store

    set_default_store(DictStore())
    pf_client = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target="http", source=str(ROOT / "samples" / "orders" / "entry_gcp.py")
    ).test_client(use_cookies=False)
    na_client = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target="create_order", source=str(PEERS / "gcp_native.py")
    ).test_client(use_cookies=False)

    def runner(client: Any, who: str) -> Runner:
        bodies = iter(
            [
                json.dumps({"order_id": f"o-{i}", "total_cents": 1250, "note": "benchmark"})
                for i in range(settings.warm_requests * 2 + 10)
            ]
        )

        def run(n: int) -> None:
            for _ in range(n):
                body = next(bodies)
                resp = client.post(
                    f"/customers/warm-{who}/orders",
                    data=body,
                    headers={"content-type": "application/json", "user-agent": "portafn-bench"},
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"{who} answered {resp.status_code}: {resp.get_data()[:300]!r}")

        return run

    blocks = settings.warm_blocks
    per_block = max(1, settings.warm_requests // blocks)
    warmup = max(3, per_block // 2)
    contenders = {"portafn": runner(pf_client, "pf"), "native": runner(na_client, "na")}
    for run in contenders.values():
        run(1)
    _silence_logs()
    try:
        with redirect_stdout(NULL):
            return timed_blocks(contenders, blocks=blocks, per_block=per_block, warmup=warmup - 1)
    finally:
        set_default_store(None)


def run(settings: Settings, server_env: dict[str, str] | None) -> Section:
    """Every warm measurement, as one section (rows: platform and contender)."""
    section = Section(
        "warm",
        "Warm invocation: cost per request",
        ["median us/request", "min block us/request", "vs native", "vs powertools"],
    )
    measured: list[tuple[str, dict[str, list[float]], bool]] = []
    progress("warm: AWS, store stubbed")
    measured.append(("AWS, store stubbed", _aws(settings, stubbed=True), True))
    if server_env is not None:
        progress("warm: AWS, DynamoDB Local")
        measured.append(("AWS, DynamoDB Local", _aws(settings, stubbed=False), True))
    for label, fn in (("Azure, store stubbed", _azure), ("GCP, store stubbed", _gcp)):
        progress(f"warm: {label}")
        try:
            measured.append((label, fn(settings), False))
        except ImportError as exc:  # an adapter not importable here: say so in the table
            section.add(f"{label}: not measured", **{"median us/request": f"import failed: {exc}"})
    for label, times, has_pt in measured:
        med = {name: median(v) for name, v in times.items()}
        for name in times:
            section.add(
                f"{label}: {name}",
                **{
                    "median us/request": us(med[name]),
                    "min block us/request": us(min(times[name])),
                    "vs native": ratio(med[name], med["native"]),
                    "vs powertools": ratio(med[name], med["powertools"]) if has_pt else "",
                },
            )
    section.notes.append(
        f"{settings.warm_requests} requests per contender ({settings.warm_requests_store} on DynamoDB Local) in "
        f"{settings.warm_blocks} interleaved blocks after a warm-up; the median is over blocks. Every request "
        "creates a new order and must answer 201, and every Lambda invocation has a new request id. Store "
        "stubbed: the peers put the order's JSON dump in a dict, portafn's table writes through the store "
        "port to `benchmarks/stub_store.py`, which does the same (a key check and a dict assignment), so "
        "the row is the framework's own cost; the memory-store row shows what portafn's test stand-in adds. "
        "Each contender formats and writes one JSON log line per request (to a null stream)."
    )
    return section
