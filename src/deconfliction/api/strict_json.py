"""The API's one strict reading of JSON bodies: refused with 400 naming where and why.

FastAPI decodes a JSON body with Python's parser, which also reads UTF-16, UTF-32 and a byte
order mark, keeps the last of two equal keys, and fails past about a thousand levels of nesting
with a message that names nothing. Every body declared as JSON is read here first, strictly:
UTF-8 only (RFC 8259), no byte order mark, no duplicated key, at most `MAX_DEPTH` levels, each
refusal naming the byte, line and column or the key. NaN and Infinity are not refused here: the
schemas refuse them naming the field, which says more.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from itertools import chain, compress, repeat
from operator import is_
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deconfliction.api.problems import problem

# A notification nests 7 levels deep (body, volumes, volume, area, rings, ring, position).
MAX_DEPTH = 32
BOM = "\ufeff"
CONTAINERS = frozenset({dict, list})


class _Refusal(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refusal(f"the key {key!r} appears twice in one object of the body")
        result[key] = value
    return result


def _containers(values: Iterable[Any]) -> list[Any]:
    values = list(values)
    return list(compress(values, map(CONTAINERS.__contains__, map(type, values))))


def _next_level(level: list[Any]) -> list[Any]:
    """The arrays and objects inside those of `level`: iterated in C (map, compress, chain), as a
    1 MB body may hold half a million values."""
    kinds = list(map(type, level))
    lists = compress(level, map(is_, kinds, repeat(list)))
    dicts = compress(level, map(is_, kinds, repeat(dict)))
    return _containers(
        chain(chain.from_iterable(lists), chain.from_iterable(map(dict.values, dicts)))
    )


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (level by level, no recursion)."""
    level = _containers([document])
    for _ in range(limit):
        if not level:
            return False
        level = _next_level(level)
    return bool(level)


def _decode(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Refusal(f"the body is not UTF-8: {error.reason} at byte {error.start}") from None
    if text.startswith(BOM):
        raise _Refusal("the body starts with a byte order mark; send UTF-8 without one")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise _Refusal(f"the body is not valid JSON: {error.msg} at {where}") from None
    except RecursionError:
        raise _Refusal(_too_deep()) from None
    except ValueError:  # the one other error of Python's parser: an integer too long to convert
        digits = sys.get_int_max_str_digits()
        raise _Refusal(
            f"the body is not valid JSON: a number has more than {digits} digits"
        ) from None


def _too_deep() -> str:
    return f"the body nests arrays and objects more than {MAX_DEPTH} levels deep"


def objection(body: bytes) -> str | None:
    """Why a JSON body is refused before any handler reads it, or None if it is acceptable."""
    try:
        document = _decode(body)
    except _Refusal as refusal:
        return str(refusal)
    return _too_deep() if _deeper_than(document, MAX_DEPTH) else None


def declares_json(scope: Scope) -> bool:
    """Whether the request says its body is JSON the way FastAPI decides to parse it:
    `application/json` or `application/<anything>+json`, parameters aside."""
    content_type: bytes = dict(scope.get("headers", [])).get(b"content-type", b"")
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class StrictJSON:
    """ASGI middleware: a JSON body with an objection is answered 400 `malformed-request`.

    Inside the authentication and the size limit, which has already bounded (and buffered) the
    body read here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not declares_json(scope):
            await self.app(scope, receive, send)
            return
        body, last = await _read_body(receive)
        complete = last["type"] == "http.request"
        refused = objection(body) if complete and body else None
        if refused:
            await problem("malformed-request", refused, instance=scope["path"])(
                scope, receive, send
            )
            return
        pending = [_whole(body) if complete else last]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[bytes, Message]:
    """The whole body, and the last message received (a disconnect ends it early)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), message


def _whole(body: bytes) -> Message:
    return {"type": "http.request", "body": body, "more_body": False}
