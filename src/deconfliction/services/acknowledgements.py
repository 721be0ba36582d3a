"""Acknowledgements: a party's record that it received and read something — never approval."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deconfliction.domain.times import format_instant
from deconfliction.services import inbox, ledger
from deconfliction.services.context import Actor, ServiceKeys
from deconfliction.services.events import record_event
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
    party = actor.require_party()
    at = format_instant(now)
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
    kind = f"{subject_type}.acknowledged"
    view = acknowledgement_view(ack)
    if ack != wanted:
        return ledger.with_earlier_receipt(
            tx, keys, view, kind, subject_id, now, party_id=party, version=ack["version"]
        )
    recorded = record_event(
        tx,
        mechanism_id,
        kind,
        subject_id,
        audience,
        {f"{subject_type}_id": subject_id, "party_id": party, "version": version},
        at,
        by=actor,
    )
    return ledger.with_receipt(tx, keys, view, recorded.log_index, now)
