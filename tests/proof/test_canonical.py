"""The fast canonical JSON writes exactly what the reference RFC 8785 serializer writes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.proof import canonical

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e-4, 9.999e-5, 1e-7, 1e16, 2.0**53, 2.0**53 + 2, 1e21, 0.1])
    | st.text()
    | st.sampled_from(["\ud800", "\udfff x", "\x00\x1f\x7f\u2028", "é€𝄞", '"\\/\b\f\n\r\t'])
)
keys = st.text() | st.sampled_from(["\ue000", "𝄞", "\uffff", "a", "B", "é"])
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        return type(error)


@settings(max_examples=1_000, deadline=None)
@given(values)
def test_the_fast_path_writes_the_reference_bytes_or_raises_alike(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical.dumps(value) == expected
    else:
        with pytest.raises(expected):
            canonical.dumps(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 2.0, "a": [1e-4, 0.5, -0.0]}, '{"a":[0.0001,0.5,0],"b":2}'),
        ({"x": 1e-7, "y": 1e21}, '{"x":1e-7,"y":1e+21}'),
        ({"\ue000": 1, "𝄞": 2}, '{"𝄞":2,"\ue000":1}'),  # UTF-16 order, not code points
        ({"s": "line\nbreak \u001f"}, '{"s":"line\\nbreak \\u001f"}'),
    ],
)
def test_known_canonical_forms(value: Any, text: str) -> None:
    assert canonical.dumps(value) == text.encode()
