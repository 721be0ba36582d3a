"""Lists that span a deployment's shards: each shard answers the same question, and the answers
are merged in the order one database would have given them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from deconfliction.services.context import Context

View = dict[str, Any]


def instant(text: str) -> datetime:
    """A stored RFC 3339 instant, for ordering (its text does not sort: `00.5Z` < `00Z`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def merged(
    contexts: Iterable[Context],
    read: Callable[[Context], list[View]],
    key: Callable[[View], Any],
    limit: int | None,
) -> list[View]:
    """The first `limit` (None: all) of every shard's answer (each at most `limit`), in `key`
    order."""
    views = [view for context in contexts for view in read(context)]
    return sorted(views, key=key)[:limit]
