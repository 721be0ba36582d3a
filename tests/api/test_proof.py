"""The transparency log through the API: receipts in write responses that verify offline, every
state change logged in its transaction, who sees which entry, heads, consistency proofs, operator
reads and key rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from backends import Database
from nacl.signing import SigningKey

from deconfliction.keyfile import KeyFileError, read_key, write_key
from deconfliction.proof import key_rotation, merkle
from deconfliction.proof.entries import entry_leaf_hash
from deconfliction.proof.tree_head import SignedTreeHead, key_id, verify_tree_head
from deconfliction.runtime import open_context
from deconfliction.services import log_access, messages, notifications
from deconfliction.services.context import Context

from .conftest import (
    MovableClock,
    Party,
    World,
    circle,
    simple,
)
from .test_line import ack_message, conflicting_pair, events, send, system_messages


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def public_key(world: World, party: Party) -> bytes:
    head = world.client.get("/v1/log/head", headers=party.headers).json()
    return unb64(head["public_key"])


def check_receipt(receipt: dict[str, Any], key: bytes) -> None:
    """What a party checks offline: the leaf, the path to the root, the head's signature."""
    salt = unb64(receipt["salt"])
    leaf = entry_leaf_hash(receipt["entry"], salt)
    assert leaf == unb64(receipt["leaf_hash"])
    head = SignedTreeHead.from_json(receipt["tree_head"])
    assert verify_tree_head(head, key)
    proof = [unb64(node) for node in receipt["inclusion_proof"]]
    assert merkle.verify_inclusion(leaf, receipt["leaf_index"], head.tree_size, proof, head.root())


def receipts_of(world: World, headers: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = -1
    while True:
        page = world.client.get(f"/v1/receipts?after={after}&limit=100", headers=headers).json()
        found += page["receipts"]
        if page["next_after"] is None:
            return found
        after = page["next_after"]


def kinds(receipts: list[dict[str, Any]]) -> list[str]:
    return [r["entry"]["kind"] for r in receipts]


def test_every_write_answers_with_a_receipt_that_verifies_offline(world: World) -> None:
    key = public_key(world, world.north)
    created = world.notify(world.north, simple(world.clock, circle(30.0, 10.0)))
    check_receipt(created["receipt"], key)
    entry = created["receipt"]["entry"]
    assert entry["kind"] == "notification.created" and entry["subject_id"] == created["id"]
    assert entry["by"] == {"token_id": world.north.token_id, "party_id": world.north.id}

    sent = send(world, world.north, [world.south])
    check_receipt(sent["receipt"], key)
    acked = ack_message(world, world.south, sent["id"]).json()
    check_receipt(acked["receipt"], key)
    assert acked["receipt"]["entry"]["kind"] == "message.acknowledged"

    party = world.new_party()
    token = world.client.post(
        f"/v1/parties/{party.id}/tokens", json={"label": "x"}, headers=world.operator
    ).json()
    check_receipt(token["receipt"], key)
    assert token["token"] not in json.dumps(token["receipt"])  # the secret is never logged
    revoked = world.client.delete(f"/v1/tokens/{token['id']}", headers=world.operator).json()
    check_receipt(revoked["receipt"], key)
    assert revoked["receipt"]["entry"]["kind"] == "token.revoked"


def test_a_notifications_content_is_bound_by_its_hash(world: World, ctx: Context) -> None:
    created = world.notify(world.north, simple(world.clock, circle(30.0, 10.0), title="bound"))
    with ctx.store.read() as tx:
        row = tx.notification(created["id"])
        assert row is not None
        content = notifications.content_of(row)
    digest = hashlib.sha256(rfc8785.dumps(content)).hexdigest()
    assert created["receipt"]["entry"]["content_sha256"] == digest
    assert content["title"] == "bound"


def test_state_changes_are_logged_for_the_parties_concerned(world: World) -> None:
    north_id, south_id, conflict_id = conflicting_pair(world)
    cancelled = world.client.post(
        f"/v1/notifications/{south_id}/cancel", json={}, headers=world.south.headers
    )
    assert cancelled.status_code == 200, cancelled.text

    everything = receipts_of(world, world.operator)
    logged = kinds(everything)
    for kind in (
        "mechanism.created",
        "party.created",
        "member.added",
        "token.created",
        "notification.created",
        "conflict.detected",
        "notification.cancelled",
        "conflict.resolved",
        "message.sent",  # the system message telling NORTH of the cancellation
    ):
        assert kind in logged, kind
    assert [r["leaf_index"] for r in everything] == list(range(len(everything)))

    # SOUTH sees the conflict and its own notification's entries; never NORTH's notification.
    south = receipts_of(world, world.south.headers)
    subjects = {r["entry"]["subject_id"] for r in south}
    assert conflict_id in subjects and south_id in subjects and north_id not in subjects
    aid_subjects = {r["entry"]["subject_id"] for r in receipts_of(world, world.aid.headers)}
    assert conflict_id not in aid_subjects and north_id not in aid_subjects
    refused = world.client.get(
        f"/v1/receipts/{_index_of(everything, 'notification.created', north_id)}",
        headers=world.south.headers,
    )
    assert refused.status_code == 404


def _index_of(receipts: list[dict[str, Any]], kind: str, subject_id: str) -> int:
    return next(
        r["leaf_index"]
        for r in receipts
        if r["entry"]["kind"] == kind and r["entry"]["subject_id"] == subject_id
    )


def test_a_conflict_and_the_message_announcing_it_are_one_entry(world: World, ctx: Context) -> None:
    """The conflict's entry records the system message that tells both parties of it (its id,
    recipients and deadline; its content by hash): one receipt proves both, and the message has
    no entry of its own. So does the resolution's entry, with the message announcing it."""
    key = public_key(world, world.north)
    north_id, south_id, conflict_id = conflicting_pair(world)
    cancelled = world.client.post(
        f"/v1/notifications/{south_id}/cancel", json={}, headers=world.south.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    for kind, words in (("conflict.detected", "detected"), ("conflict.resolved", "resolved")):
        [message] = system_messages(world, world.north, words)
        assert [m["id"] for m in system_messages(world, world.south, words)] == [message["id"]]
        with ctx.store.read() as tx:
            row = tx.message(message["id"])
            assert row is not None
            content = messages.content_of(row)
        for party in (world.north, world.south):
            receipts = receipts_of(world, party.headers)
            [entry] = [
                r["entry"]
                for r in receipts
                if r["entry"]["kind"] == kind and r["entry"]["subject_id"] == conflict_id
            ]
            assert entry["data"]["announcement"] == {
                "message_id": message["id"],
                "from": None,
                "to": sorted([world.north.id, world.south.id]),
                "type": "notice",
                "priority": message["priority"],
                "thread_id": message["id"],
                "ack_deadline": message["own_status"]["deadline"],
            }
            assert entry["content_sha256"] == hashlib.sha256(rfc8785.dumps(content)).hexdigest()
            sent_entries = [r for r in receipts if r["entry"]["kind"] == "message.sent"]
            assert message["id"] not in {r["entry"]["subject_id"] for r in sent_entries}
            # On the line it is a message like any other: its own event, in the inbox.
            sent = [e for e in events(ctx, party) if e["type"] == "message.sent"]
            assert message["id"] in {e["subject_id"] for e in sent}
            index = _index_of(receipts, kind, conflict_id)
            again = world.client.get(f"/v1/receipts/{index}", headers=party.headers)
            assert again.status_code == 200, again.text
            check_receipt(again.json(), key)
    aid = receipts_of(world, world.aid.headers)
    assert conflict_id not in {r["entry"]["subject_id"] for r in aid}
    assert not any("announcement" in r["entry"]["data"] for r in aid)


def test_an_operator_read_of_an_announcement_is_logged_for_both_parties(world: World) -> None:
    conflicting_pair(world)
    [message] = system_messages(world, world.north, "detected")
    read = world.client.get(f"/v1/messages/{message['id']}", headers=world.operator)
    assert read.status_code == 200, read.text
    for party, told in ((world.north, True), (world.south, True), (world.aid, False)):
        paths = [
            r["entry"]["data"]["path"]
            for r in receipts_of(world, party.headers)
            if r["entry"]["kind"] == "operator.read"
        ]
        assert (f"/v1/messages/{message['id']}" in paths) is told, party.code


def test_first_delivery_is_logged_for_recipient_and_sender(world: World) -> None:
    sent = send(world, world.north, [world.south])
    fetched = world.client.get(f"/v1/messages/{sent['id']}", headers=world.south.headers)
    assert fetched.status_code == 200
    world.client.get(f"/v1/messages/{sent['id']}", headers=world.south.headers)
    for party in (world.north, world.south):
        delivered = [
            r
            for r in receipts_of(world, party.headers)
            if r["entry"]["kind"] == "message.delivered" and r["entry"]["subject_id"] == sent["id"]
        ]
        assert len(delivered) == 1  # the first delivery only
        assert delivered[0]["entry"]["data"] == {
            "party_id": world.south.id,
            "version": 1,
            "via": "fetched",
        }


def test_operator_reads_are_logged_for_the_parties_whose_data_it_is(world: World) -> None:
    created = world.notify(world.north, simple(world.clock, circle(30.0, 10.0)))
    world.client.get(f"/v1/notifications/{created['id']}", headers=world.north.headers)
    assert "operator.read" not in kinds(receipts_of(world, world.north.headers))

    read = world.client.get(f"/v1/notifications/{created['id']}", headers=world.operator)
    assert read.status_code == 200
    north_reads = [
        r for r in receipts_of(world, world.north.headers) if r["entry"]["kind"] == "operator.read"
    ]
    assert [r["entry"]["data"]["path"] for r in north_reads] == [
        f"/v1/notifications/{created['id']}"
    ]
    assert "operator.read" not in kinds(receipts_of(world, world.south.headers))

    world.client.get(f"/v1/mechanisms/{world.mechanism_id}/notifications", headers=world.operator)
    for party in (world.north, world.south, world.aid):
        paths = [
            r["entry"]["data"]["path"]
            for r in receipts_of(world, party.headers)
            if r["entry"]["kind"] == "operator.read"
        ]
        assert f"/v1/mechanisms/{world.mechanism_id}/notifications" in paths
    # Reading the log itself is not a read of a party's data.
    before = len(receipts_of(world, world.operator))
    world.client.get("/v1/log/head", headers=world.operator)
    assert len(receipts_of(world, world.operator)) == before


def test_heads_are_consistent_and_the_log_only_grows(world: World) -> None:
    key = public_key(world, world.north)
    first = world.client.get("/v1/log/head", headers=world.north.headers).json()["tree_head"]
    world.notify(world.north, simple(world.clock, circle(30.0, 10.0)))
    send(world, world.north, [world.south])
    second = world.client.get("/v1/log/head", headers=world.north.headers).json()["tree_head"]
    assert second["tree_size"] > first["tree_size"]
    old, new = SignedTreeHead.from_json(first), SignedTreeHead.from_json(second)
    assert verify_tree_head(old, key) and verify_tree_head(new, key)
    proof = world.client.get(
        f"/v1/log/consistency?first={old.tree_size}&second={new.tree_size}",
        headers=world.south.headers,
    ).json()["proof"]
    nodes = [unb64(n) for n in proof]
    assert merkle.verify_consistency(old.tree_size, new.tree_size, nodes, old.root(), new.root())

    assert old.log_id is not None and old.log_id == new.log_id

    too_far = world.client.get(
        f"/v1/log/consistency?first=1&second={new.tree_size + 1}", headers=world.south.headers
    )
    assert too_far.status_code == 422 and too_far.json()["errors"][0]["field"] == "second"
    backwards = world.client.get(
        "/v1/log/consistency?first=3&second=2", headers=world.south.headers
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "first"


def test_the_log_is_named_by_its_first_head_and_keeps_its_name(world: World, ctx: Context) -> None:
    """Every head, receipt and consistency proof names the log: one key may sign several logs
    (a deployment's shards), and a reader compares heads only within one log."""
    view = world.client.get("/v1/log/head", headers=world.north.headers).json()
    log_id = view["log_id"]
    assert re.fullmatch(r"log_[0-9a-f]{32}", log_id) and view["tree_head"]["log_id"] == log_id
    written = world.notify(world.north, simple(world.clock, circle(30.0, 10.0)))
    assert written["receipt"]["tree_head"]["log_id"] == log_id
    size = written["receipt"]["tree_head"]["tree_size"]
    answer = world.client.get(
        f"/v1/log/consistency?first=1&second={size}", headers=world.south.headers
    ).json()
    assert answer["log_id"] == log_id
    with ctx.store.read() as tx:
        assert tx.log_id() == log_id
        heads = tx.log_heads(0, 10_000)
    assert heads and {head["log_id"] for head in heads} == {log_id}


def test_a_head_is_signed_when_the_log_grew_and_only_then(
    world: World, ctx: Context, clock: MovableClock
) -> None:
    sent = send(world, world.north, [world.south])
    head = world.client.get("/v1/log/head", headers=world.north.headers).json()["tree_head"]
    # A delivery is logged by the service with no receipt: no head covers it yet.
    world.client.get(f"/v1/messages/{sent['id']}", headers=world.south.headers)
    with ctx.store.read() as tx:
        size = tx.log_size()
    assert size > head["tree_size"]
    log_access.sign_if_grown(ctx)
    with ctx.store.read() as tx:
        newest = tx.latest_log_head()
        assert newest is not None and newest["tree_size"] == size
        heads = len(tx.log_heads(0, 10_000))
    log_access.sign_if_grown(ctx)
    with ctx.store.read() as tx:
        assert len(tx.log_heads(0, 10_000)) == heads


def test_rotating_the_key_announces_the_new_one_signed_by_the_old(
    world: World, ctx: Context, database: Database, clock: MovableClock
) -> None:
    old_key = public_key(world, world.north)
    refused = world.client.post("/v1/log/keys/rotate", headers=world.north.headers)
    assert refused.status_code == 403
    rotated = world.client.post("/v1/log/keys/rotate", headers=world.operator)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    check_receipt(body["receipt"], old_key)
    announcement = body["announcement"]
    new_key = key_rotation.verify(announcement, old_key)
    assert new_key is not None and new_key != old_key
    assert body["receipt"]["entry"]["data"] == announcement
    assert verify_tree_head(SignedTreeHead.from_json(body["first_tree_head"]), new_key)

    # Writes are now signed by the new key; the head view lists both keys.
    created = world.notify(world.north, simple(world.clock, circle(30.0, 10.0)))
    check_receipt(created["receipt"], new_key)
    view = world.client.get("/v1/log/head", headers=world.north.headers).json()
    assert view["key_id"] == key_id(new_key)
    assert [k["key_id"] for k in view["keys"]] == [key_id(old_key), key_id(new_key)]
    assert view["keys"][0]["retired_at"] is not None and view["keys"][1]["announcement"]
    trusted = key_rotation.trusted_keys([old_key], [k["announcement"] for k in view["keys"]])
    assert set(trusted) == {key_id(old_key), key_id(new_key)}

    # A restart signs with the new key, from the file the rotation replaced.
    key_file = ctx.keys.path
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    restarted, created_key = open_context(database.url, database.key_file, clock=clock)
    restarted.store.close()
    assert not created_key and bytes(restarted.keys.current.verify_key) == new_key


def test_a_key_file_that_is_not_the_logs_key_is_refused(
    ctx: Context, database: Database, tmp_path: Path, clock: MovableClock
) -> None:
    stranger = tmp_path / "other.key"
    write_key(stranger, SigningKey.generate())
    with pytest.raises(KeyFileError, match="not the log's active key"):
        open_context(database.url, key_file=stranger, clock=clock)
    os.chmod(ctx.keys.path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_key(ctx.keys.path)


def test_a_rotation_cut_short_before_its_commit_leaves_the_old_key(
    ctx: Context, database: Database, clock: MovableClock
) -> None:
    old = bytes(ctx.keys.current.verify_key)
    leftover = ctx.keys.path.with_name(ctx.keys.path.name + ".next")
    write_key(leftover, SigningKey.generate())  # as if the process died before the commit
    restarted, _ = open_context(database.url, database.key_file, clock=clock)
    restarted.store.close()
    assert bytes(restarted.keys.current.verify_key) == old and not leftover.exists()
