"""Acknowledgements: a party's record that it received and read something — never approval."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deconfliction.domain.times import format_instant
from deconfliction.services import inbox, ledger
from deconfliction.services.context import Actor, ServiceKeys
from deconfliction.services.events import Recorded, record_event
from deconfliction.services.ports import Row, Transaction

MEANING = "received and read"


def acknowledgement_view(ack: Row) -> dict[str, Any]:
    return {
        "subject_type": ack["subject_type"],
        "subject_id": ack["subject_id"],
        "party_id": ack["party_id"],
        "version": ack["version"],
        "token_id": ack["token_id"],
        "acknowledged_at": ack["acknowledged_at"],
        "meaning": MEANING,
    }


def acknowledge(
    tx: Transaction,
    actor: Actor,
    *,
    subject_type: str,
    subject_id: str,
    version: int,
    mechanism_id: str,
    audience: list[str],
    keys: ServiceKeys,
    now: datetime,
) -> dict[str, Any]:
    """Record the actor's party's acknowledgement of one version, once; a repeat changes nothing
    and shows the receipt of the first."""
    ack, recorded = record(
        tx,
        actor,
        subject_type=subject_type,
        subject_id=subject_id,
        version=version,
        mechanism_id=mechanism_id,
        audience=audience,
        at=format_instant(now),
    )
    view = acknowledgement_view(ack)
    if recorded is None:
        return ledger.with_earlier_receipt(
            tx,
            keys,
            view,
            f"{subject_type}.acknowledged",
            subject_id,
            now,
            party_id=ack["party_id"],
            version=ack["version"],
        )
    return ledger.with_receipt(tx, keys, view, recorded.log_index, now)


def record(
    tx: Transaction,
    actor: Actor,
    *,
    subject_type: str,
    subject_id: str,
    version: int,
    mechanism_id: str,
    audience: list[str],
    at: str,
) -> tuple[Row, Recorded | None]:
    """The acknowledgement as stored, and where its event went; None for a repeat, which
    changes nothing."""
    party = actor.require_party()
    wanted = {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "party_id": party,
        "version": version,
        "token_id": actor.token_id,
        "acknowledged_at": at,
    }
    ack = tx.acknowledge(wanted)
    inbox.settle(tx, party, subject_id, version, actor.token_id, at)
    if ack != wanted:
        return ack, None
    recorded = record_event(
        tx,
        mechanism_id,
        f"{subject_type}.acknowledged",
        subject_id,
        audience,
        {f"{subject_type}_id": subject_id, "party_id": party, "version": version},
        at,
        by=actor,
    )
    return ack, recorded
