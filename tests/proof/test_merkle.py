"""RFC 9162 tree against a naive reference and CT vectors; salted leaves; signed tree heads."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from deconfliction.proof import merkle
from deconfliction.proof.entries import (
    SALT_SIZE,
    canonical,
    check_leaf,
    entry_leaf_hash,
    leaf_data,
    new_salt,
)
from deconfliction.proof.merkle import (
    DictSubtreeCache,
    ListLeafSource,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from deconfliction.proof.tree_head import (
    SignedTreeHead,
    key_id,
    sign_tree_head,
    verify_tree_head,
)

# -- a deliberately naive reference, written straight from RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 ---
# It works on the leaf *data* D[n] and hashes with hashlib itself, sharing nothing with the module.


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _sha256(b"")  # MTH({}) = SHA-256()
    if n == 1:
        return _sha256(b"\x00" + d[0])  # MTH({d(0)}) = SHA-256(0x00 || d(0))
    k = _k(n)
    return _sha256(b"\x01" + ref_mth(d[0:k]) + ref_mth(d[k:n]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []  # PATH(0, {d(0)}) = {}
    k = _k(n)
    if m < k:
        return ref_path(m, d[0:k]) + [ref_mth(d[k:n])]
    return ref_path(m - k, d[k:n]) + [ref_mth(d[0:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[0:k], b) + [ref_mth(d[k:n])]
    return ref_subproof(m - k, d[k:n], False) + [ref_mth(d[0:k])]


def data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def hashes(n: int) -> list[bytes]:
    return [leaf_hash(x) for x in data(n)]


# -- (a) the module equals the reference ---------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 65))
def test_root_paths_and_proofs_equal_the_reference_for_every_size_to_64(n: int) -> None:
    d, leaves = data(n), hashes(n)
    tree_root = ref_mth(d)
    assert root(leaves) == tree_root
    for m in range(n):
        path = inclusion_proof(m, leaves)
        assert path == ref_path(m, d)
        assert verify_inclusion(leaves[m], m, n, path, tree_root)
    for m in range(1, n + 1):
        proof = consistency_proof(m, leaves)
        assert proof == ref_proof(m, d)
        assert verify_consistency(m, n, proof, ref_mth(d[:m]), tree_root)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_module_equals_the_reference_for_random_sizes_to_3000(case: tuple[int, int]) -> None:
    n, m = case
    d, leaves = data(n), hashes(n)
    assert root(leaves) == ref_mth(d)
    assert inclusion_proof(m, leaves) == ref_path(m, d)
    assert verify_inclusion(leaves[m], m, n, ref_path(m, d), ref_mth(d))
    old = m + 1
    assert consistency_proof(old, leaves) == ref_proof(old, d)
    assert verify_consistency(old, n, ref_proof(old, d), ref_mth(d[:old]), ref_mth(d))


# -- (b) known values ----------------------------------------------------------------------------


def test_the_empty_tree_hash_is_sha256_of_the_empty_string() -> None:
    assert root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT
    assert root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# Test vectors of github.com/transparency-dev/merkle (Apache-2.0), the Merkle code of Trillian and
# certificate-transparency-go: leaf inputs and roots from testonly/constants.go (LeafInputs,
# RootHashes), proofs from proof/verify_test.go (inclusionProofs with 1-based leaf numbers,
# consistencyProofs).
CT_LEAVES = [bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]  # fmt: skip
CT_ROOTS = [bytes.fromhex(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
_H = {
    "a": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "b": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "c": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "d": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "e": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "f": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "g": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "h": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "i": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "j": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
CT_INCLUSION = [(1, 1, ""), (1, 8, "abc"), (6, 8, "def"), (3, 3, "g"), (2, 5, "hbd")]
CT_CONSISTENCY = [(1, 1, ""), (1, 8, "abc"), (6, 8, "ief"), (2, 5, "bd"), (6, 7, "ijf")]


def _ct(names: str) -> list[bytes]:
    return [bytes.fromhex(_H[name]) for name in names]


def test_roots_match_the_certificate_transparency_vectors() -> None:
    leaves = [leaf_hash(x) for x in CT_LEAVES]
    assert [root(leaves[:n]) for n in range(9)] == CT_ROOTS
    assert [ref_mth(CT_LEAVES[:n]) for n in range(9)] == CT_ROOTS


@pytest.mark.parametrize(("leaf", "size", "names"), CT_INCLUSION)
def test_inclusion_proofs_match_the_certificate_transparency_vectors(
    leaf: int, size: int, names: str
) -> None:
    leaves = [leaf_hash(x) for x in CT_LEAVES[:size]]
    assert inclusion_proof(leaf - 1, leaves) == _ct(names)
    assert verify_inclusion(leaves[leaf - 1], leaf - 1, size, _ct(names), CT_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "names"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_certificate_transparency_vectors(
    old: int, new: int, names: str
) -> None:
    leaves = [leaf_hash(x) for x in CT_LEAVES[:new]]
    assert consistency_proof(old, leaves) == _ct(names)
    assert verify_consistency(old, new, _ct(names), CT_ROOTS[old], CT_ROOTS[new])


# -- (c) altered proofs fail ---------------------------------------------------------------------


def _flip(h: bytes, bit: int = 3) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def _hash_mutations(proof: list[bytes], other: bytes) -> list[list[bytes]]:
    """Every way of corrupting a list of hashes that transparency-dev's verifier tests use."""
    out = [[*proof[:i], _flip(p), *proof[i + 1 :]] for i, p in enumerate(proof)]
    out += [[*proof, other], [other, *proof], [*proof, b""], [b"", *proof]]
    if proof:
        out += [proof[:-1], proof[1:]]
    if len(proof) > 1:
        out += [[proof[0], other, *proof[1:]], [proof[1], proof[0], *proof[2:]]]
    return out


@pytest.mark.parametrize("n", [*range(1, 33), 63, 64, 65, 100])
def test_inclusion_proofs_fail_when_a_hash_index_or_size_is_altered(n: int) -> None:
    leaves = hashes(n)
    tree_root, junk = root(leaves), _flip(root(leaves), 5)
    for m in range(n):
        path, leaf = inclusion_proof(m, leaves), leaves[m]
        assert verify_inclusion(leaf, m, n, path, tree_root)
        assert not verify_inclusion(_flip(leaf), m, n, path, tree_root)
        assert not verify_inclusion(leaf, m, n, path, _flip(tree_root))
        assert not verify_inclusion(leaf, m, n, path, merkle.EMPTY_ROOT)
        for bad in _hash_mutations(path, junk):
            assert not verify_inclusion(leaf, m, n, bad, tree_root)
        for other in {*range(n), -1, n, n + 1, m ^ 2} - {m}:
            assert not verify_inclusion(leaf, other, n, path, tree_root)
        for size in {0, n // 2, n * 2, m}:
            if size != n:
                assert not verify_inclusion(leaf, m, size, path, tree_root)
        # One hash too many would lead to node(extra, root): §2.1.3.2 step 4a stops it.
        extra = leaves[(m + 1) % n]
        assert not verify_inclusion(leaf, m, n, [*path, extra], merkle.node_hash(extra, tree_root))
        # A proof for this tree proves nothing about the trees of other sizes.
        for size in {m + 1, n - 1, n + 1, n + 7} - {n}:
            if size > m:
                assert not verify_inclusion(leaf, m, size, path, root(hashes(size)))


@pytest.mark.parametrize("n", [*range(2, 33), 63, 64, 65, 100])
def test_consistency_proofs_fail_when_a_hash_or_size_is_altered(n: int) -> None:
    leaves = hashes(n)
    new_root, junk = root(leaves), _flip(root(leaves), 5)
    for m in range(1, n):
        proof, old_root = consistency_proof(m, leaves), root(leaves[:m])
        assert verify_consistency(m, n, proof, old_root, new_root)
        assert not verify_consistency(m, n, proof, _flip(old_root), new_root)
        assert not verify_consistency(m, n, proof, old_root, _flip(new_root))
        assert not verify_consistency(m, n, proof, new_root, old_root)
        assert not verify_consistency(m, n, [], old_root, new_root)
        for bad in _hash_mutations(proof, junk):
            assert not verify_consistency(m, n, bad, old_root, new_root)
        for size in {0, m - 1, m + 1, m ^ 2, n, n + 1} - {m}:
            assert not verify_consistency(size, n, proof, old_root, new_root)
        for size in {n // 2, n * 2, m}:
            if size != n:
                assert not verify_consistency(m, size, proof, old_root, new_root)
        # Nor does it relate the old tree to a tree of another size.
        for size in {n - 1, n + 1} - {m}:
            if size > m:
                assert not verify_consistency(m, size, proof, old_root, root(hashes(size)))


def test_trivial_and_out_of_range_cases() -> None:
    leaves = hashes(5)
    r5 = root(leaves)
    assert consistency_proof(5, leaves) == [] and consistency_proof(0, leaves) == []
    assert verify_consistency(5, 5, [], r5, r5)
    assert not verify_consistency(5, 5, [], r5, root(hashes(4)))
    assert not verify_consistency(5, 5, [r5], r5, r5)
    assert verify_consistency(0, 5, [], merkle.EMPTY_ROOT, r5)
    assert not verify_consistency(0, 5, [], r5, r5)
    assert not verify_consistency(6, 5, [], r5, r5)
    assert not verify_inclusion(leaves[0], 0, 0, [], merkle.EMPTY_ROOT)
    assert verify_inclusion(leaves[0], 0, 1, [], leaves[0])
    assert not verify_inclusion(b"", 0, 1, [], b"")  # hashes are 32 bytes
    for bad in (-1, 5):
        with pytest.raises(ValueError):
            inclusion_proof(bad, leaves)
    with pytest.raises(ValueError):
        consistency_proof(6, leaves)
    with pytest.raises(ValueError):
        MerkleTree(ListLeafSource(leaves)).root(6)


# -- (d) the storage path: subtree cache ---------------------------------------------------------


class CountingSource(ListLeafSource):
    def __init__(self, leaf_hashes: list[bytes]) -> None:
        super().__init__(leaf_hashes)
        self.calls = self.read = 0

    def leaves(self, start: int, end: int) -> list[bytes]:
        self.calls += 1
        self.read += end - start
        return super().leaves(start, end)


class CountingCache(DictSubtreeCache):
    def __init__(self) -> None:
        super().__init__()
        self.gets = self.puts = 0

    def get(self, start: int, size: int) -> bytes | None:
        self.gets += 1
        return super().get(start, size)

    def put(self, start: int, size: int, digest: bytes) -> None:
        assert size & (size - 1) == 0 and start % size == 0, (start, size)
        self.puts += 1
        super().put(start, size, digest)


@pytest.mark.parametrize("min_cached_size", [1, 2, 4, 16, 64])
def test_cached_tree_equals_the_reference_for_every_size_index_and_old_size(
    min_cached_size: int,
) -> None:
    d = data(70)
    source, cache = ListLeafSource(), DictSubtreeCache()
    tree = MerkleTree(source, cache, min_cached_size=min_cached_size)
    for n in range(1, 71):
        source.append(leaf_hash(d[n - 1]))
        tree.extend(n - 1, n)
        assert tree.root() == ref_mth(d[:n])
        for m in range(n):
            assert tree.inclusion_proof(m) == ref_path(m, d[:n])
            assert tree.consistency_proof(m + 1) == ref_proof(m + 1, d[:n])
    for (start, size), digest in cache.hashes.items():
        assert size >= min_cached_size and digest == ref_mth(d[start : start + size])
    # Proofs for earlier sizes of the grown tree come from the same cache.
    for n in (1, 13, 32, 45):
        assert tree.root(n) == ref_mth(d[:n])
        assert tree.inclusion_proof(n - 1, n) == ref_path(n - 1, d[:n])
        assert tree.consistency_proof(1, n) == ref_proof(1, d[:n])


def test_a_cold_cache_gives_the_same_answers_and_fills_itself() -> None:
    d = data(1000)
    leaves = [leaf_hash(x) for x in d]
    source, cache = CountingSource(leaves), CountingCache()
    cold = MerkleTree(source, cache)
    assert cold.inclusion_proof(417) == ref_path(417, d)
    assert cold.consistency_proof(333) == ref_proof(333, d)
    assert cold.root() == ref_mth(d)
    assert set(cache.hashes) == {
        (s, w) for w in (16, 32, 64, 128, 256, 512) for s in range(0, 1000 - w + 1, w)
    }
    source.calls = 0
    assert cold.inclusion_proof(417) == ref_path(417, d)
    assert source.calls == 2  # only the leaf's block of 16 and the last 8 leaves [992, 1000)


def test_proofs_at_scale_read_log_n_cached_subtrees_not_n_leaves() -> None:
    n = 2**17 + 12_345  # not a power of two, so the right edge is ragged
    d = [i.to_bytes(4, "big") for i in range(n)]
    source, cache = CountingSource([leaf_hash(x) for x in d]), CountingCache()
    tree = MerkleTree(source, cache, min_cached_size=16)
    tree.extend(0, n)
    assert cache.puts == sum(n // 2**j for j in range(4, n.bit_length()))  # each subtree once
    log_n = n.bit_length()
    for index in (0, 1, 77_777, n // 2, n - 2, n - 1):
        source.calls = source.read = cache.gets = 0
        proof = tree.inclusion_proof(index)
        assert (cache.gets, source.calls) <= (2 * log_n, 2) and source.read <= 32
        if index in (0, 77_777, n - 1):
            assert proof == ref_path(index, d)
    for old in (1, 16, 1000, 65_536, 99_999, n - 1):
        source.calls = source.read = cache.gets = 0
        proof = tree.consistency_proof(old)
        assert (cache.gets, source.calls) <= (2 * log_n, 3) and source.read <= 48
        if old in (1000, 99_999):
            assert proof == ref_proof(old, d)
    source.calls = cache.gets = 0
    assert tree.root() == ref_mth(d)
    assert cache.gets <= log_n and source.calls <= 1


class RecordingCache(DictSubtreeCache):
    def __init__(self) -> None:
        super().__init__()
        self.asked: set[tuple[int, int]] = set()

    def get(self, start: int, size: int) -> bytes | None:
        self.asked.add((start, size))
        return super().get(start, size)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_the_subtrees_listed_for_a_root_and_proof_are_exactly_those_they_look_up(
    case: tuple[int, int],
) -> None:
    """What a store fetches in one read before a receipt (ledger.receipt_now) is what the walk
    then asks for: nothing missing (a read each) and nothing extra."""
    size, index = case
    source, cache = ListLeafSource(hashes(size)), RecordingCache()
    tree = MerkleTree(source, cache, min_cached_size=16)
    tree.extend(0, size)
    cache.asked.clear()
    tree.root(size)
    tree.inclusion_proof(index, size)
    assert sorted(cache.asked) == tree.subtrees_read_by(size, index)
    cache.asked.clear()
    tree.root(size)
    assert sorted(cache.asked) == tree.subtrees_read_by(size)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 3000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
    st.sampled_from([1, 2, 16]),
    st.booleans(),
)
def test_the_root_and_proof_walked_together_are_the_rfc_root_and_path(
    case: tuple[int, int], min_cached: int, extended: bool
) -> None:
    """A new head's root is taken from its receipt's path (ledger.receipt_now): it must be MTH
    and the path PATH, with the subtree cache full or empty; with it full, the walk looks up no
    subtree beyond those a store fetches beforehand (`subtrees_read_by`)."""
    size, index = case
    d = data(size)
    source, cache = ListLeafSource(hashes(size)), RecordingCache()
    tree = MerkleTree(source, cache, min_cached_size=min_cached)
    if extended:
        tree.extend(0, size)
    cache.asked.clear()
    root, proof = tree.root_and_inclusion_proof(index, size)
    assert root == ref_mth(d)
    assert proof == ref_path(index, d)
    if extended:
        assert cache.asked <= set(tree.subtrees_read_by(size, index))
    with pytest.raises(ValueError, match="not in a tree"):
        tree.root_and_inclusion_proof(size, size)


def test_a_source_without_the_leaves_is_an_error_not_a_wrong_hash() -> None:
    class Short(ListLeafSource):
        def size(self) -> int:
            return 10

    with pytest.raises(ValueError, match="lacks leaves"):
        MerkleTree(Short(hashes(5))).root()
    with pytest.raises(ValueError, match="power of two"):
        MerkleTree(ListLeafSource(), min_cached_size=12)


# -- (e) signed tree heads -----------------------------------------------------------------------

KEY = SigningKey(bytes(range(32)))
WHEN = datetime(2031, 5, 1, 6, 0, 0, 250_000, tzinfo=UTC)
LOG = "log_" + "0f" * 16


def test_a_tree_head_is_signed_over_the_canonical_json_of_its_fields_and_kind() -> None:
    head = sign_tree_head(KEY, LOG, 8, CT_ROOTS[8], WHEN)
    assert head.log_id == LOG
    assert head.timestamp == "2031-05-01T06:00:00.25Z"
    assert head.root() == CT_ROOTS[8]
    assert (
        head.key_id
        == base64.b64encode(hashlib.sha256(bytes(KEY.verify_key)).digest()[:16]).decode()
    )
    assert head.key_id == key_id(KEY.verify_key) == key_id(bytes(KEY.verify_key))
    fields = {k: v for k, v in head.to_json().items() if k != "signature"}
    assert set(fields) == {"log_id", "tree_size", "root_hash", "timestamp", "key_id"}
    assert rfc8785.dumps({"kind": "deconfliction/tree-head/v2", **fields}) == head.payload()
    KEY.verify_key.verify(head.payload(), base64.b64decode(head.signature))
    assert verify_tree_head(head, KEY.verify_key)
    assert verify_tree_head(head, bytes(KEY.verify_key))
    assert SignedTreeHead.from_json(head.to_json()) == head
    assert verify_tree_head(sign_tree_head(KEY, LOG, 0, merkle.EMPTY_ROOT, WHEN), KEY.verify_key)


def test_a_head_signed_before_logs_had_ids_still_verifies_and_names_no_log() -> None:
    fields = {
        "tree_size": 8,
        "root_hash": base64.b64encode(CT_ROOTS[8]).decode(),
        "timestamp": "2031-05-01T06:00:00.25Z",
        "key_id": key_id(KEY.verify_key),
    }
    payload = rfc8785.dumps({"kind": "deconfliction/tree-head/v1", **fields})
    signature = base64.b64encode(KEY.sign(payload).signature).decode()
    head = SignedTreeHead.from_json({**fields, "signature": signature})
    assert head.log_id is None and head.payload() == payload
    assert verify_tree_head(head, KEY.verify_key)
    assert "log_id" not in head.to_json()
    # Naming a log afterwards changes what is signed: the signature no longer verifies.
    assert not verify_tree_head(dataclasses.replace(head, log_id=LOG), KEY.verify_key)


def test_a_head_cannot_be_moved_to_another_log_or_stripped_of_its_log() -> None:
    head = sign_tree_head(KEY, LOG, 8, CT_ROOTS[8], WHEN)
    assert not verify_tree_head(dataclasses.replace(head, log_id="log_" + "1" * 32), KEY.verify_key)
    assert not verify_tree_head(dataclasses.replace(head, log_id=None), KEY.verify_key)
    for malformed in ("log_ABC", "shard-1", "", "log_" + "0" * 31):
        with pytest.raises(ValueError, match="log_id"):
            sign_tree_head(KEY, malformed, 8, CT_ROOTS[8], WHEN)
    with pytest.raises(ValueError, match="log_id must be a string"):
        SignedTreeHead.from_json({**head.to_json(), "log_id": 7})


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 9},
        {"tree_size": 7},
        {"root_hash": base64.b64encode(CT_ROOTS[7]).decode()},
        {"root_hash": "not base64"},
        {"timestamp": "2031-05-01T06:00:01.25Z"},
        {"timestamp": "2031-05-01T06:00:00.25+00:00"},
        {"key_id": key_id(SigningKey(bytes(32)).verify_key)},
        {"signature": base64.b64encode(bytes(64)).decode()},
        {"signature": "????"},
    ],
)
def test_changing_any_field_of_a_tree_head_breaks_it(change: dict[str, object]) -> None:
    head = sign_tree_head(KEY, LOG, 8, CT_ROOTS[8], WHEN)
    assert not verify_tree_head(dataclasses.replace(head, **change), KEY.verify_key)  # type: ignore[arg-type]


def test_a_tree_head_fails_under_another_key_even_with_its_key_id() -> None:
    head = sign_tree_head(KEY, LOG, 8, CT_ROOTS[8], WHEN)
    other = SigningKey(bytes(32))
    assert not verify_tree_head(head, other.verify_key)
    forged = sign_tree_head(other, LOG, 8, CT_ROOTS[8], WHEN)
    assert not verify_tree_head(dataclasses.replace(forged, key_id=head.key_id), KEY.verify_key)
    with pytest.raises(ValueError):
        SignedTreeHead.from_json({**head.to_json(), "tree_size": "8"})
    with pytest.raises(ValueError):
        sign_tree_head(KEY, LOG, 8, b"short", WHEN)


# -- (f) salted leaves ---------------------------------------------------------------------------

ENTRY: dict[str, Any] = {
    "kind": "notification.created",
    "party": "p-1",
    "at": "2031-05-01T06:00:00Z",
    "n": 3,
}


def test_equal_entries_have_different_leaves_under_different_salts() -> None:
    a, b = new_salt(), new_salt()
    assert len(a) == SALT_SIZE and a != b
    assert entry_leaf_hash(ENTRY, a) != entry_leaf_hash(dict(ENTRY), b)
    assert leaf_data(ENTRY, a) == a + canonical(ENTRY)
    assert entry_leaf_hash(ENTRY, a) == leaf_hash(a + rfc8785.dumps(ENTRY))


def test_a_leaf_checks_only_with_its_salt_and_unchanged_entry() -> None:
    salt = new_salt()
    leaf = entry_leaf_hash(ENTRY, salt)
    assert check_leaf(dict(reversed(list(ENTRY.items()))), salt, leaf)  # key order is irrelevant
    assert not check_leaf(ENTRY, new_salt(), leaf)
    assert not check_leaf(ENTRY, salt[:-1], leaf)
    assert not check_leaf({**ENTRY, "n": 4}, salt, leaf)
    assert not check_leaf(ENTRY, salt, _flip(leaf))


def test_a_salted_leaf_is_proved_in_the_tree_without_other_entries() -> None:
    entries = [{**ENTRY, "n": i} for i in range(11)]
    salts = [new_salt() for _ in entries]
    leaves = [entry_leaf_hash(e, s) for e, s in zip(entries, salts, strict=True)]
    # The prover hands over entry 6, its salt and the path; the rest are opaque hashes.
    path = inclusion_proof(6, leaves)
    assert verify_inclusion(entry_leaf_hash(entries[6], salts[6]), 6, 11, path, root(leaves))
    assert not verify_inclusion(entry_leaf_hash(entries[6], new_salt()), 6, 11, path, root(leaves))


def test_entries_without_a_canonical_form_are_refused() -> None:
    for bad in ({"big": 2**60}, {"x": float("nan")}):
        with pytest.raises(ValueError, match="canonical"):
            canonical(bad)
