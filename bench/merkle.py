"""Benchmark: the RFC 9162 log tree at 10⁶ leaves — appends with the subtree cache, roots, proofs.

Leaf hashes live in a list and complete subtrees of at least --min-cached-size leaves in a dict,
standing in for the store's tables: each append caches the subtrees it completes
(`MerkleTree.extend`), after which a root or a proof reads O(log n) cached subtrees and at most a
few blocks of leaves. Counts of those reads are printed with the times.

    .venv/bin/python bench/merkle.py [--leaves 1000000] [--min-cached-size 16] [--samples 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from deconfliction.proof.merkle import (
    DictSubtreeCache,
    ListLeafSource,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)


class CountingSource(ListLeafSource):
    """A list of leaf hashes that counts reads, as a table would see them."""

    reads = 0

    def leaves(self, start: int, end: int) -> list[bytes]:
        self.reads += 1
        return self.hashes[start:end]


class CountingCache(DictSubtreeCache):
    """A dict of subtree hashes that counts lookups, as a table would see them."""

    gets = 0

    def get(self, start: int, size: int) -> bytes | None:
        self.gets += 1
        return self.hashes.get((start, size))


def per_call(samples: list[int], run: Callable[[int], object]) -> tuple[float, float]:
    """Median and 99th percentile, in microseconds, of run(x) for each x."""
    times = []
    for x in samples:
        t0 = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--min-cached-size", type=int, default=16)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    n, rng = args.leaves, random.Random(args.seed)

    t0 = time.perf_counter()
    hashes = [leaf_hash(i.to_bytes(8, "big") + bytes(200)) for i in range(n)]
    hashing = time.perf_counter() - t0

    source, cache = CountingSource(), CountingCache()
    tree = MerkleTree(source, cache, min_cached_size=args.min_cached_size)
    t0 = time.perf_counter()
    for i, digest in enumerate(hashes):
        source.hashes.append(digest)
        tree.extend(i, i + 1)
    appending = time.perf_counter() - t0

    print(f"RFC 9162 tree, {n:,} leaves, subtrees of ≥ {args.min_cached_size} leaves cached")
    print(f"  leaf hash (SHA-256 of 0x00 ‖ 208 B)   {hashing / n * 1e6:8.2f} µs per leaf")
    print(
        f"  append + cache new subtrees          {appending / n * 1e6:8.2f} µs per append "
        f"({appending:.2f} s in all; {len(cache.hashes):,} cached subtrees, "
        f"{len(cache.hashes) / n:.3f} per leaf)"
    )

    cache.gets = source.reads = 0
    t0 = time.perf_counter()
    head = tree.root()
    print(
        f"  root                                 {(time.perf_counter() - t0) * 1e6:8.1f} µs "
        f"({cache.gets} cached subtrees, {source.reads} leaf reads)"
    )

    indices = [rng.randrange(n) for _ in range(args.samples)]
    cache.gets = source.reads = 0
    median, p99 = per_call(indices, tree.inclusion_proof)
    print(
        f"  inclusion proof                      {median:8.1f} µs median, {p99:.1f} µs p99 "
        f"({cache.gets / len(indices):.1f} cached subtrees, "
        f"{source.reads / len(indices):.1f} leaf reads per proof)"
    )

    olds = [rng.randrange(1, n) for _ in range(args.samples)]
    cache.gets = source.reads = 0
    median, p99 = per_call(olds, tree.consistency_proof)
    print(
        f"  consistency proof (random old size)  {median:8.1f} µs median, {p99:.1f} µs p99 "
        f"({cache.gets / len(olds):.1f} cached subtrees, "
        f"{source.reads / len(olds):.1f} leaf reads per proof)"
    )

    paths = {i: tree.inclusion_proof(i) for i in indices}
    median, _ = per_call(indices, lambda i: verify_inclusion(hashes[i], i, n, paths[i], head))
    assert all(verify_inclusion(hashes[i], i, n, paths[i], head) for i in indices)
    print(f"  verify inclusion                     {median:8.1f} µs median")
    sample = olds[:200]
    proofs = {m: (tree.consistency_proof(m), tree.root(m)) for m in sample}
    median, _ = per_call(
        sample, lambda m: verify_consistency(m, n, proofs[m][0], proofs[m][1], head)
    )
    assert all(verify_consistency(m, n, p, r, head) for m, (p, r) in proofs.items())
    print(f"  verify consistency                   {median:8.1f} µs median")

    t0 = time.perf_counter()
    cold = MerkleTree(ListLeafSource(hashes), min_cached_size=args.min_cached_size).root()
    assert cold == head
    print(
        f"  root from the leaves alone (no cache) {time.perf_counter() - t0:7.2f} s "
        "(what `audit verify` pays once)"
    )


if __name__ == "__main__":
    main()
