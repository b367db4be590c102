"""The redaction fast path: skipping the patterns never changes what a value becomes."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portafn.log
from portafn import Context
from portafn.log import REDACTED, _may_hold_secret, _redact_all, get_logger, iso_time, redact_text
from tests.hostile.test_redaction import KEPT_VALUES, SECRET_VALUES

# Letters that re's IGNORECASE folds onto ASCII ones (U+017F is "s", U+0131 is "i", U+212A is "k").
_ALPHABET = st.sampled_from(
    [*"aAbBcdegiInorstuvwxyzK=@:/.-_ +0123456789eyJ", "\u017f", "\u0131", "\u212a", "\u00e9", "\n"]
)
_WORDS = st.sampled_from(
    [
        "Bearer ",
        "ba\u017fic ",
        "DIGEST ",
        "negot\u0131ate ",
        "token=",
        "sig=",
        "https://u:p@",
        "eyJ",
        "AKIA",
        "ghp_",
    ]
)


@pytest.mark.parametrize(("text", "secret"), SECRET_VALUES)
def test_every_secret_value_of_the_table_takes_the_full_path(text: str, secret: str) -> None:
    assert _may_hold_secret(text)
    assert secret not in redact_text(text)


@pytest.mark.parametrize("text", KEPT_VALUES)
def test_kept_values_come_back_unchanged(text: str) -> None:
    assert redact_text(text) == _redact_all(text) == text


def test_ids_and_names_are_cleared_without_the_patterns() -> None:
    for text in (str(uuid.uuid4()), "order created", "create_order", "portafn.app", "o-1234", "aws"):
        assert not _may_hold_secret(text)


def test_a_scheme_word_folded_by_ignorecase_is_still_caught() -> None:
    text = "Bearer abc"
    assert redact_text(text) == "Bearer " + REDACTED
    folded = "Ba\u017fic abcdef"  # re's IGNORECASE matches U+017F as "s"; str.lower() does not
    assert redact_text(folded) == _redact_all(folded)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ALPHABET, _WORDS), max_size=60).map("".join))
def test_the_fast_path_agrees_with_every_pattern(text: str) -> None:
    assert redact_text(text) == _redact_all(text)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=0, max_value=4e9, allow_nan=False),
        st.integers(min_value=0, max_value=4_000_000_000).map(lambda s: s + 0.9999996),
        st.integers(min_value=0, max_value=4_000_000_000).map(lambda s: s + 0.0005),
    )
)
def test_line_time_is_what_datetime_writes(created: float) -> None:
    assert iso_time(created) == datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


@contextmanager
def default_logging() -> Iterator[io.StringIO]:
    """portafn's own logging set-up alone (no handler pytest adds), writing to a buffer."""
    root = logging.getLogger("portafn")
    saved = (root.handlers[:], root.level, root.propagate)
    root.handlers.clear()
    get_logger("portafn.app")
    buffer = io.StringIO()
    cast(logging.StreamHandler[Any], root.handlers[0]).setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], root.level, root.propagate = saved


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    for line in lines:
        assert line.pop("time")
    return lines


def _log_every_shape(ctx: Context) -> None:
    ctx.logger.info("plain")
    ctx.logger.warning("order %s is %d cents", "o-1", 1250, extra={"order_id": "o-1", "token": "t"})
    ctx.logger.info(
        "extras", extra={"level": "x", "msg": "m", "_private": 1, "when": datetime(2026, 1, 1), "n": None}
    )
    ctx.logger.info("secret in text: Bearer abcdef")
    ctx.logger.info("%(n)s items", {"n": 3})


def test_a_direct_line_is_the_line_the_formatter_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[int] = []
    direct_write = portafn.log._write_line

    def counted(*args: Any) -> bool:
        written.append(1)
        return direct_write(*args)

    monkeypatch.setattr(portafn.log, "_write_line", counted)
    ctx = Context(request_id="r-1", correlation_id="c-1", provider="aws", function_name="f")
    with default_logging() as buffer:
        _log_every_shape(ctx)
        assert len(written) == 5  # every line took the direct path
        direct = _lines(buffer)
        buffer.seek(0)
        buffer.truncate()
        # A filter (that lets every record through) sends lines through logging's own path.
        logging.getLogger("portafn").handlers[0].addFilter(lambda record: True)
        _log_every_shape(ctx)
        assert _lines(buffer) == direct
    assert len(direct) == 5
    assert direct[4]["message"] == "3 items"
    assert direct[1]["message"] == "order o-1 is 1250 cents"
    assert direct[1]["token"] == REDACTED
    assert direct[2]["extra_level"] == "x"
    assert direct[2]["extra_msg"] == "m"
    assert "_private" not in direct[2]
    assert direct[3]["message"] == "secret in text: Bearer " + REDACTED


def test_the_standard_path_names_the_caller_of_info() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    ctx = Context(request_id="r-1", correlation_id="c-1", provider="aws", function_name="f")
    with default_logging() as buffer:
        logging.getLogger("portafn").addHandler(handler)
        ctx.logger.info("from the test")
        try:
            raise ValueError("boom")
        except ValueError:
            ctx.logger.exception("failed")
    assert [r.funcName for r in seen] == ["test_the_standard_path_names_the_caller_of_info"] * 2
    assert seen[1].exc_info is not None
    assert '"exception": ' in buffer.getvalue()


def test_a_bad_format_is_reported_by_logging_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    ctx = Context(request_id="r-1", correlation_id="c-1", provider="aws", function_name="f")
    with default_logging() as buffer:
        ctx.logger.info("%d apples", "not a number")
        ctx.logger.info("after it")
    assert "Logging error" in capsys.readouterr().err
    assert [line["message"] for line in _lines(buffer)] == ["after it"]


def test_a_direct_line_has_the_formatter_s_exact_text() -> None:
    extra = {
        "ratio": 1.5,
        "nan": float("nan"),
        "text": "caf\u00e9\u2028",
        "items": [1, {"a": None}],
        "ok": True,
    }
    ctx = Context(request_id="r-1", correlation_id="c-1", provider="aws", function_name="f")
    with default_logging() as buffer:
        ctx.logger.info("same text", extra=extra)
        logging.getLogger("portafn").handlers[0].addFilter(lambda record: True)  # the standard path
        ctx.logger.info("same text", extra=extra)
    direct, standard = (line.split('"level"', 1)[1] for line in buffer.getvalue().splitlines())
    assert direct == standard
    assert '"nan": NaN' in direct
    assert "\\u00e9\\u2028" in direct


def test_a_circular_extra_is_cut_not_raised() -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    ctx = Context(request_id="r-1", correlation_id="c-1", provider="aws", function_name="f")
    with default_logging() as buffer:
        ctx.logger.info("direct", extra={"value": loop})
        logging.getLogger("portafn").handlers[0].addFilter(lambda record: True)  # the standard path
        ctx.logger.info("standard", extra={"value": loop})
    lines = _lines(buffer)
    assert [line["message"] for line in lines] == ["direct", "standard"]
    for line in lines:
        value = line["value"]
        for _ in range(31):
            assert value["name"] == "loop"
            value = value["self"]
        assert value["self"] == portafn.log.TOO_DEEP
