"""The service's signing key: opened (or created) beside the store, checked against the log, and
rotated with an announcement signed by the old key.

The key file holds the private key; each store holds every public key its log has used, so
`audit verify` and parties can check old tree heads after a rotation. A deployment over several
databases signs every shard's log with the one key, and a rotation announces the new key in
each shard's log.

Rotation is crash-safe: the new key is first written to `<key file>.next`; each log's
announcement of it and that store's key table change in one transaction; only once every log
has it is `.next` renamed over the key file. A rotation cut short is finished — on the next
start (`open_keys`), or by rotating again — if any log committed it, and forgotten otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from deconfliction.domain.times import format_instant
from deconfliction.errors import StateConflict
from deconfliction.keyfile import KeyFileError, load_or_create, read_key, write_key
from deconfliction.proof import key_rotation
from deconfliction.proof.tree_head import key_id
from deconfliction.services import ledger
from deconfliction.services.context import Actor, Context, ServiceKeys
from deconfliction.services.ports import Store, Transaction

ROTATED = "key.rotated"


def _pending(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def _active(tx: Transaction) -> str | None:
    """The id of the key the log signs with now; None for a log that has no key yet."""
    return next((row["key_id"] for row in tx.service_keys() if row["retired_at"] is None), None)


def _active_in(store: Store) -> str | None:
    with store.read() as tx:
        return _active(tx)


def open_keys(stores: Sequence[Store], path: Path, now: datetime) -> tuple[ServiceKeys, bool]:
    """The key in `path` that signs the logs of `stores` (one, or a deployment's shards, the
    home shard first); (keys, created).

    A new log gets the key in `path` (made if there is no file and no log has a key yet). For
    logs that have a key, a missing key file or another key is refused — never replaced —
    except the key a rotation cut short was installing (`.next`): if any log committed it, it
    is announced in the logs that lack it and its file renamed into place; else it is removed.
    """
    _settle_rotation(stores, path, now)
    # In the home store's write transaction: two processes opening a new log make one key.
    with stores[0].write() as tx:
        known = {_active(tx), *map(_active_in, stores[1:])} - {None}
        key, created = (_key_of_logs(path, known), False) if known else load_or_create(path)
        ledger.register_key(tx, key, now)
    for store in stores[1:]:
        with store.write() as tx:
            ledger.register_key(tx, key, now)  # a new shard's first key
    return ServiceKeys(key, path), created


def _key_of_logs(path: Path, known: set[str | None]) -> SigningKey:
    """The key in `path`, which must be the one key the logs sign with now."""
    if len(known) > 1:
        raise KeyFileError(
            f"the databases of this deployment are signed with different keys "
            f"({', '.join(sorted(map(str, known)))}): each must be a shard of this deployment"
        )
    expected = next(iter(known))
    if not path.exists():
        raise KeyFileError(
            f"no signing key file at {path}, but this log is signed with key {expected}: restore "
            "that key file (or name it in DECONFLICTION_SIGNING_KEY_FILE); a new key is made "
            "only for a new log"
        )
    key = read_key(path)
    if key_id(key.verify_key) != expected:
        raise KeyFileError(
            f"the signing key in {path} (key id {key_id(key.verify_key)}) is not the log's "
            f"active key ({expected}); give the right file in DECONFLICTION_SIGNING_KEY_FILE"
        )
    return key


def _settle_rotation(stores: Sequence[Store], path: Path, now: datetime) -> None:
    """Finish or forget a rotation cut short by a crash (its new key still in `.next`)."""
    pending = _pending(path)
    if not pending.exists():
        return
    staged = read_key(pending)
    new_id = key_id(staged.verify_key)
    actives = [_active_in(store) for store in stores]
    if new_id not in actives:
        pending.unlink()  # no log committed it: the old key is still the one
        return
    lagging = [
        (store, active)
        for store, active in zip(stores, actives, strict=True)
        if active not in (None, new_id)
    ]
    if lagging:
        old = _key_of_logs(path, {active for _, active in lagging})
        for store, _ in lagging:
            _announce_in(store, old, staged, now, None)
    pending.replace(path)


def rotate(contexts: Sequence[Context], actor: Actor) -> dict[str, Any]:
    """Replace the signing key of the logs the contexts serve (one, or every shard's, the home
    shard first, all sharing one ServiceKeys); each log announces the new key in an entry signed
    by the old one, followed by its first head signed by the new one.

    Use cases that took the old key before the new one is installed may still sign a head with
    it; such heads stay valid for whoever trusts the old key. A rotation that reached some logs
    but not all keeps the new key in `.next`: rotating again (or restarting) finishes it.
    """
    actor.require_operator()
    keys = contexts[0].keys
    with keys.lock:
        old = keys.current
        pending = _pending(keys.path)
        resumed = pending.exists()  # a rotation of this process that reached some logs
        new = read_key(pending) if resumed else SigningKey.generate()
        if not resumed:
            write_key(pending, new)
        done: list[dict[str, Any]] = []
        try:
            for ctx in contexts:
                done.append(_announce_in(ctx.store, old, new, ctx.now(), actor))
        except BaseException as error:
            if not done and not resumed:
                pending.unlink(missing_ok=True)
                raise
            if not isinstance(error, Exception):
                raise
            raise StateConflict(
                f"the new key {key_id(new.verify_key)} is announced in the logs of "
                f"{_names(contexts[: len(done)])} but not yet of "
                f"{_names(contexts[len(done) :])} ({error}); rotate again to finish, or "
                "restart the service, which finishes it"
            ) from error
        pending.replace(keys.path)
        keys.current = new
    view = dict(done[0])
    if len(contexts) > 1:
        view["shards"] = [
            {"shard": ctx.shard, **announced} for ctx, announced in zip(contexts, done, strict=True)
        ]
    return view


def _names(contexts: Sequence[Context]) -> str:
    return ", ".join(ctx.shard or "the database" for ctx in contexts)


def _announce_in(
    store: Store, old: SigningKey, new: SigningKey, moment: datetime, by: Actor | None
) -> dict[str, Any]:
    """Make `new` the key of the store's log, announced in an entry signed by `old`, in one
    transaction; the announcement, its receipt and the first head the new key signed. A log
    that has the key already answers with its announcement's receipt."""
    new_id = key_id(new.verify_key)
    with store.write() as tx:
        if _active(tx) == new_id:
            index = ledger.find(tx, ROTATED, new_id)
            if index is None:
                raise StateConflict(f"the log has key {new_id} without an announcement of it")
            receipt = ledger.receipt_now(tx, new, index, moment)
            return {
                "announcement": receipt["entry"]["data"],
                "receipt": receipt,
                "first_tree_head": receipt["tree_head"],
            }
        at = format_instant(moment)
        announcement = key_rotation.announce(old, new.verify_key, at)
        index = ledger.record(
            tx,
            ROTATED,
            at=at,
            mechanism_id=None,
            subject_id=new_id,
            audience=[],
            by=by,
            data=announcement,
        )
        receipt = ledger.receipt_now(tx, old, index, moment)
        tx.retire_service_key(key_id(old.verify_key), at)
        tx.add_service_key(
            {
                "key_id": new_id,
                "public_key": announcement["new_public_key"],
                "activated_at": at,
                "announced_at_idx": index,
            }
        )
        first_head = ledger.sign_head(tx, new, moment)
    return {
        "announcement": announcement,
        "receipt": receipt,
        "first_tree_head": first_head.to_json(),
    }
