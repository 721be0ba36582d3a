"""The service's signing key: opened (or created) beside the store, checked against the log, and
rotated with an announcement signed by the old key.

The key file holds the private key; the store holds every public key the log has used, so
`audit verify` and parties can check old tree heads after a rotation.

Rotation is crash-safe: the new key is first written to `<key file>.next`; the log entry that
announces it and the store's key table change in one transaction; only then is `.next` renamed
over the key file. A crash in between is finished on the next start (`open_keys`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from deconfliction.domain.times import format_instant
from deconfliction.keyfile import KeyFileError, load_or_create, read_key, write_key
from deconfliction.proof import key_rotation
from deconfliction.proof.tree_head import key_id
from deconfliction.services import ledger
from deconfliction.services.context import Actor, Context, ServiceKeys
from deconfliction.services.ports import Store


def _pending(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def open_keys(store: Store, path: Path, now: datetime) -> tuple[ServiceKeys, bool]:
    """The service's key from `path`; (keys, created).

    A new log gets a new key (or the one already in `path`), recorded in the store. For a log
    that has a key, a missing key file or another key is refused — never replaced — except the
    key a rotation cut short by a crash was installing, whose rename is finished.
    """
    # In the writer's transaction: two processes opening a new log make one key, not two.
    with store.write() as tx:
        active = [row for row in tx.service_keys() if row["retired_at"] is None]
        next_path = _pending(path)
        if next_path.exists():
            staged = read_key(next_path)
            if active and active[0]["key_id"] == key_id(staged.verify_key):
                next_path.replace(path)
            else:
                next_path.unlink()  # the rotation did not commit: the old key is still the one
        if not active:
            key, created = load_or_create(path)
            ledger.register_key(tx, key, now)
            return ServiceKeys(key, path), created
    expected = active[0]["key_id"]
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
    return ServiceKeys(key, path), False


def rotate(ctx: Context, actor: Actor) -> dict[str, Any]:
    """Replace the signing key; the new key is announced in a log entry signed by the old one.

    Use cases that took the old key before the new one is installed may still sign a head with
    it; such heads stay valid for whoever trusts the old key.
    """
    actor.require_operator()
    keys = ctx.keys
    with keys.lock:
        old = keys.current
        new = SigningKey.generate()
        next_path = _pending(keys.path)
        write_key(next_path, new)
        try:
            with ctx.store.write() as tx:
                moment = ctx.now()
                at = format_instant(moment)
                announcement = key_rotation.announce(old, new.verify_key, at)
                index = ledger.record(
                    tx,
                    "key.rotated",
                    at=at,
                    mechanism_id=None,
                    subject_id=announcement["new_key_id"],
                    audience=[],
                    by=actor,
                    data=announcement,
                )
                receipt = ledger.receipt_now(tx, old, index, moment)
                tx.retire_service_key(key_id(old.verify_key), at)
                tx.add_service_key(
                    {
                        "key_id": announcement["new_key_id"],
                        "public_key": announcement["new_public_key"],
                        "activated_at": at,
                        "announced_at_idx": index,
                    }
                )
                first_head = ledger.sign_head(tx, new, moment)
        except BaseException:
            next_path.unlink(missing_ok=True)
            raise
        next_path.replace(keys.path)
        keys.current = new
    return {
        "announcement": announcement,
        "receipt": receipt,
        "first_tree_head": first_head.to_json(),
    }
