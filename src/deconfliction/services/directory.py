"""The directory a deployment's shards share — parties, tokens, webhooks, parties' public keys —
kept by its home database and copied to every other shard, so that each shard holds whole
mechanisms whose rows refer to parties, tokens and webhooks it has.

The home database decides: every directory change is made there (with its log entry and its
receipt), then copied. A copy is a write per shard that inserts what the shard lacks and brings
up to date what it has; it runs when the service starts and after every directory change, so a
copy cut short (a crash between two shards) is completed by the next. Authentication reads the
home database only, so a token revoked there is refused everywhere at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from deconfliction.services.context import Context
from deconfliction.services.ports import Row
from deconfliction.storage.sqlite.directory import DIRECTORY


def copy(home: Context, shards: Iterable[Context]) -> dict[str, int]:
    """Copy the home database's directory to each shard; the rows copied per table."""
    with home.store.read() as tx:
        rows: dict[str, list[Row]] = {table: tx.directory_rows(table) for table in DIRECTORY}
    for shard in shards:
        with shard.store.write() as tx:
            for table in DIRECTORY:  # in the order they refer to each other
                tx.put_directory_rows(table, rows[table])
    return {table: len(found) for table, found in rows.items()}
