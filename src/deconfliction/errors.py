"""The service's exceptions: each has a stable code and a message safe to show to the caller.

DeconflictionError            code                  HTTP (mapped once, in api/problems.py)
├── InvalidInput              invalid-input         422, lists every (field, reason)
├── Unauthenticated           unauthenticated       401
├── PermissionDenied          permission-denied     403 (a role may not do this at all)
├── NotFound                  not-found             404 (also for what the caller may not see)
├── AlreadyExists             already-exists        409
├── StateConflict             state-conflict        409 (e.g. revising a cancelled notification)
├── IdempotencyKeyReused      idempotency-key-reused 422
├── PreconditionRequired      precondition-required 428 (a revision without If-Match)
└── VersionMismatch           version-mismatch      412 (If-Match names a stale version)
"""

from __future__ import annotations

from dataclasses import dataclass


class DeconflictionError(Exception):
    """Base of every error the service reports to a caller."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldError:
    """One rejected field: a dotted path into the input (``volumes[0].area``) and why."""

    field: str
    reason: str


class InvalidInput(DeconflictionError):
    """The input is well-formed but breaks a rule; names every offending field."""

    code = "invalid-input"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e.field}: {e.reason}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(summary + more)

    @classmethod
    def one(cls, field: str, reason: str) -> InvalidInput:
        return cls([FieldError(field, reason)])


class Unauthenticated(DeconflictionError):
    code = "unauthenticated"


class PermissionDenied(DeconflictionError):
    code = "permission-denied"


class NotFound(DeconflictionError):
    code = "not-found"


class AlreadyExists(DeconflictionError):
    code = "already-exists"


class StateConflict(DeconflictionError):
    code = "state-conflict"


class IdempotencyKeyReused(DeconflictionError):
    code = "idempotency-key-reused"


class PreconditionRequired(DeconflictionError):
    code = "precondition-required"


class VersionMismatch(DeconflictionError):
    code = "version-mismatch"

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version


class RateLimited(DeconflictionError):
    """Too many requests: the caller must wait `retry_after_s` seconds."""

    code = "rate-limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)
