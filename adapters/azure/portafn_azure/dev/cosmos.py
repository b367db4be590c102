"""The Cosmos DB stand-in: ``@vercel/cosmosdb-server`` from npm, over plain HTTP.

``install()`` installs the npm package into the user cache (``portafn.dev.cache``; a checkout's
``node_modules`` from ``npm ci`` is used when it has it); ``start()`` runs it on a free loopback port
through the package's own ``createHttpServer`` API (so connections are kept alive, which its CLI
does not do) and waits until ``GET /`` (the account metadata) answers.

The server accepts any key whose signature it is sent (it does not check signatures), so the
client uses a fixed, well-known base64 key: not a secret. No azure import here.

Known gaps of this server (DESIGN.md and found here): reading a missing item answers 500 instead
of 404, transactional batches are not atomic and fail on most operation types, the change feed
does not resume, TTL never expires and size limits are not enforced. ``start()`` therefore puts a
small fidelity proxy in front of it (this module's ``FidelityProxy``, run as
``python -m portafn_azure.dev.cosmos proxy UPSTREAM PORT``), so the store, ``portafn dev up`` and the
contract suite all see the documented Cosmos behaviour for all but TTL, each fix citing the Cosmos
documentation it restores:

1. Reading a missing item answers ``404 NotFound`` ("Get a Document": 404 when the document does not
   exist; the server answers 500 from a TypeError).
2. A transactional batch is all or nothing ("Transactional batch operations": if an operation fails,
   it has its error status and every other operation 424 Failed Dependency, and nothing is
   applied). The proxy checks every operation's precondition against the current items before
   forwarding, under one lock that serialises writes through it.
3. The batch's partition key applies to every operation ("Transactional batch operations": a batch
   targets one logical partition, named once in the ``x-ms-documentdb-partitionkey`` header). The
   server reads it from each operation instead and answers 500 to any Upsert, Replace, Read or
   Delete sent by the Python SDK (which, as documented, sends it once); the proxy copies the
   header's value into each operation.
4. The change feed ("Change feed in Azure Cosmos DB", latest version mode): the latest version of
   each item changed after the continuation (the ``etag`` of the previous page, sent back as
   ``If-None-Match``), in modification order; deleted items do not appear; 304 when nothing is new.
   The proxy logs the writes it forwards to serve this.
5. Size limits ("Service quotas": an item is at most 2 MB; a transactional batch at most 100
   operations and 2 MB): 413 RequestEntityTooLarge / 400 BadRequest above them.

TTL expiry is not emulated: it stays a declared local gap (reads through a table hide expired
items anyway).

Speed: the proxy keeps one persistent upstream connection per thread and answers with Nagle's
algorithm off and headers and body in one write (a small second write otherwise waits for the
peer's delayed ACK, about 40 ms per request on Linux). Reads are not serialised, only writes.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from portafn.dev.cache import find_npm_package, npm_install, work_dir
from portafn.dev.process import ManagedProcess, ServerError, free_port
from portafn.dev.servers import RunningServer

NPM_PACKAGE = "@vercel/cosmosdb-server"
NPM_VERSION = "1.0.1"
# Any base64 string signs requests for this server; it is public on purpose (like the Cosmos
# emulator's well-known key) and grants nothing anywhere else.
LOCAL_KEY = "cG9ydGFmbi1sb2NhbC1jb3Ntb3Mta2V5LW5vdC1hLXNlY3JldA=="
DATABASE = "portafn"

# The package's documented API (README: ``createHttpServer``), with keep-alive on and no idle
# timeout, so the proxy's persistent connections are never closed under it.
_LAUNCHER = """
const { createHttpServer } = require(process.argv[1]);
const server = createHttpServer({ keepAlive: true });
server.keepAliveTimeout = 0;
server.listen(Number(process.argv[3]), process.argv[2], () => {
  console.log(`cosmosdb-server ready at http://${process.argv[2]}:${process.argv[3]}`);
});
"""


def package_dir() -> Path:
    """The npm package's directory inside node_modules."""
    return find_npm_package(NPM_PACKAGE, "lib/cli.js")


def cli_path() -> Path:
    """The server's CLI script inside node_modules (present when the package is installed)."""
    return package_dir() / "lib" / "cli.js"


def installed() -> bool:
    """Whether ``npm ci`` has installed the server."""
    return cli_path().is_file()


def install() -> None:
    """Install the npm package into the user cache unless it is already there."""
    if not installed():
        npm_install(f"{NPM_PACKAGE}@{NPM_VERSION}", NPM_PACKAGE)
    version = json.loads((package_dir() / "package.json").read_text())["version"]
    print(f"cosmosdb-server: {NPM_PACKAGE}@{version} at {package_dir()}")


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=1) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is listening
    except OSError:
        return False


def store_url(endpoint: str, database: str = DATABASE) -> str:
    """The ``cosmos://`` URL of a local endpoint (plain HTTP)."""
    host = endpoint.split("://", 1)[-1]
    return f"cosmos://{host}/{database}?tls=false"


class CosmosServer(RunningServer):
    """The Cosmos DB server and the fidelity proxy in front of it; stopping stops both."""

    upstream: ManagedProcess | None = None

    def stop(self) -> None:
        """Stop the proxy, then the server."""
        self.process.stop()
        if self.upstream is not None:
            self.upstream.stop()


def start(log_dir: Path | None = None) -> RunningServer:
    """Start the Cosmos DB server and its fidelity proxy on free loopback ports over HTTP."""
    if not installed():
        raise ServerError(f"cosmosdb-server: not installed at {cli_path()}; run `portafn dev install cosmos`")
    node = shutil.which("node")
    if node is None:
        raise ServerError("cosmosdb-server: node is not on PATH (Node.js 20+ runs the Cosmos DB server)")
    port = free_port()
    upstream_url = f"http://127.0.0.1:{port}"
    upstream = ManagedProcess(
        "cosmosdb-server",
        [node, "-e", _LAUNCHER, str(package_dir()), "127.0.0.1", str(port)],
        ready=lambda: _answers(upstream_url),
        cwd=work_dir("cosmos"),
        log_dir=log_dir,
    ).start()
    proxy_port = free_port()
    endpoint = f"http://127.0.0.1:{proxy_port}"
    try:
        proxy = ManagedProcess(
            "cosmosdb-fidelity-proxy",
            [sys.executable, "-m", "portafn_azure.dev.cosmos", "proxy", upstream_url, str(proxy_port)],
            ready=lambda: _answers(endpoint),
            cwd=work_dir("cosmos"),
            log_dir=log_dir,
        ).start()
    except ServerError:
        upstream.stop()
        raise
    url = store_url(endpoint)
    server = CosmosServer(
        name="cosmos",
        process=proxy,
        env={"PORTAFN_COSMOS_KEY": LOCAL_KEY, "PORTAFN_STORE": url},
        store_url=url,
        endpoint=endpoint,
    )
    server.upstream = upstream
    return server


# -- the fidelity proxy ------------------------------------------------------------------------

MAX_ITEM_BYTES = 2 * 1024 * 1024  # "Service quotas": maximum size of an item
MAX_BATCH_OPS = 100  # "Transactional batch": at most 100 operations
_DOC = re.compile(r"^/dbs/([^/]+)/colls/([^/]+)/docs/([^/]+)/?$")
_DOCS = re.compile(r"^/dbs/([^/]+)/colls/([^/]+)/docs/?$")
_COLL = re.compile(r"^/dbs/([^/]+)/colls/([^/]+)/?$")
_COLLS = re.compile(r"^/dbs/([^/]+)/colls/?$")
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})
_NOT_FOUND = {"code": "NotFound", "message": "Entity with the specified id does not exist in the system."}
# Operations that fail when the item is missing, or whose If-Match the server must check.
_NEEDS_ITEM = frozenset({"Replace", "Delete", "Read", "Patch"})

Answer = tuple[int, list[tuple[str, str]], bytes]


class _Feed:
    """Latest version of each item per container, by the log sequence number of its last write."""

    def __init__(self) -> None:
        self.lsn = 0
        self.items: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}


class FidelityProxy:
    """Forwards to the Cosmos DB server and restores the documented behaviour it lacks (see above)."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.lock = threading.RLock()
        self.feeds: dict[str, _Feed] = {}
        self._local = threading.local()

    # -- plumbing ----------------------------------------------------------------------------

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Send one request upstream over this thread's persistent connection."""
        send = {k: v for k, v in headers.items() if k.lower() not in _HOP}
        send["Content-Length"] = str(len(body))
        for attempt in (0, 1):
            conn = self._connection(fresh=attempt == 1)
            try:
                conn.request(method, path, body=body, headers=send)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                # The server keeps connections open without an idle timeout, so this is a
                # restart or a dropped socket: reconnect once.
                self._local.conn = None
                conn.close()
                if attempt == 1:
                    raise
                continue
            if resp.will_close:
                self._local.conn = None
                conn.close()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP], data
        raise AssertionError("unreachable")

    def feed(self, db: str, coll: str) -> _Feed:
        return self.feeds.setdefault(f"{unquote(db)}/{unquote(coll)}", _Feed())

    def log_write(self, db: str, coll: str, pk: str, doc: Any) -> None:
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            feed = self.feed(db, coll)
            feed.lsn += 1
            feed.items[(pk, doc["id"])] = (feed.lsn, doc)

    def log_delete(self, db: str, coll: str, pk: str, doc_id: str) -> None:
        self.feed(db, coll).items.pop((pk, doc_id), None)

    def current(self, path: str, pk: str) -> dict[str, Any] | None:
        """The stored item at ``path`` in partition ``pk``, or None."""
        # The cross-partition header skips the server's faulty partition check (gap 1).
        status, _, data = self.forward(
            "GET",
            path,
            {"x-ms-documentdb-partitionkey": pk, "x-ms-documentdb-query-enablecrosspartition": "true"},
            b"",
        )
        if status == 200:
            doc = json.loads(data)
            return doc if isinstance(doc, dict) else None
        return None

    # -- the request path --------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one request as Cosmos DB documents it."""
        path = raw_path.split("?", 1)[0]
        lower = {k.lower(): v for k, v in headers.items()}
        pk = lower.get("x-ms-documentdb-partitionkey", "")
        doc_m, docs_m = _DOC.match(path), _DOCS.match(path)
        is_query = lower.get("x-ms-documentdb-isquery", "").lower() == "true" or lower.get(
            "content-type", ""
        ).startswith("application/query+json")
        if docs_m and method == "GET" and "incremental" in lower.get("a-im", "").lower():
            return self.change_feed(docs_m.group(1), docs_m.group(2), lower)
        if method in ("POST", "PUT") and (doc_m or docs_m) and not is_query:
            if lower.get("x-ms-cosmos-is-batch-request", "").lower() == "true" and docs_m:
                return self.batch(raw_path, docs_m.group(1), docs_m.group(2), headers, pk, body)
            if len(body) > MAX_ITEM_BYTES:
                return _json(413, {"code": "RequestEntityTooLarge", "message": "Request size is too large"})
        if method in ("GET", "HEAD") or is_query:
            # Reads change nothing the proxy tracks: no lock, so they run alongside writes.
            status, out_headers, data = self.forward(method, raw_path, headers, body)
            if doc_m and method == "GET" and status == 500:
                return _json(404, _NOT_FOUND)  # gap 1
            return status, out_headers, data
        with self.lock:
            status, out_headers, data = self.forward(method, raw_path, headers, body)
            if status < 300:
                self.observe(method, path, pk, data)
            return status, out_headers, data

    def observe(self, method: str, path: str, pk: str, data: bytes) -> None:
        """Keep the change log in step with a successful write."""
        doc_m, docs_m, coll_m, colls_m = (
            _DOC.match(path),
            _DOCS.match(path),
            _COLL.match(path),
            _COLLS.match(path),
        )
        if (docs_m and method == "POST") or (doc_m and method in ("PUT", "PATCH")):
            m = docs_m or doc_m
            assert m is not None
            self.log_write(m.group(1), m.group(2), pk, _loads(data))
        elif doc_m and method == "DELETE":
            self.log_delete(doc_m.group(1), doc_m.group(2), pk, unquote(doc_m.group(3)))
        elif coll_m and method == "DELETE":
            self.feeds.pop(f"{unquote(coll_m.group(1))}/{unquote(coll_m.group(2))}", None)
        elif colls_m and method == "POST":
            created = _loads(data)
            if isinstance(created, dict) and isinstance(created.get("id"), str):
                self.feeds.pop(f"{unquote(colls_m.group(1))}/{created['id']}", None)

    def batch(
        self, raw_path: str, db: str, coll: str, headers: dict[str, str], pk: str, body: bytes
    ) -> Answer:
        """A transactional batch: one partition (gap 3), all or nothing (gap 2), within limits (gap 5)."""
        ops = _loads(body)
        if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
            return _json(400, {"code": "BadRequest", "message": "Invalid request body"})
        if len(ops) > MAX_BATCH_OPS:
            return _json(
                400, {"code": "BadRequest", "message": "Batch request has more operations than supported"}
            )
        if len(body) > MAX_ITEM_BYTES:
            return _json(413, {"code": "RequestEntityTooLarge", "message": "Request size is too large"})
        for op in ops:
            op.setdefault("partitionKey", pk)  # gap 3: the header's partition key is every operation's
        docs_path = f"/dbs/{db}/colls/{coll}/docs"
        with self.lock:
            failure = self._precheck(ops, docs_path, pk)
            if failure is not None:
                index, status = failure
                results = [{"statusCode": 424, "requestCharge": 0} for _ in ops]
                results[index] = {"statusCode": status, "requestCharge": 0}
                return _json(200, results)
            status, out_headers, data = self.forward("POST", raw_path, headers, json.dumps(ops).encode())
            results = _loads(data)
            if status < 300 and isinstance(results, list):
                for op, result in zip(ops, results, strict=False):
                    if not isinstance(result, dict) or int(result.get("statusCode", 500)) >= 300:
                        continue
                    if op.get("operationType") == "Delete":
                        self.log_delete(db, coll, pk, str(op.get("id")))
                    elif op.get("operationType") != "Read":
                        self.log_write(db, coll, pk, result.get("resourceBody"))
            return status, out_headers, data

    def _precheck(self, ops: list[dict[str, Any]], docs_path: str, pk: str) -> tuple[int, int] | None:
        """The first operation that would fail against the current items, and its status."""
        state: dict[str, str | None] = {}  # id -> etag after the ops so far (None: absent)
        for index, op in enumerate(ops):
            kind = str(op.get("operationType", ""))
            body = op.get("resourceBody")
            resource: dict[str, Any] = body if isinstance(body, dict) else {}
            doc_id = str(op.get("id") or resource.get("id") or "")
            if_match = op.get("ifMatch")
            if kind == "Upsert" and not if_match:
                # An unconditional upsert cannot fail on the item's state: no read needed.
                state[doc_id] = f"pending-{index}"
                continue
            if doc_id not in state:
                cur = self.current(f"{docs_path}/{quote(doc_id, safe='')}", pk) if doc_id else None
                state[doc_id] = str(cur.get("_etag")) if cur else None
            etag = state[doc_id]
            if kind == "Create" and etag is not None:
                return index, 409
            if kind in _NEEDS_ITEM and etag is None:
                return index, 404
            if if_match and etag is not None and if_match != etag:
                return index, 412
            if kind != "Read":
                state[doc_id] = None if kind == "Delete" else f"pending-{index}"
        return None

    def change_feed(self, db: str, coll: str, headers: dict[str, str]) -> Answer:
        """The latest version of each item changed after the continuation (gap 4)."""
        with self.lock:
            feed = self.feed(db, coll)
            token = headers.get("if-none-match", "").strip('"')
            if token == "*":
                since = feed.lsn
            else:
                try:
                    since = int(token) if token else 0
                except ValueError:
                    since = 0
            limit = int(headers.get("x-ms-max-item-count") or "0") or 100
            if limit < 0:
                limit = 100
            pk = headers.get("x-ms-documentdb-partitionkey")
            entries = sorted(
                (lsn, doc)
                for (ipk, _), (lsn, doc) in feed.items.items()
                if lsn > since and (not pk or ipk == pk)
            )[:limit]
        if not entries:
            return 304, [("etag", str(since)), ("x-ms-item-count", "0")], b""
        docs = [{**doc, "_lsn": lsn} for lsn, doc in entries]
        status, out_headers, data = _json(200, {"_rid": "", "Documents": docs, "_count": len(docs)})
        return (
            status,
            [*out_headers, ("etag", str(entries[-1][0])), ("x-ms-item-count", str(len(docs)))],
            data,
        )


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def _json(status: int, body: Any) -> Answer:
    return status, [("content-type", "application/json")], json.dumps(body).encode()


def serve_proxy(upstream: str, port: int) -> None:
    """Run the fidelity proxy on ``127.0.0.1:port`` until killed."""
    proxy = FidelityProxy(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # persistent connections with the SDK
        disable_nagle_algorithm = True
        wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, headers, data = proxy.handle(
                    self.command, self.path, dict(self.headers.items()), body
                )
            except Exception as exc:  # answer, never hang the client
                status, headers, data = _json(500, {"code": "InternalServerError", "message": str(exc)})
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the SDK is chatty; keep the log for errors

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "proxy":
        serve_proxy(sys.argv[2], int(sys.argv[3]))
    else:
        install()
