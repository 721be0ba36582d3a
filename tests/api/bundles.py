"""Checking an incident report bundle as a third party would: only the proof core and the key."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import rfc8785

from deconfliction.proof.entries import entry_leaf_hash
from deconfliction.proof.merkle import verify_inclusion
from deconfliction.proof.tree_head import SignedTreeHead, verify_tree_head


def _raw(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def verify_bundle(bundle: dict[str, Any], public_key: bytes) -> None:
    """Assert that every receipt proves its entry against the bundle's one signed head, that the
    timeline is those entries in log order, and that every content hashes to its entry's
    content_sha256."""
    assert bundle["format"] == "deconfliction-receipts/v1"
    [head_json] = bundle["tree_heads"]
    head = SignedTreeHead.from_json(head_json)
    assert verify_tree_head(head, public_key)
    timeline, receipts = bundle["timeline"], bundle["receipts"]
    indexes = [item["leaf_index"] for item in timeline]
    assert indexes == sorted(set(indexes)), "timeline not in log order"
    assert [r["leaf_index"] for r in receipts] == indexes
    for item, receipt in zip(timeline, receipts, strict=True):
        entry = receipt["entry"]
        assert receipt["tree_head"] == head_json
        leaf = _raw(receipt["leaf_hash"])
        assert entry_leaf_hash(entry, _raw(receipt["salt"])) == leaf
        proof = [_raw(node) for node in receipt["inclusion_proof"]]
        assert verify_inclusion(leaf, receipt["leaf_index"], head.tree_size, proof, head.root())
        assert (item["at"], item["kind"], item["subject_id"]) == (
            entry["at"],
            entry["kind"],
            entry["subject_id"],
        )
        if "content" in item:
            digest = hashlib.sha256(rfc8785.dumps(item["content"])).hexdigest()
            assert digest == entry["content_sha256"], item
