"""The routing table of a deployment over several databases: which databases (shards) it has,
and which shard holds which mechanism, read from a TOML file (`DECONFLICTION_SHARDS`):

    [shards]                                   # name = database URL; the first is the home shard
    home = "postgresql://db1.internal/deconfliction"
    east = "postgresql://db2.internal/deconfliction"

    [mechanisms]                               # mechanism id = shard name
    mec_4f2a9c0d1e2b3a4c = "east"

The home shard keeps the directory every shard shares — parties, tokens, webhooks, parties'
public keys — and copies it to the others (services/directory.py); every shard keeps whole
mechanisms with their notifications, conflicts, messages, incidents, events and its own log. A
mechanism named under `[mechanisms]` is on that shard; one not named is on the shard that holds
it (asked once; a new mechanism is made on the shard its creation names, the home shard if none).
Naming a mechanism spares the lookup, and decides where it is served while a move cut short
leaves it on two shards (docs/deployment.md).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from deconfliction.storage import POSTGRES_SCHEMES, SQLITE_PREFIX

SHARD_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MECHANISM_ID = re.compile(r"^mec_[0-9a-f]{16}$")
MAX_FILE_BYTES = 1_048_576


class RoutingTableError(ValueError):
    """The routing table cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class RoutingTable:
    """Shards by name (the first is the home shard) and the mechanisms placed by name."""

    shards: dict[str, str]
    mechanisms: dict[str, str]

    @property
    def home(self) -> str:
        return next(iter(self.shards))


def parse(text: str, source: str = "the routing table") -> RoutingTable:
    """The routing table in `text`; RoutingTableError naming what is wrong."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RoutingTableError(f"{source}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - {"shards", "mechanisms"})
    if unknown:
        raise RoutingTableError(
            f"{source}: unknown table [{unknown[0]}]; expected [shards] and [mechanisms]"
        )
    shards = document.get("shards")
    if not isinstance(shards, dict) or not shards:
        raise RoutingTableError(f"{source}: [shards] must name at least one database")
    for name, url in shards.items():
        if not SHARD_NAME.match(name):
            raise RoutingTableError(
                f"{source}: shards.{name}: a shard name is a-z, 0-9 and -, starting with a letter"
            )
        if not isinstance(url, str) or not url.startswith((SQLITE_PREFIX, *POSTGRES_SCHEMES)):
            raise RoutingTableError(
                f"{source}: shards.{name}: must be a database URL (postgresql://… or sqlite:///…)"
            )
    urls = list(shards.values())
    repeated = next((url for url in urls if urls.count(url) > 1), None)
    if repeated is not None:
        raise RoutingTableError(f"{source}: [shards] names one database twice: {repeated}")
    mechanisms = document.get("mechanisms", {})
    if not isinstance(mechanisms, dict):
        raise RoutingTableError(f"{source}: [mechanisms] must be a table of id = shard name")
    for mechanism_id, shard in mechanisms.items():
        if not MECHANISM_ID.match(mechanism_id):
            raise RoutingTableError(
                f"{source}: mechanisms.{mechanism_id}: not a mechanism id (mec_ and 16 hex digits)"
            )
        if shard not in shards:
            raise RoutingTableError(
                f"{source}: mechanisms.{mechanism_id}: {shard!r} is not a shard named in [shards]"
            )
    return RoutingTable(dict(shards), dict(mechanisms))


def load(path: str | Path) -> RoutingTable:
    """The routing table in the file at `path`."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise RoutingTableError(f"cannot read the routing table {file}: {error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise RoutingTableError(f"{file}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RoutingTableError(f"{file}: not UTF-8 text") from None
    return parse(text, str(file))
