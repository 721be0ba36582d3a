"""Stored documents' JSON text (services/stored_json.py): what the standard library's text read
as, keys sorted; NaN and infinity refused wherever they are, as the standard library refused
them; what JSON cannot say refused alike."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconfliction.services.stored_json import NotFinite, dumps

# Strings as the API lets them in: no lone surrogates (refused 422 at the boundary).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1e-05, 1.5e-07, 9.999e-5, 1e16, 1e21, 0.1, 1e308])
    | st.floats(allow_nan=False, allow_infinity=False).map(np.float64)
    | texts
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(texts, inner, max_size=5)
    ),
    max_leaves=40,
)


class _Points(list[float]):
    """A subclass of list, which orjson writes as a list."""


STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # a JSON string, escapes included


def _standard(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _keys_sorted(document: Any) -> bool:
    if isinstance(document, dict):
        return list(document) == sorted(document) and all(map(_keys_sorted, document.values()))
    if isinstance(document, list):
        return all(map(_keys_sorted, document))
    return True


@settings(max_examples=1_000, deadline=None)
@given(documents)
def test_reads_as_the_standard_librarys_text_with_keys_sorted(value: Any) -> None:
    text = dumps(value)
    assert json.loads(text) == json.loads(_standard(value))
    assert _keys_sorted(json.loads(text))
    assert not re.search(r"\s", STRING.sub("", text))  # compact: no space outside a string


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        [1.0, float("inf")],
        {"a": None, "b": {"c": [2.5, (None, float("-inf"))]}},
        {"a": 1.0, "b": [float("nan")]},
        ({"x": None}, [np.float64("nan")]),
        {"deep": [[[[[[[[{"z": np.float64("inf")}]]]]]]]]},
        OrderedDict(a=None, b=_Points([float("nan")])),
    ],
)
def test_a_float_that_is_not_finite_is_refused_wherever_it_is(value: Any) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        _standard(value)
    with pytest.raises(NotFinite, match="not JSON compliant"):
        dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": {1, 2}},
        [np.zeros(2)],
        {"a": b"bytes"},
        [np.float32(0.5)],
        {"n": np.int64(3)},
        object(),
    ],
)
def test_what_json_cannot_say_is_refused_alike(value: Any) -> None:
    with pytest.raises(TypeError):
        _standard(value)
    with pytest.raises(TypeError):
        dumps(value)


def test_numpy_float64_is_written_as_the_float_it_is() -> None:
    # The standard library wrote NumPy's float64, a subclass of float; so does this.
    value = {"gap": np.float64(12.5), "tiny": np.float64(1e-05)}
    assert dumps(value) == '{"gap":12.5,"tiny":0.00001}'
    assert json.loads(dumps(value)) == json.loads(_standard(value))
