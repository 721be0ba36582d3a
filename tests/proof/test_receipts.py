"""The offline verifier of proof files: a valid file passes; each kind of tampering fails with
the right check, naming the receipt or head; malformed input is refused naming the field."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nacl.signing import SigningKey

from deconfliction.proof import key_rotation, merkle, receipts
from deconfliction.proof.entries import entry_leaf_hash
from deconfliction.proof.receipts import FORMAT, ProofFile, ProofFileError, Verification
from deconfliction.proof.tree_head import SignedTreeHead, key_id, sign_tree_head

KEY = SigningKey(b"\x01" * 32)
NEW_KEY = SigningKey(b"\x02" * 32)
OTHER_KEY = SigningKey(b"\x03" * 32)
T0 = datetime(2031, 5, 1, 6, 0, tzinfo=UTC)
LOG = "log_" + "a1" * 16
OTHER_LOG = "log_" + "b2" * 16
ENTRIES = [
    {
        "v": 1,
        "kind": "notification.created",
        "at": f"2031-05-01T06:{i:02d}:00Z",
        "mechanism_id": "mec_1",
        "subject_id": f"ntf_{i}",
        "by": {"token_id": "tok_1", "party_id": "pty_1"},
        "data": {"notification_id": f"ntf_{i}", "version": 1, "late": False},
    }
    for i in range(12)
]
SALTS = [bytes([i + 1]) * 32 for i in range(len(ENTRIES))]
LEAVES = [entry_leaf_hash(e, s) for e, s in zip(ENTRIES, SALTS, strict=True)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def raw(key: SigningKey) -> bytes:
    return bytes(key.verify_key)


def head(
    size: int, key: SigningKey = KEY, leaves: list[bytes] = LEAVES, log: str = LOG
) -> SignedTreeHead:
    return sign_tree_head(key, log, size, merkle.root(leaves[:size]), T0 + timedelta(minutes=size))


def receipt(index: int, tree_head: SignedTreeHead) -> dict[str, Any]:
    proof = merkle.inclusion_proof(index, LEAVES[: tree_head.tree_size])
    return {
        "leaf_index": index,
        "entry": copy.deepcopy(ENTRIES[index]),
        "salt": b64(SALTS[index]),
        "leaf_hash": b64(LEAVES[index]),
        "tree_head": tree_head.to_json(),
        "inclusion_proof": [b64(node) for node in proof],
    }


def consistency(
    first: int, second: int, leaves: list[bytes] = LEAVES, log: str = LOG
) -> dict[str, Any]:
    proof = merkle.consistency_proof(first, leaves[:second])
    return {"log_id": log, "first": first, "second": second, "proof": [b64(n) for n in proof]}


def proof_file(key_after_6: SigningKey = KEY) -> dict[str, Any]:
    """Heads at sizes 3, 6 and 10 (the last signed by `key_after_6`), a receipt against each,
    and the consistency proofs 3 → 6 → 10."""
    heads = [head(3), head(6), head(10, key_after_6)]
    return {
        "format": FORMAT,
        "receipts": [receipt(1, heads[0]), receipt(4, heads[1]), receipt(8, heads[2])],
        "tree_heads": [h.to_json() for h in heads],
        "consistency": [consistency(3, 6), consistency(6, 10)],
        "key_rotations": [],
    }


def check(document: dict[str, Any], keys: list[bytes] | None = None) -> Verification:
    return receipts.verify(receipts.parse(document), keys if keys is not None else [raw(KEY)])


def failed(verification: Verification) -> list[tuple[str, str]]:
    return [(c.kind, c.subject) for c in verification.failures()]


# -- valid files and the shapes accepted --------------------------------------------------------


def test_a_valid_proof_file_passes_every_check() -> None:
    verification = check(proof_file())
    assert verification.ok, verification.failures()
    kinds = [c.kind for c in verification.checks]
    assert kinds.count("leaf") == kinds.count("inclusion") == 3
    assert kinds.count("signature") == 3  # three distinct heads, each checked once
    assert kinds.count("consistency") == 2
    assert verification.trusted_key_ids == (key_id(KEY.verify_key),)


def test_a_bare_receipt_a_write_response_and_a_page_are_accepted() -> None:
    one = receipt(5, head(7))
    for document in (one, {"id": "ntf_5", "receipt": one}, {"receipts": [one], "next_after": None}):
        verification = check(document)
        assert verification.ok, verification.failures()
        assert [c.subject for c in verification.checks if c.kind == "leaf"] == [
            "receipt #0, entry 5"
        ]
    page = {"receipts": [receipt(2, head(7))], "tree_head": head(11).to_json()}
    verification = check(page)
    failures = failed(verification)
    assert failures == [
        ("consistency", f"{receipts.describe(head(7))} → {receipts.describe(head(11))}")
    ]


def test_the_file_round_trips_through_to_json() -> None:
    parsed = receipts.parse(proof_file())
    assert receipts.parse(parsed.to_json()) == parsed


def test_nothing_to_verify_is_not_a_pass() -> None:
    verification = check({"format": FORMAT})
    assert not verification.ok
    assert failed(verification) == [("content", "file")]


# -- tampering -----------------------------------------------------------------------------------


def test_a_changed_entry_fails_its_leaf_check_only() -> None:
    document = proof_file()
    document["receipts"][1]["entry"]["data"]["version"] = 2
    assert failed(check(document)) == [("leaf", "receipt #1, entry 4")]


def test_a_wrong_salt_fails_the_leaf_check() -> None:
    document = proof_file()
    document["receipts"][2]["salt"] = b64(b"\xff" * 32)
    verification = check(document)
    assert failed(verification) == [("leaf", "receipt #2, entry 8")]
    assert "the entry or the salt was altered" in verification.failures()[0].message


def test_a_wrong_inclusion_proof_fails_the_inclusion_check() -> None:
    document = proof_file()
    nodes = document["receipts"][0]["inclusion_proof"]
    nodes[0] = b64(bytes(32))
    assert failed(check(document)) == [("inclusion", "receipt #0, entry 1")]
    document = proof_file()
    document["receipts"][0]["leaf_index"] = 2  # the proof of entry 1 does not prove entry 2
    assert ("inclusion", "receipt #0, entry 2") in failed(check(document))


def test_a_forged_head_fails_its_signature_and_is_left_out_of_consistency() -> None:
    document = proof_file()
    forged = head(6, OTHER_KEY).to_json()
    forged["key_id"] = key_id(KEY.verify_key)  # claims the service's key
    forged["signature"] = head(6, OTHER_KEY).signature
    forged["root_hash"] = b64(bytes(32))
    document["tree_heads"].append(forged)
    verification = check(document)
    subject = f"head of {LOG} of size 6 at {forged['timestamp']}"
    assert failed(verification) == [("signature", subject)]
    assert "does not verify with key" in verification.failures()[0].message


def test_an_altered_head_fails_its_signature_and_the_inclusion_of_its_receipts() -> None:
    document = proof_file()
    altered = head(10).to_json()
    altered["root_hash"] = b64(merkle.root(LEAVES[:9]))
    document["tree_heads"][2] = altered
    document["receipts"][2]["tree_head"] = altered
    failures = failed(check(document))
    assert ("signature", f"head of {LOG} of size 10 at {altered['timestamp']}") in failures
    assert ("inclusion", "receipt #2, entry 8") in failures


def test_the_wrong_key_trusts_no_head() -> None:
    verification = check(proof_file(), [raw(OTHER_KEY)])
    assert {kind for kind, _ in failed(verification)} == {"signature"}
    assert len(verification.failures()) == 3
    assert "not trusted" in verification.failures()[0].message


def test_a_missing_consistency_proof_fails() -> None:
    document = proof_file()
    del document["consistency"][1]
    verification = check(document)
    assert failed(verification) == [
        ("consistency", f"{receipts.describe(head(6))} → {receipts.describe(head(10))}")
    ]
    assert f"no consistency proof of {LOG} between sizes 6 and 10" in (
        verification.failures()[0].message
    )


def test_an_invalid_consistency_proof_fails() -> None:
    document = proof_file()
    document["consistency"][0]["proof"][0] = b64(bytes(32))
    assert failed(check(document)) == [
        ("consistency", f"{receipts.describe(head(3))} → {receipts.describe(head(6))}")
    ]


def test_a_rewritten_log_fails_consistency_even_with_valid_signatures() -> None:
    """The operator holds the key: a rewritten history is signed, but not consistent."""
    rewritten = [*LEAVES[:4], merkle.leaf_hash(b"another entry 4"), *LEAVES[5:]]
    document = proof_file()
    new_head = head(10, KEY, rewritten).to_json()
    document["tree_heads"][2] = new_head
    del document["receipts"][2]
    document["consistency"][1] = consistency(6, 10, rewritten)
    failures = failed(check(document))
    assert [kind for kind, _ in failures] == ["consistency"]


def test_two_heads_of_one_size_with_different_roots_are_a_fork() -> None:
    document = proof_file()
    other_history = [*LEAVES[:5], merkle.leaf_hash(b"what another party was shown")]
    at = datetime(2031, 5, 1, 6, 7, tzinfo=UTC)
    document["tree_heads"].append(
        sign_tree_head(KEY, LOG, 6, merkle.root(other_history), at).to_json()
    )
    verification = check(document)
    forks = [c for c in verification.failures() if c.kind == "fork"]
    assert [c.subject for c in forks] == [f"heads of {LOG} of size 6"]
    assert "split view" in forks[0].message
    assert b64(merkle.root(other_history)) in forks[0].message


def test_identical_heads_of_one_size_are_no_fork() -> None:
    document = proof_file()
    document["tree_heads"].append(head(6).to_json())
    assert check(document).ok


SHARD_LEAVES = [merkle.leaf_hash(f"another shard's entry {i}".encode()) for i in range(12)]


def test_heads_of_two_logs_under_one_key_are_each_checked_within_their_own_log() -> None:
    """A deployment's shards sign their own logs with one key: same sizes, different roots,
    and that is no split view; each log must still only grow."""
    document = proof_file()
    shard = [
        head(3, leaves=SHARD_LEAVES, log=OTHER_LOG),
        head(6, leaves=SHARD_LEAVES, log=OTHER_LOG),
    ]
    document["tree_heads"] += [h.to_json() for h in shard]
    assert not check(document).ok  # no consistency proof of the other log yet
    missing = [c for c in check(document).failures() if c.kind == "consistency"]
    assert [c.subject for c in missing] == [
        f"{receipts.describe(shard[0])} → {receipts.describe(shard[1])}"
    ]
    assert receipts.missing_consistency(receipts.parse(document), OTHER_LOG) == [(3, 6)]
    assert receipts.missing_consistency(receipts.parse(document), LOG) == []
    # This log's proof between the same sizes says nothing about the other log.
    document["consistency"].append(consistency(3, 6, log=LOG))
    assert not check(document).ok
    document["consistency"].append(consistency(3, 6, SHARD_LEAVES, OTHER_LOG))
    assert check(document).ok
    # A fork is still a fork within one log.
    forked = sign_tree_head(KEY, OTHER_LOG, 6, merkle.root(LEAVES[:6]), T0)
    document["tree_heads"].append(forked.to_json())
    forks = [c for c in check(document).failures() if c.kind == "fork"]
    assert [c.subject for c in forks] == [f"heads of {OTHER_LOG} of size 6"]


def test_a_head_moved_to_another_log_fails_its_signature() -> None:
    document = proof_file()
    document["tree_heads"][1]["log_id"] = OTHER_LOG
    assert ("signature", receipts.describe(receipts.parse(document).tree_heads[1])) in failed(
        check(document)
    )


# -- key rotation --------------------------------------------------------------------------------


def test_a_rotation_announced_by_the_given_key_is_followed() -> None:
    document = proof_file(key_after_6=NEW_KEY)
    without = check(document)
    assert failed(without) == [("signature", receipts.describe(head(10, NEW_KEY)))]
    document["key_rotations"] = [
        key_rotation.announce(KEY, NEW_KEY.verify_key, "2031-05-01T06:08:00Z")
    ]
    verification = check(document)
    assert verification.ok, verification.failures()
    assert set(verification.trusted_key_ids) == {key_id(KEY.verify_key), key_id(NEW_KEY.verify_key)}
    assert [c.kind for c in verification.checks].count("rotation") == 1


def test_a_rotation_chain_is_followed_whatever_its_order() -> None:
    third = SigningKey(b"\x04" * 32)
    document = proof_file(key_after_6=third)
    document["key_rotations"] = [
        key_rotation.announce(NEW_KEY, third.verify_key, "2031-05-01T06:09:00Z"),
        key_rotation.announce(KEY, NEW_KEY.verify_key, "2031-05-01T06:08:00Z"),
    ]
    assert check(document).ok


def test_a_broken_rotation_is_reported_and_not_followed() -> None:
    document = proof_file(key_after_6=NEW_KEY)
    announcement = key_rotation.announce(KEY, NEW_KEY.verify_key, "2031-05-01T06:08:00Z")
    announcement["at"] = "2031-05-01T06:09:00Z"  # no longer what the old key signed
    document["key_rotations"] = [announcement]
    verification = check(document)
    rotation = f"rotation from key {key_id(KEY.verify_key)} to key {key_id(NEW_KEY.verify_key)}"
    assert failed(verification) == [
        ("rotation", rotation),
        ("signature", receipts.describe(head(10, NEW_KEY))),
    ]


def test_a_rotation_signed_by_an_untrusted_key_is_reported() -> None:
    document = proof_file(key_after_6=NEW_KEY)
    document["key_rotations"] = [
        key_rotation.announce(OTHER_KEY, NEW_KEY.verify_key, "2031-05-01T06:08:00Z")
    ]
    failures = check(document).failures()
    assert [c.kind for c in failures] == ["rotation", "signature"]
    assert "neither given nor reached" in failures[0].message


# -- malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(format="deconfliction-receipts/v9"), "format"),
        (lambda d: d["receipts"][1].update(salt="not base64!"), "receipts[1].salt"),
        (lambda d: d["receipts"][0].pop("leaf_hash"), "receipts[0].leaf_hash: missing"),
        (lambda d: d["receipts"][2].update(leaf_index=-1), "receipts[2].leaf_index"),
        (lambda d: d["receipts"][2].update(entry=[1]), "receipts[2].entry"),
        (lambda d: d["receipts"][0]["inclusion_proof"].append(7), "receipts[0].inclusion_proof[2]"),
        (lambda d: d["tree_heads"][1].update(tree_size="6"), "tree_heads[1]: tree_size"),
        (lambda d: d["receipts"][0]["tree_head"].pop("signature"), "receipts[0].tree_head"),
        (lambda d: d.update(consistency={}), "consistency: must be a list"),
        (lambda d: d["consistency"][0].update(second=None), "consistency[0].second"),
        (lambda d: d.update(key_rotations=[{"old_key_id": 1}]), "key_rotations[0].old_key_id"),
    ],
)
def test_malformed_files_are_refused_naming_the_field(change: Any, field: str) -> None:
    document = proof_file()
    change(document)
    with pytest.raises(ProofFileError, match=field.replace("[", r"\[").replace("]", r"\]")):
        receipts.parse(document)


@pytest.mark.parametrize("document", [[], "receipt", 3, None, {"tree_head": {}}])
def test_what_is_not_a_proof_file_is_refused(document: Any) -> None:
    with pytest.raises(ProofFileError):
        receipts.parse(document)


# -- bringing a held file up to date (receipt download) ------------------------------------------


def test_merge_keeps_held_heads_and_receipts_that_nothing_replaces() -> None:
    held = receipts.parse(proof_file())
    newer = head(12)
    fetched = ProofFile(
        receipts=(
            receipts.parse(receipt(4, newer)).receipts[0],
            receipts.parse(receipt(11, newer)).receipts[0],
        ),
        tree_heads=(newer,),
    )
    merged = receipts.merge(held, fetched)
    assert [(r.leaf_index, r.tree_head.tree_size) for r in merged.receipts] == [
        (1, 3),
        (4, 12),
        (8, 10),
        (11, 12),
    ]
    assert sorted(h.tree_size for h in merged.heads()) == [3, 6, 10, 12]
    assert receipts.missing_consistency(merged, LOG) == [(10, 12)]
    assert not receipts.verify(merged, [raw(KEY)]).ok
    proofs = receipts.parse({"format": FORMAT, "consistency": [consistency(10, 12)]})
    merged = receipts.merge(merged, proofs)
    assert receipts.missing_consistency(merged, LOG) == []
    assert receipts.verify(merged, [raw(KEY)]).ok
