"""Log entries as salted Merkle leaves: leaf data = 32-byte salt || RFC 8785 canonical JSON.

The salt is stored with the entry and revealed only to those allowed to see the entry. Proofs
carry other leaves' hashes as siblings; without their salts nobody can test a guess of what those
entries say, so a receipt proves one party's entries without disclosing anyone else's.

Pure: standard library, `rfc8785` (through proof/canonical.py) and the Merkle module; no web
framework, no database driver.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Mapping
from typing import Any

import rfc8785

from deconfliction.proof import canonical as canonical_json
from deconfliction.proof.merkle import leaf_hash

SALT_SIZE = 32
SALTS_PER_DRAW = 128


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The RFC 8785 (JCS) bytes of an entry; ValueError if it has no canonical form.

    RFC 8785 refuses what I-JSON cannot carry exactly: integers beyond ±(2**53 - 1), NaN and
    infinities, non-string keys. Such values must be stored as strings.
    """
    if not isinstance(entry, Mapping):
        raise ValueError("a log entry must be a JSON object")
    try:
        return canonical_json.dumps(dict(entry))
    except rfc8785.CanonicalizationError as error:
        raise ValueError(f"the entry has no RFC 8785 canonical form: {error}") from error


class _SaltSource:
    """Salts cut from the operating system's random bytes, drawn 128 salts at a time (one
    system call instead of one a log entry). Each salt is handed out once, to one thread; a
    forked child draws its own bytes, never the parent's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        self._used = 0
        self._pid = -1

    def take(self) -> bytes:
        with self._lock:
            if self._used + SALT_SIZE > len(self._bytes) or self._pid != os.getpid():
                self._bytes, self._used, self._pid = (
                    os.urandom(SALT_SIZE * SALTS_PER_DRAW),
                    0,
                    os.getpid(),
                )
            salt = self._bytes[self._used : self._used + SALT_SIZE]
            self._used += SALT_SIZE
            return salt


_salts = _SaltSource()


def new_salt() -> bytes:
    """A fresh random salt for one entry."""
    return _salts.take()


def leaf_data(entry: Mapping[str, Any], salt: bytes) -> bytes:
    """The bytes of the entry's leaf: salt || canonical JSON."""
    if not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
        raise ValueError(f"a salt is {SALT_SIZE} bytes")
    return salt + canonical(entry)


def entry_leaf_hash(entry: Mapping[str, Any], salt: bytes) -> bytes:
    """The entry's Merkle leaf hash, SHA-256(0x00 || salt || canonical JSON)."""
    return leaf_hash(leaf_data(entry, salt))


def check_leaf(entry: Mapping[str, Any], salt: bytes, expected: bytes) -> bool:
    """Whether the entry with this salt is the leaf `expected` (False for a malformed salt)."""
    try:
        computed = entry_leaf_hash(entry, salt)
    except ValueError:
        return False
    return isinstance(expected, bytes) and hmac.compare_digest(computed, expected)
