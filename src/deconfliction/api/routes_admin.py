"""Operator routes: mechanisms, parties, members and tokens (members may read their own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from deconfliction.api.deps import Caller, Ctx, IdempotencyKey, Shards, request_key
from deconfliction.api.schemas import MechanismIn, MemberIn, PartyIn, TokenIn
from deconfliction.services import admin, tokens
from deconfliction.sharding.merge import instant, merged

router = APIRouter(prefix="/v1")


@router.get("/me", tags=["auth"])
def me(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Who this token belongs to: the operator, or a party."""
    return tokens.whoami(ctx, caller)


@router.post("/mechanisms", status_code=201, tags=["mechanisms"])
def create_mechanism(
    request: Request,
    body: MechanismIn,
    shards: Shards,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create a mechanism with its rules (operator), on the shard `shard` names (the home
    database if none; a deployment of one database has only `home`)."""
    return admin.create_mechanism(
        shards.shard(body.shard),
        caller,
        name=body.name,
        area=body.area.model_dump() if body.area else None,
        rules=body.rules.model_dump(exclude_none=True) if body.rules else None,
        request=request_key(request, idempotency_key, body),
    )


@router.get("/mechanisms", tags=["mechanisms"])
def list_mechanisms(shards: Shards, caller: Caller) -> list[dict[str, Any]]:
    """All mechanisms (operator) or the caller's memberships, oldest first."""
    return merged(
        shards.contexts.values(),
        lambda ctx: admin.list_mechanisms(ctx, caller),
        lambda view: (instant(view["created_at"]), view["id"]),
        limit=None,
    )


@router.get("/mechanisms/{mechanism_id}", tags=["mechanisms"])
def get_mechanism(mechanism_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    return admin.get_mechanism(ctx, caller, mechanism_id=mechanism_id)


@router.post("/mechanisms/{mechanism_id}/members", status_code=201, tags=["mechanisms"])
def add_member(
    request: Request,
    mechanism_id: str,
    body: MemberIn,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Make a party a member of a mechanism (operator)."""
    return admin.add_member(
        ctx,
        caller,
        mechanism_id=mechanism_id,
        party_id=body.party_id,
        request=request_key(request, idempotency_key, body),
    )


@router.get("/mechanisms/{mechanism_id}/members", tags=["mechanisms"])
def list_members(mechanism_id: str, ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """The parties on this mechanism's line, with their contacts."""
    return admin.list_members(ctx, caller, mechanism_id=mechanism_id)


@router.post("/parties", status_code=201, tags=["parties"])
def create_party(
    request: Request,
    body: PartyIn,
    ctx: Ctx,
    shards: Shards,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create a party (operator)."""
    created = admin.create_party(
        ctx,
        caller,
        name=body.name,
        code=body.code,
        contact=body.contact,
        request=request_key(request, idempotency_key, body),
    )
    shards.copy_directory()
    return created


@router.get("/parties", tags=["parties"])
def list_parties(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """Every party (operator)."""
    return admin.list_parties(ctx, caller)


@router.post("/parties/{party_id}/tokens", status_code=201, tags=["auth"])
def create_token(
    request: Request,
    party_id: str,
    body: TokenIn,
    ctx: Ctx,
    shards: Shards,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A new token for a party (operator). The token is in this response only: keep it."""
    created = tokens.create_party_token(
        ctx,
        caller,
        party_id=party_id,
        label=body.label,
        request=request_key(request, idempotency_key, body),
    )
    shards.copy_directory()
    return created


@router.get("/parties/{party_id}/tokens", tags=["auth"])
def list_tokens(party_id: str, ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """A party's tokens, without their secrets."""
    return tokens.list_tokens(ctx, caller, party_id=party_id)


@router.delete("/tokens/{token_id}", tags=["auth"])
def revoke_token(token_id: str, ctx: Ctx, shards: Shards, caller: Caller) -> dict[str, Any]:
    """Revoke a token: the operator any, a party its own."""
    revoked = tokens.revoke_token(ctx, caller, token_id=token_id)
    shards.copy_directory()
    return revoked
