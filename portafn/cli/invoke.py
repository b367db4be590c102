"""``portafn invoke MODULE:APP FUNCTION --event FILE``: run one function once, in process.

For an HTTP function, FILE is ``{"method", "path", "headers", "query", "body"}`` (method and path
default to the function's route; a non-string body is sent as JSON). For any other function, FILE
is a CloudEvents JSON object: for queue and topic functions its ``data`` is the message payload;
for storage functions ``data`` is ``{"bucket", "key", ...}``; schedule functions need no file.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json

from portafn.cli.loading import AppLoadError, load_app
from portafn.errors import PortafnError
from portafn.events import Change, Event, StorageEvent
from portafn.factories import make_message, make_schedule
from portafn.testing import LocalClient
from portafn.triggers import HttpTrigger


def register(sub: Any) -> None:
    """Add the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "invoke", help="run one function once with an event from a file"
    )
    p.add_argument("app", metavar="MODULE:APP")
    p.add_argument("function")
    p.add_argument("--event", type=Path, help="JSON file with the event ('-' for standard input)")
    p.set_defaults(run=run)


def _read(path: Path | None) -> dict[str, Any]:
    from portafn.cli.main import CliError

    if path is None:
        return {}
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8-sig")
        value = json.loads(text)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(f"{path}: expected a JSON object")
    return value


def run(args: argparse.Namespace) -> int:
    """Invoke and print the outcome as JSON; exit 1 when the function failed."""
    from portafn.cli.main import CliError

    try:
        app = load_app(args.app)
        fn = app.function(args.function)
    except (AppLoadError, PortafnError) as exc:
        raise CliError(str(exc)) from None
    doc = _read(args.event)
    client = LocalClient(app)
    if isinstance(fn.trigger, HttpTrigger):
        body = doc.get("body")
        method = doc.get("method") or (fn.trigger.method if fn.trigger.method != "*" else "GET")
        resp = client.request(
            method,
            doc.get("path") or fn.trigger.path.template,
            body=body if isinstance(body, str) else None,
            json=None if isinstance(body, str) else body,
            headers=doc.get("headers"),
            query=doc.get("query"),
        )
        out: dict[str, Any] = {"status": resp.status, "headers": resp.headers.to_multi()}
        out["body"] = resp.text() if not resp.is_binary else f"<{len(resp.body)} bytes>"
        print(json.dumps(out, indent=2))
        return 0 if resp.status < 500 else 1
    try:
        event = _event_for(fn.kind, fn, doc)
        result = client.runtime.handle_event(fn, event)
    except ValidationError as exc:
        raise CliError(f"{args.event}: not a valid {fn.kind} event: {exc.error_count()} error(s)") from None
    except Exception as exc:
        print(json.dumps({"ok": False, "error": type(exc).__name__}), file=sys.stdout)
        return 1
    print(json.dumps({"ok": True, "result": json.loads(to_json(result))}, indent=2))
    return 0


def _event_for(kind: str, fn: Any, doc: dict[str, Any]) -> Event[Any]:
    base = {
        "id": doc.get("id") or str(uuid.uuid4()),
        "source": doc.get("source") or "portafn://cli",
    }
    if kind in ("queue", "topic"):
        queue = getattr(fn.trigger, kind)
        return make_message(doc.get("data"), queue=queue, attributes=doc.get("attributes"))
    if kind == "schedule":
        return make_schedule(fn)
    if kind == "storage":
        return StorageEvent.model_validate({"type": "portafn.storage", **base, **doc})
    if kind == "changes":
        return Change[Any].model_validate(
            {
                "type": "portafn.change",
                "table": fn.trigger.table.name,
                **base,
                **doc,
                **(doc.get("data") or {}),
            }
        )
    return Event[Any].model_validate({"type": doc.get("type") or fn.trigger.type, **base, **doc})
