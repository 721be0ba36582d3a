"""Key rotation: the service announces its next signing key in a statement signed by the old one.

The announcement is a log entry's data; its signature is over the RFC 8785 canonical JSON of
`{"kind": "deconfliction/key-rotation/v1", "old_key_id", "new_key_id", "new_public_key", "at"}`.
Whoever trusts the old key can so come to trust the new one offline, following the chain.

Pure: standard library, `rfc8785` and PyNaCl.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from deconfliction.proof import canonical as canonical_json
from deconfliction.proof.tree_head import key_id

ROTATION_KIND = "deconfliction/key-rotation/v1"
SIGNED = ("old_key_id", "new_key_id", "new_public_key", "at")


def _payload(announcement: Mapping[str, Any]) -> bytes:
    return canonical_json.dumps(
        {"kind": ROTATION_KIND, **{name: announcement[name] for name in SIGNED}}
    )


def announce(old: SigningKey, new_public_key: VerifyKey, at: str) -> dict[str, str]:
    """The announcement that `new_public_key` follows `old`, signed by `old`."""
    fields = {
        "old_key_id": key_id(old.verify_key),
        "new_key_id": key_id(new_public_key),
        "new_public_key": base64.b64encode(bytes(new_public_key)).decode("ascii"),
        "at": at,
    }
    signature = old.sign(_payload(fields)).signature
    return {**fields, "signature": base64.b64encode(signature).decode("ascii")}


def verify(announcement: Any, old_public_key: bytes) -> bytes | None:
    """The new raw public key if `announcement` is well formed and signed by `old_public_key`."""
    if not isinstance(announcement, Mapping) or not all(
        isinstance(announcement.get(name), str) for name in (*SIGNED, "signature")
    ):
        return None
    try:
        new_key = base64.b64decode(announcement["new_public_key"], validate=True)
        signature = base64.b64decode(announcement["signature"], validate=True)
    except (binascii.Error, ValueError):
        return None
    if (
        len(new_key) != 32
        or len(old_public_key) != 32
        or announcement["new_key_id"] != key_id(new_key)
        or announcement["old_key_id"] != key_id(old_public_key)
    ):
        return None
    try:
        VerifyKey(old_public_key).verify(_payload(announcement), signature)
    except (BadSignatureError, ValueError, TypeError):
        return None
    return new_key


def trusted_keys(root_keys: Iterable[bytes], announcements: Iterable[Any]) -> dict[str, bytes]:
    """Every key reachable from the trusted `root_keys` through valid announcements, by key id."""
    trusted = {key_id(key): key for key in root_keys}
    pending = list(announcements)
    progress = True
    while progress:
        progress = False
        for announcement in list(pending):
            old = (
                trusted.get(announcement.get("old_key_id", ""))
                if isinstance(announcement, Mapping)
                else None
            )
            new_key = verify(announcement, old) if old is not None else None
            if new_key is not None:
                trusted[key_id(new_key)] = new_key
                pending.remove(announcement)
                progress = True
    return trusted
