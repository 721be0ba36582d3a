"""Opening a service: the store a database URL names and the signing key that goes with it."""

from __future__ import annotations

from pathlib import Path

from deconfliction.keyfile import key_path_for
from deconfliction.services.context import Clock, Context, system_clock
from deconfliction.services.service_keys import open_keys
from deconfliction.storage import open_store


def open_context(
    db_url: str, key_file: str | Path | None = None, clock: Clock = system_clock
) -> tuple[Context, bool]:
    """The service context over `db_url`, migrated, with its signing key (created if the key file
    does not exist); (context, whether the key was created). Raises UnsupportedDatabase,
    DatabaseUnavailable or keyfile.KeyFileError."""
    path = key_path_for(db_url, str(key_file) if key_file is not None else None)
    store = open_store(db_url)
    try:
        keys, created = open_keys(store, path, clock())
    except BaseException:
        store.close()
        raise
    return Context(store, keys, clock), created
