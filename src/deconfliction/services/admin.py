"""Operator use cases: mechanisms, parties and membership; members may read their mechanisms."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from deconfliction.domain.areas import parse_polygon
from deconfliction.domain.rules import parse_rules
from deconfliction.domain.times import format_instant
from deconfliction.errors import AlreadyExists, FieldError, InvalidInput
from deconfliction.services import ledger
from deconfliction.services.context import (
    Actor,
    Context,
    RequestKey,
    new_id,
    once,
    visible_mechanism,
)
from deconfliction.services.ports import Row
from deconfliction.services.stored_json import dumps
from deconfliction.services.text import checked_text

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
MAX_NAME = 200
MAX_CONTACT = 500


def mechanism_view(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "area": json.loads(row["area_json"]) if row["area_json"] else None,
        "rules": json.loads(row["rules_json"]),
        "created_at": row["created_at"],
    }


def party_view(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "code": row["code"], "name": row["name"], "contact": row["contact"]}


def create_mechanism(
    ctx: Context,
    actor: Actor,
    *,
    name: Any,
    area: Any = None,
    rules: Any = None,
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """A new mechanism with its rules (defaults for what is not given)."""
    actor.require_operator()
    errors: list[FieldError] = []

    def check(validate: Callable[[], Any]) -> Any:
        try:
            return validate()
        except InvalidInput as error:
            errors.extend(error.errors)
            return None

    checked_name = check(lambda: checked_text(name, "name", maximum=MAX_NAME))
    checked_area = None if area is None else check(lambda: parse_polygon(area, "area")[0])
    checked_rules = check(lambda: parse_rules(rules))
    if errors or checked_rules is None:
        raise InvalidInput(errors)
    with ctx.store.write() as tx:
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            row = {
                "id": new_id("mec"),
                "name": checked_name,
                "area_json": dumps(checked_area) if checked_area else None,
                "rules_json": dumps(checked_rules.to_json()),
                "created_at": now,
            }
            tx.insert_mechanism(row)
            view = mechanism_view(row)
            return ledger.logged(
                tx,
                ctx.keys,
                view,
                "mechanism.created",
                at=moment,
                by=actor,
                subject_id=row["id"],
                mechanism_id=row["id"],
                audience=[],
                data={k: view[k] for k in ("name", "area", "rules")},
            )

        return once(tx, actor, request, now, run)


def list_mechanisms(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """All mechanisms for the operator; a party's own memberships otherwise."""
    with ctx.store.read() as tx:
        return [mechanism_view(row) for row in tx.mechanisms(actor.party_id)]


def get_mechanism(ctx: Context, actor: Actor, *, mechanism_id: str) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return mechanism_view(visible_mechanism(tx, actor, mechanism_id))


def create_party(
    ctx: Context,
    actor: Actor,
    *,
    name: Any,
    code: Any,
    contact: Any = None,
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """A new party; its code is short, upper-case and unique (e.g. `NORTH`, `AID-1`)."""
    actor.require_operator()
    checked_name = checked_text(name, "name", maximum=MAX_NAME)
    checked_contact = checked_text(contact, "contact", maximum=MAX_CONTACT, required=False)
    if not isinstance(code, str) or not CODE.match(code):
        raise InvalidInput.one(
            "code", "must be 2–32 characters: upper-case letters, digits, '-' or '_'"
        )
    with ctx.store.write() as tx:
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            if tx.party_by_code(code) is not None:
                raise AlreadyExists(f"a party with code {code} exists already")
            row = {
                "id": new_id("pty"),
                "name": checked_name,
                "code": code,
                "contact": checked_contact,
                "created_at": now,
            }
            tx.insert_party(row)
            return ledger.logged(
                tx,
                ctx.keys,
                {**party_view(row), "created_at": now},
                "party.created",
                at=moment,
                by=actor,
                subject_id=row["id"],
                audience=[row["id"]],
                data={"party_id": row["id"], "code": code, "name": checked_name},
            )

        return once(tx, actor, request, now, run)


def list_parties(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    actor.require_operator()
    with ctx.store.read() as tx:
        return [{**party_view(row), "created_at": row["created_at"]} for row in tx.parties()]


def add_member(
    ctx: Context,
    actor: Actor,
    *,
    mechanism_id: str,
    party_id: Any,
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Make a party a member of a mechanism (adding it again changes nothing)."""
    actor.require_operator()
    with ctx.store.write() as tx:
        visible_mechanism(tx, actor, mechanism_id)
        party = tx.party(party_id) if isinstance(party_id, str) else None
        if party is None:
            raise InvalidInput.one("party_id", f"no party {party_id}")
        moment = ctx.now()
        now = format_instant(moment)

        def run() -> dict[str, Any]:
            view = {"mechanism_id": mechanism_id, "party": party_view(party)}
            if not tx.add_member(mechanism_id, party["id"], now):
                return ledger.with_earlier_receipt(
                    tx,
                    ctx.keys,
                    view,
                    "member.added",
                    party["id"],
                    moment,
                    mechanism_id=mechanism_id,
                )
            return ledger.logged(
                tx,
                ctx.keys,
                view,
                "member.added",
                at=moment,
                by=actor,
                subject_id=party["id"],
                mechanism_id=mechanism_id,
                audience=[m["id"] for m in tx.members(mechanism_id)],
                data={"mechanism_id": mechanism_id, "party_id": party["id"]},
            )

        return once(tx, actor, request, now, run, mechanism_id=mechanism_id)


def list_members(ctx: Context, actor: Actor, *, mechanism_id: str) -> list[dict[str, Any]]:
    """The parties of a mechanism, with their contacts: every member knows who is on the line."""
    with ctx.store.read() as tx:
        visible_mechanism(tx, actor, mechanism_id)
        return [
            {**party_view(row), "joined_at": row["joined_at"]} for row in tx.members(mechanism_id)
        ]
