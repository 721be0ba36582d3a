"""The writer's turn across processes: a lock file beside the database that the kernel hands over.

Several processes may serve one SQLite file (`deconfliction serve --workers N`). SQLite lets one
write transaction run at a time, and a process that finds the file locked polls it with sleeps
that grow to 100 ms: under load the waiting process's writers stall behind ones that come and
go. So before it begins a write, each process's writer takes an exclusive `flock` on
`<database>-writer.lock`, and gives it back after the commit: a waiting process sleeps in the
kernel and is woken the moment the lock is free. The file holds nothing; it may be deleted while
no process has the database open. SQLite's own locking is unchanged, and still guards the file
against any program that does not take this lock.

The wait has no time limit: a long write of another process (an import, a mechanism's move)
holds up the others' writes until it commits, where SQLite's busy timeout failed them after 30 s.
A process that dies gives the lock up with its open files.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def lock_path_for(database: Path) -> Path:
    """Where the writer lock of a database file lives: beside it."""
    return database.with_name(f"{database.name}-writer.lock")


class WriterLock:
    """An exclusive lock on a file, held by one writer of all the processes at a time."""

    def __init__(self, path: Path, mode: int) -> None:
        """Open (creating it with `mode`, as SQLite makes its -wal and -shm files with the
        database's permissions) the lock file at `path`."""
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)

    def acquire(self) -> None:
        """Wait until no other process's writer holds the lock, then hold it."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Give the file up (and the lock with it, if held); more than once is harmless."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
