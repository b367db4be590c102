"""The warm path's shortcuts give what the long way gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from portafn import App, Context, HttpRequest, HttpResponse
from portafn.http import Headers, unsafe_header
from portafn.runtime import Runtime


class Aliased(BaseModel):
    """Aliases, a serialisation-time setting and non-ASCII text: what model_dump_json writes."""

    model_config = ConfigDict(populate_by_name=True, ser_json_timedelta="float")

    order_id: str = Field(alias="orderId")
    note: str | None = None
    at: datetime


def test_a_model_body_is_the_bytes_of_model_dump_json() -> None:
    model = Aliased.model_validate(
        {"orderId": "o-1", "note": "caf\u00e9 \u2603", "at": datetime(2026, 1, 2, tzinfo=UTC)}
    )
    assert HttpResponse(model).body == model.model_dump_json().encode()


def test_a_header_name_once_good_does_not_make_a_bad_one_pass() -> None:
    assert unsafe_header(Headers({"X-Good": "v"})) is None
    assert unsafe_header(Headers({"X-Good": "v\r\nX-Evil: 1"})) == "X-Good"
    assert unsafe_header(Headers({"X Bad": "v"})) == "X Bad"
    assert unsafe_header(Headers(), ["a=b\nc"]) == "Set-Cookie"


def test_header_lookups_fold_case_whichever_spelling_arrived() -> None:
    headers = Headers.from_pairs([("content-type", "a"), ("X-Trace", "b"), ("x-trace", "c")])
    assert headers.get("Content-Type") == "a"
    assert headers.get_all("X-TRACE") == ["b", "c"]
    headers.remove("X-Trace")
    assert headers.items() == [("content-type", "a")]
    headers.remove("absent")
    assert headers.items() == [("content-type", "a")]


def test_a_plain_str_path_parameter_is_passed_as_sent_and_a_constrained_one_is_checked() -> None:
    app = App("warm")
    seen: list[str] = []

    @app.http("GET", "/a/{name}")
    def plain(name: str) -> None:
        seen.append(name)

    @app.http("GET", "/b/{name}")
    def constrained(name: Annotated[str, Field(max_length=3)]) -> None:
        seen.append(name)

    runtime = Runtime(app)
    assert runtime.handle_http(HttpRequest("GET", "/a/caf%C3%A9")).status == 204
    assert runtime.handle_http(HttpRequest("GET", "/b/long")).status == 400
    assert seen == ["caf\u00e9"]


def test_the_context_logger_is_made_once_with_the_context_fields() -> None:
    ctx = Context(request_id="r-1", correlation_id="c-1", provider="aws", function_name="f", cold_start=True)
    assert ctx.logger is ctx.logger
    assert ctx.logger.extra == {
        "request_id": "r-1",
        "correlation_id": "c-1",
        "provider": "aws",
        "function": "f",
        "cold_start": True,
    }
    assert 299.0 < ctx.remaining_time() <= 300.0


def test_an_app_without_async_code_does_not_import_asyncio() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from portafn.runtime import Runtime\n"
        "from samples.orders.app import app\n"
        "Runtime(app).start()\n"
        "print('asyncio' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_model_that_overrides_model_dump_json_is_sent_as_it_says() -> None:
    class Custom(BaseModel):
        x: int

        def model_dump_json(self, **kwargs: Any) -> str:
            return '{"custom": true}'

    assert HttpResponse(Custom(x=1)).body == b'{"custom": true}'
