"""Offline verification of receipts and proof files, with nothing but the service's public key(s).

A *proof file* (what `deconfliction receipt download` writes) is one JSON object:

    {"format": "deconfliction-receipts/v1",
     "receipts": [receipt, ...],
     "tree_heads": [signed tree head, ...],
     "consistency": [{"log_id": l, "first": a, "second": b, "proof": [base64, ...]}, ...],
     "key_rotations": [announcement, ...]}

A receipt is what the service answers a write with (`services/ledger.receipt`):
`{"leaf_index", "entry", "salt", "leaf_hash", "tree_head", "inclusion_proof"}`, the entry as a
JSON object, hashes, salt and proof nodes in standard base64. A signed tree head is
`tree_head.SignedTreeHead.to_json()`; an announcement is `key_rotation.announce`'s object. Every
member but `format` may be left out. Also accepted, as found elsewhere: a bare receipt, a saved
write response (an object with a `receipt`) and a page of `GET /v1/receipts` (an object with
`receipts` and `tree_head`).

The checks, each reported on its own (`Check.kind`):

- `leaf`: SHA-256(0x00 || salt || RFC 8785(entry)) is the receipt's `leaf_hash`;
- `inclusion`: the inclusion proof leads from that leaf hash at `leaf_index` to the root of the
  receipt's tree head (RFC 9162 §2.1.3.2);
- `rotation`: each key rotation announcement is signed by a trusted key — a given one, or one
  reached through other valid announcements (`key_rotation.trusted_keys`);
- `signature`: each distinct tree head (those listed and those in receipts) is signed by a
  trusted key;
- `fork`: signed heads of the same log and size have the same root — two roots for one size is
  a split view: the log was shown differently to different readers;
- `consistency`: between each pair of consecutive sizes of one log's signed heads, the file holds
  a consistency proof (RFC 9162 §2.1.4.2) of that log showing the smaller tree is a prefix of
  the larger.

One key may sign several logs (a deployment's shards each keep one): a head names its log
(`log_id`), a consistency proof the log it is of, and heads are compared only with heads of
their own log. Heads signed before logs had ids name none; they are compared among themselves.
Heads whose signature fails are left out of `fork` and `consistency`: an unsigned head says
nothing about the log, and its failure is already reported.

Pure: standard library and the other proof modules; no web framework, no database driver.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from deconfliction.proof import key_rotation
from deconfliction.proof.entries import check_leaf
from deconfliction.proof.merkle import verify_consistency, verify_inclusion
from deconfliction.proof.tree_head import SignedTreeHead, verify_tree_head

FORMAT = "deconfliction-receipts/v1"
_T = TypeVar("_T")


class ProofFileError(ValueError):
    """The document is not a proof file or a receipt; the message names the field."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- the file's contents -------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """One entry, its salt and leaf hash, and its inclusion proof against a signed head."""

    leaf_index: int
    entry: dict[str, Any]
    salt: bytes
    leaf_hash: bytes
    tree_head: SignedTreeHead
    inclusion_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "entry": self.entry,
            "salt": _b64(self.salt),
            "leaf_hash": _b64(self.leaf_hash),
            "tree_head": self.tree_head.to_json(),
            "inclusion_proof": [_b64(node) for node in self.inclusion_proof],
        }


@dataclass(frozen=True)
class Consistency:
    """A consistency proof between log `log_id`'s trees of `first` and `second` leaves (a log
    without an id: None)."""

    first: int
    second: int
    proof: tuple[bytes, ...]
    log_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        named = {} if self.log_id is None else {"log_id": self.log_id}
        return {
            **named,
            "first": self.first,
            "second": self.second,
            "proof": [_b64(node) for node in self.proof],
        }


@dataclass(frozen=True)
class ProofFile:
    """What a proof file holds, parsed."""

    receipts: tuple[Receipt, ...] = ()
    tree_heads: tuple[SignedTreeHead, ...] = ()
    consistency: tuple[Consistency, ...] = ()
    key_rotations: tuple[dict[str, Any], ...] = ()

    def heads(self) -> list[SignedTreeHead]:
        """Every distinct head: those listed, then those of the receipts."""
        held = [*self.tree_heads, *(receipt.tree_head for receipt in self.receipts)]
        return list(dict.fromkeys(held))

    def to_json(self) -> dict[str, Any]:
        """The file in the v1 format; heads sorted by log, size, then time."""
        heads = sorted(
            self.heads(), key=lambda head: (head.log_id or "", head.tree_size, head.timestamp)
        )
        return {
            "format": FORMAT,
            "receipts": [receipt.to_json() for receipt in self.receipts],
            "tree_heads": [head.to_json() for head in heads],
            "consistency": [proof.to_json() for proof in self.consistency],
            "key_rotations": list(self.key_rotations),
        }


# -- parsing -------------------------------------------------------------------------------------


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _field(document: dict[str, Any], path: str, name: str) -> Any:
    if name not in document:
        raise ProofFileError(f"{_at(path, name)}: missing")
    return document[name]


def _integer(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofFileError(f"{path}: must be a non-negative integer")
    return value


def _bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise ProofFileError(f"{path}: must be a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProofFileError(f"{path}: not valid base64") from None


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProofFileError(f"{path or 'the document'}: must be a JSON object")
    return value


def _nodes(value: Any, path: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise ProofFileError(f"{path}: must be a list of base64 hashes")
    return tuple(_bytes(node, f"{path}[{i}]") for i, node in enumerate(value))


def _list(document: dict[str, Any], name: str, item: Callable[[Any, str], _T]) -> tuple[_T, ...]:
    value = document.get(name, [])
    if not isinstance(value, list):
        raise ProofFileError(f"{name}: must be a list")
    return tuple(item(element, f"{name}[{i}]") for i, element in enumerate(value))


def _head(value: Any, path: str) -> SignedTreeHead:
    try:
        return SignedTreeHead.from_json(value)
    except ValueError as error:
        raise ProofFileError(f"{path}: {error}") from None


def _receipt(value: Any, path: str) -> Receipt:
    document = _object(value, path)
    return Receipt(
        leaf_index=_integer(_field(document, path, "leaf_index"), _at(path, "leaf_index")),
        entry=_object(_field(document, path, "entry"), _at(path, "entry")),
        salt=_bytes(_field(document, path, "salt"), _at(path, "salt")),
        leaf_hash=_bytes(_field(document, path, "leaf_hash"), _at(path, "leaf_hash")),
        tree_head=_head(_field(document, path, "tree_head"), _at(path, "tree_head")),
        inclusion_proof=_nodes(
            _field(document, path, "inclusion_proof"), _at(path, "inclusion_proof")
        ),
    )


def _announcement(value: Any, path: str) -> dict[str, Any]:
    document = _object(value, path)
    for name in (*key_rotation.SIGNED, "signature"):
        if not isinstance(_field(document, path, name), str):
            raise ProofFileError(f"{_at(path, name)}: must be a string")
    return document


def _consistency(value: Any, path: str) -> Consistency:
    document = _object(value, path)
    log_id = document.get("log_id")
    if log_id is not None and not isinstance(log_id, str):
        raise ProofFileError(f"{_at(path, 'log_id')}: must be a string")
    return Consistency(
        first=_integer(_field(document, path, "first"), _at(path, "first")),
        second=_integer(_field(document, path, "second"), _at(path, "second")),
        proof=_nodes(_field(document, path, "proof"), _at(path, "proof")),
        log_id=log_id,
    )


def parse(document: Any) -> ProofFile:
    """A proof file, a receipt, a write response or a page of receipts; ProofFileError if not."""
    document = _object(document, "")
    if "format" in document:
        if document["format"] != FORMAT:
            raise ProofFileError(f"format: {document['format']!r} is not {FORMAT!r}")
        return ProofFile(
            receipts=_list(document, "receipts", _receipt),
            tree_heads=_list(document, "tree_heads", _head),
            consistency=_list(document, "consistency", _consistency),
            key_rotations=_list(document, "key_rotations", _announcement),
        )
    if "receipts" in document:
        page_head = document.get("tree_head")
        heads = () if page_head is None else (_head(page_head, "tree_head"),)
        return ProofFile(receipts=_list(document, "receipts", _receipt), tree_heads=heads)
    if "receipt" in document:
        return ProofFile(receipts=(_receipt(document["receipt"], "receipt"),))
    if "leaf_index" in document:
        return ProofFile(receipts=(_receipt(document, ""),))
    raise ProofFileError(
        f'not a proof file: expected an object with "format": "{FORMAT}", a receipt, '
        'or an object holding a "receipt" or "receipts"'
    )


def merge(held: ProofFile, fetched: ProofFile) -> ProofFile:
    """`held` brought up to date with `fetched`: all heads and rotations of both; the fetched
    receipts, and each held one no fetched receipt replaces (same index and leaf hash)."""
    fresh = {(receipt.leaf_index, receipt.leaf_hash) for receipt in fetched.receipts}
    kept = [r for r in held.receipts if (r.leaf_index, r.leaf_hash) not in fresh]
    both = (*held.key_rotations, *fetched.key_rotations)
    rotations = {json.dumps(a, sort_keys=True): a for a in both}
    return ProofFile(
        receipts=tuple(sorted((*kept, *fetched.receipts), key=lambda r: r.leaf_index)),
        tree_heads=tuple(dict.fromkeys([*held.heads(), *fetched.heads()])),
        consistency=tuple(dict.fromkeys([*held.consistency, *fetched.consistency])),
        key_rotations=tuple(rotations.values()),
    )


def missing_consistency(proof: ProofFile, log_id: str | None) -> list[tuple[int, int]]:
    """The consecutive pairs of sizes (first > 0) of the held heads of log `log_id` with no
    consistency proof of that log held."""
    sizes = sorted({head.tree_size for head in proof.heads() if head.log_id == log_id})
    held = {(c.first, c.second) for c in proof.consistency if c.log_id == log_id}
    pairs = zip(sizes, sizes[1:], strict=False)
    return [(a, b) for a, b in pairs if a > 0 and (a, b) not in held]


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check: its kind (`leaf`, `inclusion`, `rotation`, `signature`, `fork`,
    `consistency`, `content`), what it is about, whether it passed, and why."""

    kind: str
    subject: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Verification:
    """Every check made, and the keys that were trusted in the end (by key id)."""

    checks: tuple[Check, ...]
    trusted_key_ids: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether there was something to check and every check passed."""
        return bool(self.checks) and all(check.ok for check in self.checks)

    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


def _log_name(log_id: str | None) -> str:
    return "" if log_id is None else f" of {log_id}"


def describe(head: SignedTreeHead) -> str:
    """A head as a reader names it: its size and time, and its log if it names one."""
    return f"head{_log_name(head.log_id)} of size {head.tree_size} at {head.timestamp}"


def _receipt_checks(position: int, receipt: Receipt) -> list[Check]:
    subject = f"receipt #{position}, entry {receipt.leaf_index}"
    head = receipt.tree_head
    leaf_ok = check_leaf(receipt.entry, receipt.salt, receipt.leaf_hash)
    leaf = Check(
        "leaf",
        subject,
        leaf_ok,
        "the leaf hash is SHA-256(0x00 || salt || RFC 8785 entry)"
        if leaf_ok
        else "the leaf hash recomputed from the salt and the entry is not the receipt's "
        "leaf_hash: the entry or the salt was altered",
    )
    try:
        root = head.root()
    except ValueError as error:
        return [leaf, Check("inclusion", subject, False, f"its tree head's {error}")]
    included = verify_inclusion(
        receipt.leaf_hash, receipt.leaf_index, head.tree_size, receipt.inclusion_proof, root
    )
    inclusion = Check(
        "inclusion",
        subject,
        included,
        f"the inclusion proof leads to the root of the {describe(head)}"
        if included
        else f"the inclusion proof does not lead from leaf {receipt.leaf_index} to the root of "
        f"the {describe(head)}",
    )
    return [leaf, inclusion]


def _rotation_check(announcement: dict[str, Any], trusted: dict[str, bytes]) -> Check:
    old, new = announcement.get("old_key_id"), announcement.get("new_key_id")
    subject = f"rotation from key {old} to key {new}"
    signer = trusted.get(old) if isinstance(old, str) else None
    if signer is None:
        return Check(
            "rotation",
            subject,
            False,
            f"key {old} is neither given nor reached through another announcement; the new key "
            "cannot be followed from the given keys",
        )
    if key_rotation.verify(announcement, signer) is None:
        return Check(
            "rotation",
            subject,
            False,
            f"the announcement is malformed or its signature does not verify with key {old}",
        )
    return Check("rotation", subject, True, f"signed by key {old}: key {new} is trusted")


def _signature_check(head: SignedTreeHead, trusted: dict[str, bytes]) -> Check:
    subject = describe(head)
    key = trusted.get(head.key_id)
    if key is None:
        return Check(
            "signature",
            subject,
            False,
            f"signed by key {head.key_id}, which is not trusted: give it with --key or include "
            "the announcement that rotates to it",
        )
    if not verify_tree_head(head, key):
        return Check(
            "signature",
            subject,
            False,
            f"the signature does not verify with key {head.key_id}: the head was altered or "
            "is malformed",
        )
    return Check("signature", subject, True, f"signed by key {head.key_id}")


BySize = dict[int, dict[bytes, SignedTreeHead]]  # one log's signed heads: size → root → head


def _fork_checks(log_id: str | None, by_size: BySize) -> list[Check]:
    checks = []
    for size, roots in sorted(by_size.items()):
        if len(roots) > 1:
            shown = "; ".join(f"{_b64(root)} at {h.timestamp}" for root, h in roots.items())
            checks.append(
                Check(
                    "fork",
                    f"heads{_log_name(log_id)} of size {size}",
                    False,
                    f"split view: {len(roots)} signed heads of size {size} with different "
                    f"roots ({shown}): the log was not the same for every reader",
                )
            )
    return checks


def _consistency_checks(
    log_id: str | None, by_size: BySize, proofs: Iterable[Consistency]
) -> list[Check]:
    held: dict[tuple[int, int], list[tuple[bytes, ...]]] = {}
    for proof in proofs:
        if proof.log_id == log_id:
            held.setdefault((proof.first, proof.second), []).append(proof.proof)
    sizes = sorted(by_size)
    checks = []
    for first, second in zip(sizes, sizes[1:], strict=False):
        candidates = held.get((first, second)) or ([()] if first == 0 else [])
        for old_root, old in by_size[first].items():
            for new_root, new in by_size[second].items():
                subject = f"{describe(old)} → {describe(new)}"
                if not candidates:
                    message = (
                        f"no consistency proof{_log_name(log_id)} between sizes {first} and "
                        f"{second} in the file"
                    )
                    checks.append(Check("consistency", subject, False, message))
                    continue
                consistent = any(
                    verify_consistency(first, second, proof, old_root, new_root)
                    for proof in candidates
                )
                checks.append(
                    Check(
                        "consistency",
                        subject,
                        consistent,
                        f"the tree of {first} entries is a prefix of the tree of {second}"
                        if consistent
                        else f"no consistency proof shows the tree of {first} entries is a "
                        f"prefix of the tree of {second}: the log was rewritten, or the proof "
                        "altered",
                    )
                )
    return checks


def verify(proof: ProofFile, keys: Iterable[bytes]) -> Verification:
    """Check everything in `proof` against the trusted raw Ed25519 public `keys`."""
    rotations = list(proof.key_rotations)
    trusted = key_rotation.trusted_keys(keys, rotations)
    checks = [c for i, receipt in enumerate(proof.receipts) for c in _receipt_checks(i, receipt)]
    checks += [_rotation_check(announcement, trusted) for announcement in rotations]
    by_log: dict[str | None, BySize] = {}
    for head in proof.heads():
        signature = _signature_check(head, trusted)
        checks.append(signature)
        if signature.ok:
            by_size = by_log.setdefault(head.log_id, {})
            by_size.setdefault(head.tree_size, {}).setdefault(head.root(), head)
    for log_id, by_size in by_log.items():
        checks += _fork_checks(log_id, by_size)
        checks += _consistency_checks(log_id, by_size, proof.consistency)
    if not proof.receipts and not proof.heads():
        checks.append(Check("content", "file", False, "nothing to verify: no receipt, no head"))
    return Verification(tuple(checks), tuple(sorted(trusted)))
