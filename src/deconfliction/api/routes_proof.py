"""Proof routes: the newest signed tree head and the service's keys, consistency proofs between
two sizes of the log, receipts, and the rotation of the service's signing key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from deconfliction.api.deps import Caller, Shards
from deconfliction.services import log_access, service_keys
from deconfliction.sharding.deployment import Deployment

router = APIRouter(prefix="/v1", tags=["proof"])

MAX_INDEX = 2**53 - 1

Size = Annotated[int, Query(ge=0, le=MAX_INDEX, description="a size of the log (entries)")]
Shard = Annotated[
    str | None,
    Query(
        max_length=31,
        description="whose log: the shard's name in a deployment over several databases "
        "(each keeps its own log; `shards` in GET /v1/log/head lists them); the home "
        "database's if left out",
    ),
]


def _named(view: dict[str, Any], shards: Deployment, shard: str | None) -> dict[str, Any]:
    return {**view, "shard": shard or next(iter(shards.contexts)), "shards": list(shards.contexts)}


@router.get("/log/head")
def get_head(shards: Shards, caller: Caller, shard: Shard = None) -> dict[str, Any]:
    """The newest signed tree head, the public key that signed it and every key the log has
    used (with the announcement, signed by the old key, that introduced each later one).

    Keep the heads you are shown and compare them with other parties' — two heads of the same
    log and size with different roots prove the log showed you different histories."""
    return _named(log_access.newest_head(shards.shard(shard), caller), shards, shard)


@router.post("/log/head")
def sign_head(shards: Shards, caller: Caller, shard: Shard = None) -> dict[str, Any]:
    """Sign a head over the whole log now if it grew since the newest one (heads are also
    signed at every write that answers with a receipt, and every minute while the log grows)."""
    return _named(log_access.sign_now(shards.shard(shard), caller), shards, shard)


@router.get("/log/consistency")
def get_consistency(
    shards: Shards, caller: Caller, first: Size, second: Size, shard: Shard = None
) -> dict[str, Any]:
    """The RFC 9162 consistency proof that the log of `first` entries is a prefix of the log of
    `second` entries (`second` at most the newest head's size)."""
    ctx = shards.shard(shard)
    return log_access.consistency(ctx, caller, first=first, second=second)


@router.get("/receipts/{index}")
def get_receipt(
    index: Annotated[int, Path(ge=0, le=MAX_INDEX)],
    shards: Shards,
    caller: Caller,
    shard: Shard = None,
) -> dict[str, Any]:
    """The receipt of log entry `index` — the entry, its salt, its leaf hash and its inclusion
    proof — against the newest signed head. 404 for an entry your party is not shown."""
    return log_access.receipt_of(shards.shard(shard), caller, index=index)


@router.get("/receipts")
def list_receipts(
    shards: Shards,
    caller: Caller,
    after: Annotated[
        int, Query(ge=-1, le=MAX_INDEX, description="entries after this index; -1 from the first")
    ] = -1,
    limit: Annotated[int, Query(ge=1, le=log_access.MAX_RECEIPTS)] = 100,
    shard: Shard = None,
) -> dict[str, Any]:
    """Your party's log entries (every entry for the operator), each with its receipt, all
    against one signed head; page on with `after=next_after` until it is null."""
    return log_access.receipts(shards.shard(shard), caller, after=after, limit=limit)


@router.post("/log/keys/rotate")
def rotate_key(shards: Shards, caller: Caller) -> dict[str, Any]:
    """Operator: replace the service's signing key. The new key is announced in a log entry
    signed by the old one; the first head signed by the new key follows it. In a deployment
    over several databases every shard's log announces it (`shards`: each one's receipt and
    first head; the top level is the home shard's); a rotation that reached some shards but not
    all answers 409 and is finished by rotating again."""
    return service_keys.rotate(list(shards.contexts.values()), caller)
