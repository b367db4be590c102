"""The redaction fast path: skipping the patterns never changes what a value becomes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portafn.log import REDACTED, _may_hold_secret, _redact_all, iso_time, redact_text
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
