"""The routing table of a deployment over several databases: what it accepts, and each refusal
naming the file and the entry (sharding/routing_table.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deconfliction.sharding import routing_table
from deconfliction.sharding.routing_table import RoutingTableError

HOME = 'home = "postgresql://db1/deconfliction"'
EAST = 'east = "sqlite:////var/lib/deconfliction/east.db"'


def test_a_table_gives_its_shards_in_order_and_its_placed_mechanisms() -> None:
    table = routing_table.parse(
        f'[shards]\n{HOME}\n{EAST}\n[mechanisms]\nmec_0123456789abcdef = "east"\n'
    )
    assert list(table.shards) == ["home", "east"] and table.home == "home"
    assert table.mechanisms == {"mec_0123456789abcdef": "east"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[shards\n", "not valid TOML"),
        (f"[shards]\n{HOME}\n[routes]\n", "unknown table [routes]"),
        ("[mechanisms]\n", "[shards] must name at least one database"),
        ('[shards]\nHome = "sqlite:///a.db"\n', "shards.Home: a shard name is"),
        ('[shards]\nhome = "mysql://db/x"\n', "shards.home: must be a database URL"),
        ("[shards]\nhome = 7\n", "shards.home: must be a database URL"),
        (
            '[shards]\nhome = "sqlite:///a.db"\neast = "sqlite:///a.db"\n',
            "names one database twice: sqlite:///a.db",
        ),
        (f'[shards]\n{HOME}\nmechanisms = "x"\n', "shards.mechanisms: must be a database URL"),
        (f'[shards]\n{HOME}\n[mechanisms]\nmec_x = "home"\n', "mechanisms.mec_x: not a mechanism"),
        (
            f'[shards]\n{HOME}\n[mechanisms]\nmec_0123456789abcdef = "west"\n',
            "mechanisms.mec_0123456789abcdef: 'west' is not a shard named in [shards]",
        ),
    ],
)
def test_a_table_that_cannot_be_used_is_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(RoutingTableError, match="shards.toml") as refused:
        routing_table.parse(text, "shards.toml")
    assert message in str(refused.value)


def test_the_file_is_read_as_utf_8_and_bounded(tmp_path: Path) -> None:
    file = tmp_path / "shards.toml"
    file.write_text(f"[shards]\n{HOME}\n")
    assert routing_table.load(file).home == "home"
    with pytest.raises(RoutingTableError, match="cannot read the routing table"):
        routing_table.load(tmp_path / "missing.toml")
    file.write_bytes(b'[shards]\nhome = "\xff"\n')
    with pytest.raises(RoutingTableError, match="not UTF-8"):
        routing_table.load(file)
    file.write_bytes(b"#" * (routing_table.MAX_FILE_BYTES + 1))
    with pytest.raises(RoutingTableError, match="larger than"):
        routing_table.load(file)
