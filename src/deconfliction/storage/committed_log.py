"""What a process knows of its database's transparency log that no transaction can change any more.

The log only grows: once committed, a leaf hash, the hash of a complete subtree and the log's id
never change. A write's receipt needs the leaves of the log's last block and the complete
subtrees along its root and proof — nearly the same ones as the write before it. Read from the
database, that is two or three queries a write; kept here, none.

A transaction records what it read or made of these (`Lesson`), and its store hands that over
(`CommittedLog.learn`) only once the transaction has committed — with group commit, once the
group has: a hash a transaction made or read before its commit may belong to leaves that a
rollback takes away. A read transaction sees committed rows only, so what it read is learnt
when it ends. On PostgreSQL each process keeps its own; what another process commits is read
from the database once and kept from then on.

Bounded: the most recent leaves and subtrees are kept, older ones forgotten (and read again if
ever needed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from itertools import islice

LEAVES_KEPT = 1024
SUBTREES_KEPT = 4096

Subtree = tuple[int, int]  # (start, size) of a complete subtree


@dataclass
class Lesson:
    """What one transaction read or made of the log, to be learnt if it commits."""

    leaves: dict[int, bytes] = field(default_factory=dict)
    subtrees: dict[Subtree, bytes] = field(default_factory=dict)
    log_id: str | None = None


class CommittedLog:
    """Committed leaf hashes, subtree hashes and the log's id, shared by a store's transactions.

    Transactions look values up without a lock: a dict lookup, and an update with int and tuple
    keys, are each one step under the interpreter lock, and a dict trimmed is replaced whole.
    `learn` takes a lock of its own so that a store's threads learn in turn.
    """

    def __init__(self) -> None:
        self.leaves: dict[int, bytes] = {}
        self.subtrees: dict[Subtree, bytes] = {}
        self.log_id: str | None = None
        self.newest_leaf = -1  # the highest index of a leaf learnt (-1: none)
        self._learning = threading.Lock()

    def learn(self, lesson: Lesson) -> None:
        """Keep what a committed transaction read or made of the log."""
        if not (lesson.leaves or lesson.subtrees or lesson.log_id):
            return
        with self._learning:
            if lesson.log_id is not None:
                self.log_id = lesson.log_id
            self.leaves.update(lesson.leaves)
            if lesson.leaves:
                self.newest_leaf = max(self.newest_leaf, max(lesson.leaves))
            if len(self.leaves) > LEAVES_KEPT:
                forgotten = max(self.leaves) - LEAVES_KEPT // 2  # this one and those before it
                self.leaves = {i: digest for i, digest in self.leaves.items() if i > forgotten}
            self.subtrees.update(lesson.subtrees)
            if len(self.subtrees) > SUBTREES_KEPT:
                later = islice(self.subtrees.items(), len(self.subtrees) - SUBTREES_KEPT // 2, None)
                self.subtrees = dict(later)
