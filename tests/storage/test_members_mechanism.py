"""`members_mechanism`, on both backends: a mechanism and its membership read in one statement —
the mechanism's row for a member, None for a party that is not one and for a mechanism that
does not exist, which the service answers alike (NotFound)."""

from __future__ import annotations

from backends import Databases

from deconfliction.storage import open_store

AT = "2031-05-01T06:00:00Z"


def test_a_mechanism_is_read_with_its_membership(databases: Databases) -> None:
    store = open_store(databases.new().url)
    try:
        with store.write() as tx:
            for party in ("pty_member", "pty_other"):
                tx.insert_party(
                    {"id": party, "name": party, "code": party, "contact": "", "created_at": AT}
                )
            tx.insert_mechanism(
                {
                    "id": "mec_a",
                    "name": "a",
                    "area_json": None,
                    "rules_json": "{}",
                    "created_at": AT,
                }
            )
            assert tx.add_member("mec_a", "pty_member", AT)
        with store.read() as tx:
            assert tx.members_mechanism("mec_a", "pty_member") == tx.mechanism("mec_a")
            assert tx.members_mechanism("mec_a", "pty_other") is None
            assert tx.members_mechanism("mec_b", "pty_member") is None
    finally:
        store.close()
