"""RFC 9162 (CT 2.0) Merkle tree: tree hashes, inclusion proofs and consistency proofs.

Written by hand rather than with `pymerkle` 7.0.0, which was read and tried before deciding:

- Its hashing is RFC 9162-compatible (SHA-256, 0x00 leaf and 0x01 node prefixes, the left subtree
  the largest power of two smaller than the size): its roots equal RFC MTH for every size tried.
- Its *proofs* are not RFC 9162 proofs. An inclusion path carries the leaf itself plus a list of
  left/right "rule" bits; a consistency path carries rule and "subset" bits and, for 4 → 8 leaves,
  four hashes where RFC 9162 PROOF has one. A party would need pymerkle (or a converter) to verify
  our receipts, instead of any CT / transparency-dev verifier or the 30 lines of §2.1.3.2/§2.1.4.2.
- Its storage backends own the tables (its SQLite backend creates its own `leaf` table), its
  subtree cache is an in-process LRU that storage cannot persist, and it pins `cachetools==7.2.1`.
- It is GPL-3.0-or-later; this project is Apache-2.0.

The RFC algorithms are short, so this module implements §2.1.1 (MTH), §2.1.3.1 (PATH), §2.1.4.1
(PROOF / SUBPROOF) and the verification algorithms §2.1.3.2 and §2.1.4.2 verbatim.

For a log of millions of leaves held in a database, `MerkleTree` computes the same values from a
`LeafSource` (leaf hashes by position) and a `SubtreeCache` of complete, aligned power-of-two
subtrees. A complete subtree never changes once its last leaf exists (the log only grows), so a
cached hash is valid for every later tree size and storage may persist it. A root or a proof then
costs O(log n) cached subtree reads plus at most a few reads of `min_cached_size` leaves.

Pure: standard library only (hashlib); no web framework, no database driver.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
# Leaf blocks read during one operation, by their first position (each is read at most once).
_Blocks = dict[int, list[bytes]]


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash of one leaf's data."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): the size of the left subtree."""
    return 1 << ((n - 1).bit_length() - 1)


class LeafSource(Protocol):
    """Leaf hashes by position, e.g. a table of the log's entries."""

    def size(self) -> int:
        """How many leaves there are."""
        ...

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes at positions start ≤ i < end (0 ≤ start ≤ end ≤ size())."""
        ...


class SubtreeCache(Protocol):
    """Hashes of complete subtrees [start, start + size), size a power of two dividing start.

    `MerkleTree.extend` puts the subtrees each append completes; a root or proof that misses
    (a cache filled late, or not at all) computes the hash and puts it too, so a store may also
    see puts while serving a read — it can keep them or drop them, both are correct.
    """

    def get(self, start: int, size: int) -> bytes | None:
        """The stored hash, or None when it has not been stored."""
        ...

    def put(self, start: int, size: int, digest: bytes) -> None:
        """Store a hash (storing the same one again must be harmless)."""
        ...


class ListLeafSource:
    """A LeafSource over leaf hashes held in memory (tests, benchmarks, whole-log audits)."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.hashes: list[bytes] = list(leaf_hashes)

    def size(self) -> int:
        return len(self.hashes)

    def leaves(self, start: int, end: int) -> list[bytes]:
        return self.hashes[start:end]

    def append(self, digest: bytes) -> int:
        """Add a leaf hash; returns the new size."""
        self.hashes.append(digest)
        return len(self.hashes)


class DictSubtreeCache:
    """A SubtreeCache in a dict (tests, benchmarks, one-off computations)."""

    def __init__(self) -> None:
        self.hashes: dict[tuple[int, int], bytes] = {}

    def get(self, start: int, size: int) -> bytes | None:
        return self.hashes.get((start, size))

    def put(self, start: int, size: int, digest: bytes) -> None:
        self.hashes[(start, size)] = digest


class MerkleTree:
    """RFC 9162 tree hashes and proofs over leaf hashes in a LeafSource, with a subtree cache.

    Only subtrees of at least `min_cached_size` leaves (a power of two) are cached; smaller ones are
    hashed from one read of the aligned block of `min_cached_size` leaves around them. A larger
    value means fewer cache rows (about n / min_cached_size) and more hashing per proof.
    """

    def __init__(
        self, source: LeafSource, cache: SubtreeCache | None = None, *, min_cached_size: int = 16
    ) -> None:
        if min_cached_size < 1 or min_cached_size & (min_cached_size - 1):
            raise ValueError("min_cached_size must be a power of two")
        self.source = source
        self.cache: SubtreeCache = cache if cache is not None else DictSubtreeCache()
        self.min_cached_size = min_cached_size

    # -- public operations ---------------------------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all of them)."""
        size = self._size(size)
        return self._range(0, size, {}) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]): the audit path of leaf `index` in the tree of `size` leaves."""
        size = self._size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
        blocks: _Blocks = {}
        return [self._range(a, b, blocks) for a, b in _path_ranges(index, size)]

    def root_and_inclusion_proof(
        self, index: int, size: int | None = None
    ) -> tuple[bytes, list[bytes]]:
        """MTH of the first `size` leaves and PATH(index, D[size]) in one walk: the root is the one
        the path leads to from the leaf (RFC 9162 §2.1.3.2), so no subtree is read twice."""
        size = self._size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
        blocks: _Blocks = {}
        proof = [self._range(a, b, blocks) for a, b in _path_ranges(index, size)]
        root = root_from_inclusion_proof(self._small(index, 1, blocks), index, size, proof)
        if root is None:  # the path was just built from these leaves: it cannot fail to verify
            raise AssertionError(f"the path of leaf {index} in {size} leaves does not verify")
        return root, proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]): the consistency proof between two sizes of the tree."""
        new_size = self._size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is not between 0 and {new_size}")
        if old_size in (0, new_size):
            return []  # nothing to prove: the empty tree and the tree itself are prefixes
        # SUBPROOF(m, D[n], b): if m <= k, SUBPROOF(m, D[0:k], b) : MTH(D[k:n]);
        # else SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]); ends with {} or {MTH(D[m])}.
        siblings: list[tuple[int, int]] = []
        start, m, n, whole = 0, old_size, new_size, True
        while m != n:
            k = _split(n)
            if m <= k:
                siblings.append((start + k, start + n))
                n = k
            else:
                siblings.append((start, start + k))
                start, m, n, whole = start + k, m - k, n - k, False
        ranges = [] if whole else [(start, start + m)]
        ranges += reversed(siblings)
        blocks: _Blocks = {}
        return [self._range(a, b, blocks) for a, b in ranges]

    def extend(self, old_size: int, new_size: int | None = None) -> None:
        """Cache the subtrees completed by the leaves old_size ≤ i < new_size (after appending).

        Not needed for correctness (misses are computed and cached on demand), but it keeps the
        cost of roots and proofs flat; call it in the transaction that appends the leaves.
        """
        new_size = self._size(new_size)
        blocks: _Blocks = {}
        for end in range(max(old_size, 0) + 1, new_size + 1):
            width = self.min_cached_size
            while width <= end and end % width == 0:
                self._subtree(end - width, width, blocks)
                width <<= 1

    def subtrees_read_by(self, size: int, index: int | None = None) -> list[tuple[int, int]]:
        """The cached subtrees (start, width) that the root of the first `size` leaves and, with
        `index`, the inclusion proof of that leaf in them look up first — for a store to fetch
        them in one read before the walk, instead of one read a subtree during it."""
        ranges = [(0, size)] if size else []
        if index is not None and 0 <= index < size:
            ranges += _path_ranges(index, size)
        return sorted(
            {
                part
                for start, end in ranges
                for part in _complete_parts(start, end)
                if part[1] >= self.min_cached_size
            }
        )

    # -- internals -----------------------------------------------------------------------------

    def _size(self, size: int | None) -> int:
        available = self.source.size()
        if size is None:
            return available
        if not 0 <= size <= available:
            raise ValueError(f"tree size {size} is not between 0 and {available}")
        return size

    def _range(self, start: int, end: int, blocks: _Blocks) -> bytes:
        """MTH(D[start:end]) for a range of the RFC's recursion (start aligned, end > start)."""
        # MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])): the left parts are complete
        # subtrees, so the range is the right fold of its complete subtrees, largest first.
        parts = [self._subtree(a, width, blocks) for a, width in _complete_parts(start, end)]
        digest = parts.pop()
        while parts:
            digest = node_hash(parts.pop(), digest)
        return digest

    def _subtree(self, start: int, width: int, blocks: _Blocks) -> bytes:
        """The hash of the complete subtree [start, start + width), width a power of two."""
        if width < self.min_cached_size:
            return self._small(start, width, blocks)
        cached = self.cache.get(start, width)
        if cached is not None:
            return cached
        if width == self.min_cached_size:
            digest = self._small(start, width, blocks)
        else:
            half = width >> 1
            left = self._subtree(start, half, blocks)
            digest = node_hash(left, self._subtree(start + half, half, blocks))
        self.cache.put(start, width, digest)
        return digest

    def _small(self, start: int, width: int, blocks: _Blocks) -> bytes:
        """Hash a subtree below the cached sizes from the aligned block of leaves holding it."""
        block_start = start - start % self.min_cached_size
        block = blocks.get(block_start)
        if block is None or len(block) < start - block_start + width:
            end = min(block_start + self.min_cached_size, self.source.size())
            block = self.source.leaves(block_start, end)
            blocks[block_start] = block
        level = block[start - block_start : start - block_start + width]
        if len(level) != width:
            raise ValueError(f"the leaf source lacks leaves in [{start}, {start + width})")
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        return level[0]


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make up PATH(index, D[size]), in the proof's order (bottom-up).

    PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) if m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]);
    the siblings are gathered top-down and returned reversed.
    """
    siblings: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
    return siblings[::-1]


def _complete_parts(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees (start, width) of a range of the RFC's recursion, largest first:
    its MTH is their right fold."""
    parts: list[tuple[int, int]] = []
    while True:
        width = end - start
        if width & (width - 1) == 0:
            parts.append((start, width))
            return parts
        k = _split(width)
        parts.append((start, k))
        start += k


# -- the RFC's functions over a sequence of leaf hashes ------------------------------------------


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf hashes (SHA-256 of the empty string for no leaves)."""
    return MerkleTree(ListLeafSource(leaf_hashes)).root()


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over the leaf hashes (RFC 9162 §2.1.3.1)."""
    return MerkleTree(ListLeafSource(leaf_hashes)).inclusion_proof(index)


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) over the leaf hashes (RFC 9162 §2.1.4.1)."""
    return MerkleTree(ListLeafSource(leaf_hashes)).consistency_proof(old_size)


# -- verification: RFC 9162 §2.1.3.2 and §2.1.4.2, step by step -----------------------------------


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion_proof(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that an inclusion proof leads to (§2.1.3.2 steps 1–4), or None if it cannot."""
    if not _well_formed(leaf, *proof):
        return None
    # 1. If leaf_index >= tree_size, fail.
    if not 0 <= index < tree_size:
        return None
    # 2. Set fn to leaf_index and sn to tree_size - 1.  3. Set r to hash.
    fn, sn, r = index, tree_size - 1, leaf
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return None
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # If LSB(fn) is not set, right-shift fn and sn equally until LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 5. (first half) Compare sn to 0.
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show leaf hash `leaf` at `index` in the tree `root_hash`?"""
    computed = root_from_inclusion_proof(leaf, index, tree_size, proof)
    # 5. If sn is equal to 0 and r and the root_hash are equal, the inclusion is proven.
    return (
        computed is not None
        and _well_formed(root_hash)
        and hmac.compare_digest(computed, root_hash)
    )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2: does `proof` show the tree `old_root` is a prefix of `new_root`?

    The RFC covers 0 < old_size < new_size; for equal sizes the proof must be empty and the roots
    equal, and the empty tree (old_size 0, root SHA-256 of "") is a prefix of every tree.
    """
    if not _well_formed(old_root, new_root, *proof):
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof and hmac.compare_digest(old_root, EMPTY_ROOT)
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not proof:
        return False
    path = list(proof)
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # If LSB(fn) is not set, right-shift fn and sn equally until LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 7. Verify fr equals first_hash, sr equals second_hash, and sn is 0.
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
