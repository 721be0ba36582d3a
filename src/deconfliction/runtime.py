"""Opening a service: the stores database URLs name and the signing key that goes with them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deconfliction.keyfile import key_path_for
from deconfliction.services.context import Clock, Context, system_clock
from deconfliction.services.ports import Store
from deconfliction.services.service_keys import open_keys
from deconfliction.storage import open_store


def open_contexts(
    db_urls: Sequence[str], key_file: str | Path | None = None, clock: Clock = system_clock
) -> tuple[list[Context], bool]:
    """A service context over each database URL (one, or a deployment's shards, the home shard
    first), migrated, all signing with one key — `key_file`, else the first database's default
    key file, created if neither exists; (contexts, whether the key was created). Raises
    UnsupportedDatabase, DatabaseUnavailable or keyfile.KeyFileError."""
    path = key_path_for(db_urls[0], str(key_file) if key_file is not None else None)
    stores: list[Store] = []
    try:
        for url in db_urls:
            stores.append(open_store(url))
        keys, created = open_keys(stores, path, clock())
    except BaseException:
        for store in stores:
            store.close()
        raise
    return [Context(store, keys, clock) for store in stores], created


def open_context(
    db_url: str, key_file: str | Path | None = None, clock: Clock = system_clock
) -> tuple[Context, bool]:
    """The service context over `db_url` (see open_contexts)."""
    (ctx,), created = open_contexts([db_url], key_file, clock)
    return ctx, created
