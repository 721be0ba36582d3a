"""RFC 8785 (JSON Canonicalization Scheme) bytes, fast for the values the log signs.

The `rfc8785` package is a pure-Python serializer; the standard library's C JSON encoder writes
the same bytes for most values, ten times faster. It is used when that is certain:

- object keys have no code point at or above U+D800, so code-point order (Python's sort) is
  UTF-16 code-unit order (RFC 8785 §3.2.3);
- strings are escaped alike: both escape exactly `"`, `\\` and U+0000–U+001F, with `\\b \\f \\n
  \\r \\t` and lower-case `\\u00xx` for the rest (§3.2.2.2), and neither escapes anything else;
- integers lie within ±(2**53 − 1), as RFC 8785 requires;
- floats: an integral one below 2**53 in magnitude is written as that integer (ECMAScript writes
  2.0 as `2`), and any other at least 1e-4 in magnitude is written by `repr`, which then gives
  the same shortest round-trip digits in plain notation as ECMAScript (§3.2.2.3).

Anything else — a very small float, a large one, a key beyond U+D7FF, a lone surrogate — goes
to `rfc8785`, which also raises for what has no canonical form (NaN, infinities, big integers).
A property test checks the two agree.
"""

from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

_INT_LIMIT = 2**53 - 1
_SMALLEST_PLAIN = 1e-4
_NON_INTEGRAL = 2.0**52  # every float at least this large is an integer
_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


class _NotPlain(Exception):
    """The value needs the reference serializer."""


def _plain(value: Any) -> Any:
    """The value with integral floats made ints; _NotPlain for what the fast path cannot do.

    Exact types are dispatched first (the values the log signs are plain dicts, lists,
    strings and numbers); a subclass takes the general checks below.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        plain = {}
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or _bmp_below_surrogates(key)):
                raise _NotPlain
            item_kind = type(item)
            plain[key] = (
                item if item_kind is str or item_kind is bool or item is None else _plain(item)
            )
        return plain
    if kind is list:
        return [_plain(item) for item in value]
    if kind is float and _SMALLEST_PLAIN <= abs(value) < _NON_INTEGRAL and not value.is_integer():
        return value
    if kind is int and -_INT_LIMIT <= value <= _INT_LIMIT:
        return value
    return _plain_scalar(value)


def _bmp_below_surrogates(key: str) -> bool:
    return max(key) < "\ud800"


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, str) or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -_INT_LIMIT <= value <= _INT_LIMIT:
            return value
        raise _NotPlain
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotPlain
        if value.is_integer():
            if -_INT_LIMIT <= value <= _INT_LIMIT:
                return int(value)
            raise _NotPlain
        if abs(value) >= _SMALLEST_PLAIN:  # non-integral, so below 2**52: plain notation
            return value
        raise _NotPlain
    if isinstance(value, dict):
        return _plain(dict(value))
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    raise _NotPlain


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of `value`; rfc8785.CanonicalizationError if it has none."""
    try:
        return _encoder.encode(_plain(value)).encode("utf-8")
    except (_NotPlain, UnicodeEncodeError):
        return rfc8785.dumps(value)
