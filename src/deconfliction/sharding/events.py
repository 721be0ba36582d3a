"""The line's events across a deployment's shards: each shard numbers its own events, so a
reader's place is one event id per shard — a cursor `home:12,east:5` — and the events of the
shards are interleaved by time, each shard's in its own order.

Every event read this way carries `shard`, the name of the shard whose event it is; its `id` is
that shard's. Nothing is lost or repeated on resume: the cursor moves past an event of a shard
only once every earlier event of that shard was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from deconfliction.errors import InvalidInput
from deconfliction.services import line_status, stream
from deconfliction.services.context import Actor
from deconfliction.sharding.deployment import Deployment
from deconfliction.sharding.merge import instant

Cursor = dict[str, int]
PART = re.compile(r"^([a-z][a-z0-9-]{0,30}):([0-9]{1,19})$")
MAX_CURSOR_TEXT = 1_000


@dataclass(frozen=True)
class Taken:
    """Events taken in order, each with its shard, and the cursor after the last of them."""

    events: list[tuple[str, dict[str, Any]]]
    cursor: Cursor

    def views(self) -> list[dict[str, Any]]:
        """The events as a reader is given them: each with its shard's name."""
        return [{**event, "shard": shard} for shard, event in self.events]

    def of_shard(self, name: str) -> list[dict[str, Any]]:
        return [event for shard, event in self.events if shard == name]


def parse(text: str | None, deployment: Deployment, field: str) -> Cursor | None:
    """A cursor sent back (`home:12,east:5`; a shard left out: from its first event; a bare
    number: a place in the home shard from before the deployment had several); None if empty."""
    if text is None or text.strip() == "":
        return None
    names = list(deployment.contexts)
    cursor = dict.fromkeys(names, 0)
    text = text.strip()
    if text.isascii() and text.isdigit():
        cursor[names[0]] = _number(text, field)
        return cursor
    advice = f"must be a cursor the stream gave, e.g. {format_cursor(cursor)}"
    parts = text.split(",")
    if len(text) > MAX_CURSOR_TEXT or len(parts) > len(names):
        raise InvalidInput.one(field, advice)
    seen = set()
    for part in parts:
        match = PART.match(part.strip())
        if match is None or match[1] in seen:
            raise InvalidInput.one(field, advice)
        if match[1] not in cursor:
            raise InvalidInput.one(field, f"{match[1]!r} is not a shard of this deployment")
        seen.add(match[1])
        cursor[match[1]] = _number(match[2], field)
    return cursor


def _number(text: str, field: str) -> int:
    value = int(text)
    if value > stream.MAX_CURSOR:
        raise InvalidInput.one(field, "an event id is a whole number below 2^63")
    return value


def format_cursor(cursor: Cursor) -> str:
    return ",".join(f"{name}:{number}" for name, number in cursor.items())


def newest(deployment: Deployment, actor: Actor) -> Cursor:
    """Each shard's newest event: where a live-only stream starts."""
    return {name: stream.newest(ctx, actor) for name, ctx in deployment.contexts.items()}


def interleave(pages: dict[str, list[dict[str, Any]]], after: Cursor, limit: int) -> Taken:
    """At most `limit` events of the shards' pages, by time (then shard order), each shard's
    taken from its start, in order; the cursor after them."""
    order = {name: i for i, name in enumerate(pages)}
    place = dict.fromkeys(pages, 0)
    taken: list[tuple[str, dict[str, Any]]] = []
    cursor = dict(after)
    while len(taken) < limit:
        waiting = [
            (instant(pages[name][i]["created_at"]), order[name], name)
            for name, i in place.items()
            if i < len(pages[name])
        ]
        if not waiting:
            break
        name = min(waiting)[2]
        event = pages[name][place[name]]
        place[name] += 1
        taken.append((name, event))
        cursor[name] = event["id"]
    return Taken(taken, cursor)


def page(
    deployment: Deployment, actor: Actor, *, after: Cursor, limit: int, field: str = "after"
) -> Taken:
    """Up to `limit` events after the cursor that the actor's token may see, from every
    shard (stream.page's rules in each)."""
    pages = {
        name: stream.page(ctx, actor, after=after[name], limit=limit, field=field).events
        for name, ctx in deployment.contexts.items()
    }
    return interleave(pages, after, limit)


def listen(deployment: Deployment, actor: Actor, *, after: Cursor, limit: int) -> Taken:
    """An open stream's next page; its party, listening, is in contact with every shard."""
    taken = page(deployment, actor, after=after, limit=limit)
    for ctx in deployment.contexts.values():
        line_status.heard_from(ctx, actor)
    return taken


def still_listening(deployment: Deployment, actor: Actor) -> None:
    for ctx in deployment.contexts.values():
        stream.still_listening(ctx, actor)


def record_delivery(deployment: Deployment, actor: Actor, taken: Taken, via: str) -> None:
    """The party has been sent these events: the first delivery of their subjects, in each
    event's own shard."""
    for name, ctx in deployment.contexts.items():
        stream.record_delivery(ctx, actor, taken.of_shard(name), via)
