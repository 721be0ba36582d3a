"""Group commit: use cases that queue for the one writer share its commit, and so its fsync.

With `synchronous=FULL` every commit waits for the disk (~0.2–1 ms here); under load that wait,
not the work, fills the writer. So a use case that finishes while others are queued does not
commit: it hands the open transaction to the next, and the last of the group (at most
MAX_GROUP, or whoever finds nobody waiting) commits for all. Each use case still runs alone and
atomically, inside its own SAVEPOINT: one that fails is rolled back to it, and the others of its
group are untouched. No use case returns before the commit that holds it is durable; if that
commit fails, every use case of the group fails with it.

A group begins by taking the writer's turn from the other processes on the same file
(writer_lock.py) and gives it back once it has committed; then it nudges the store's checkpoint
thread (checkpoints.py), which moves the committed pages into the database file outside the turn.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from deconfliction.storage.sqlite.writer_lock import WriterLock

MAX_GROUP = 8  # use cases sharing one commit at most: bounds how long the first one waits
FAILURES_KEPT = 64


class GroupCommit:
    """The one writer connection, taken in turn by use cases that may share a commit."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        across_processes: WriterLock,
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = connection
        self._across_processes = across_processes
        self._after_commit = after_commit  # told once a group's commit is made, turn given back
        # One lock, two waits: for the writer's turn (handed to one use case at a time) and for
        # a group's commit (all its use cases at once) — so a hand-over wakes one thread, not
        # every thread waiting for either.
        self._lock = threading.Lock()
        self._turn_free = threading.Condition(self._lock)
        self._group_done = threading.Condition(self._lock)
        self._busy = False
        self._waiting = 0
        self._group = 0  # the number of the open group, or of the last one committed
        self._size = 0
        self._committed = 0
        self._broken: BaseException | None = None
        self._failures: dict[int, BaseException] = {}
        self._awaiting = False  # whether this process waits for another's writer

    @property
    def awaiting_another_process(self) -> bool:
        """Whether this process's next group waits for another process's writer now (read
        without the lock: a hint, right at the moment it was read)."""
        return self._awaiting

    @contextmanager
    def use_case(self) -> Iterator[None]:
        """Run one use case in its own savepoint of the group's transaction; return once its
        group is committed (raising the commit's error if it failed)."""
        group = self._take_turn()
        failed = False
        try:
            self._db.execute("SAVEPOINT use_case")
            try:
                yield
            except BaseException:
                failed = True
                self._undo()
                raise
            self._db.execute("RELEASE use_case")
        except BaseException as error:
            if not failed:  # the savepoint itself could not be made or released
                self._broken = self._broken or error
            raise
        finally:
            self._pass_turn()
        self._await_commit(group)

    def _take_turn(self) -> int:
        with self._lock:
            self._waiting += 1
            while self._busy:
                self._turn_free.wait()
            self._waiting -= 1
            self._busy = True
            starting = not self._db.in_transaction
        # This thread has the turn: the group's fields are its own until it passes the turn on.
        if starting:
            try:
                self._begin()
            except BaseException:
                with self._lock:
                    self._busy = False
                    self._turn_free.notify()
                raise
            self._group += 1
            self._size = 0
        self._size += 1
        return self._group

    def _begin(self) -> None:
        """Take the writer's turn from the other processes, then begin the group's transaction.
        Called outside the lock: while this waits for another process, the use cases of this
        process's previous group can still take the lock to learn that they were committed."""
        self._awaiting = True
        try:
            self._across_processes.acquire()
        finally:
            self._awaiting = False
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._across_processes.release()
            raise

    def _undo(self) -> None:
        """Roll the failed use case back to its savepoint; if that is impossible (SQLite already
        rolled the whole transaction back), the group is broken and fails as one."""
        try:
            self._db.execute("ROLLBACK TO use_case")
            self._db.execute("RELEASE use_case")
        except sqlite3.Error as error:
            self._broken = self._broken or error

    def _pass_turn(self) -> None:
        with self._lock:
            self._busy = False
            if self._waiting and self._size < MAX_GROUP and self._broken is None:
                self._turn_free.notify()  # the next use case joins this group's transaction
                return
            try:
                self._finish_group()
            finally:
                self._group_done.notify_all()
                self._turn_free.notify()  # the next use case, if any, starts the next group

    def _finish_group(self) -> None:
        """Commit (or, if broken, roll back) the group; whatever happens, its members are told."""
        error = self._broken
        try:
            if error is None:
                self._db.execute("COMMIT")
        except BaseException as failure:
            error = failure
        finally:
            try:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            except BaseException as failure:
                error = error or failure
            self._across_processes.release()
            if error is not None:
                self._failures[self._group] = error
                while len(self._failures) > FAILURES_KEPT:
                    del self._failures[min(self._failures)]
            self._broken = None
            self._committed = self._group
        if error is None:
            self._after_commit()

    def _await_commit(self, group: int) -> None:
        with self._lock:
            while self._committed < group:
                self._group_done.wait()
            error = self._failures.get(group)
        if error is not None:
            raise sqlite3.OperationalError(f"the commit of this write failed: {error}") from error
