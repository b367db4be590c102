"""The DynamoDB store skips measuring an item exactly when a cheap bound shows it fits: the bound
must never be under the exact size DynamoDB counts."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from portafn_aws.dynamodb_keys import item_to_dynamo
from portafn_aws.dynamodb_store import MAX_ITEM_BYTES, _surely_fits, item_size
from pydantic_core import to_json

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.binary(max_size=30)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), _VALUES, max_size=8))
def test_an_item_never_counts_more_than_three_times_its_json(doc: dict[str, Any]) -> None:
    item = item_to_dynamo(doc)
    try:
        encoded = to_json(item)
    except Exception:
        assert not _surely_fits(item)  # binary that is not UTF-8: measured exactly
        return
    assert item_size(item) <= 3 * len(encoded)


def test_a_large_item_is_measured_exactly() -> None:
    item = item_to_dynamo({"text": "x" * (MAX_ITEM_BYTES // 3)})
    assert not _surely_fits(item)
    assert item_size(item) > MAX_ITEM_BYTES // 3
