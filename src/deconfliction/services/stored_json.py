"""The JSON text of stored documents: compact, keys sorted, written by orjson; NaN and infinity
are refused.

A conflict's overlaps are outlines of a few hundred coordinates, and they are written twice a
write (the conflict's row, the response kept for its Idempotency-Key): the standard library
writes three overlaps' floats in ~600 µs, orjson in ~30. But orjson writes a float that is not
finite as `null` where the standard library refuses it, so a text holding `null` is checked,
and a document with NaN or infinity is refused as before, not stored as null. The check reads
the text back first: a document it reads as is one with no such float (NaN and infinity read
back as None), ~50 µs for a notify's response with three overlaps. Only a document it does not
read as (tuples read back as lists) has its floats walked, ~280 µs for the same response.

The text differs from the standard library's in two ways that do not change what it reads as:
characters beyond ASCII are written as UTF-8 rather than escaped, and a float below 10⁻⁴ in
other digits (`0.00001` for `1e-05`, `1.5e-7` for `1.5e-07`).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, compress, repeat
from math import isfinite
from typing import Any

import orjson


class NotFinite(ValueError):
    """A document holds NaN or infinity, which JSON cannot say."""


def dumps(value: Any) -> str:
    """Compact JSON with sorted keys; NotFinite if a float in it is NaN or infinite."""
    text = orjson.dumps(value, default=_number, option=orjson.OPT_SORT_KEYS)
    if b"null" in text and orjson.loads(text) != value and not _all_finite(value):
        raise NotFinite("out of range float values are not JSON compliant")
    return text.decode("utf-8")


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def _number(value: Any) -> float:
    """A subclass of float (NumPy's float64) as the float it is: the standard library writes
    those, orjson asks. Anything else is not JSON."""
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _all_finite(document: Any) -> bool:
    """Whether every float in the document is finite: level by level, iterated in C. Subclasses
    count as what they subclass, as orjson writes them."""
    level = [document]
    while level:
        if not all(map(isfinite, _of_kind(level, float))):
            return False
        level = list(
            chain(
                chain.from_iterable(_of_kind(level, list)),
                chain.from_iterable(_of_kind(level, tuple)),
                chain.from_iterable(map(dict.values, _of_kind(level, dict))),
            )
        )
    return True


def _of_kind(values: list[Any], kind: type) -> Iterator[Any]:
    return compress(values, map(isinstance, values, repeat(kind)))
