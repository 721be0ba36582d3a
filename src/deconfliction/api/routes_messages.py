"""The line's routes: messages, the inbox, line status, escalation contacts, signing keys.

"Acknowledged" means received and read — never approved, never safe.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from deconfliction.api.deps import Caller, Ctx, IdempotencyKey, Shards, request_key
from deconfliction.api.responses import JSONResponse
from deconfliction.api.schemas import Area, Strict, View
from deconfliction.services import line_status, messages, signing
from deconfliction.sharding.merge import instant, merged

router = APIRouter(prefix="/v1")


class ReferencesIn(Strict):
    notifications: list[str] = Field(default_factory=list, max_length=50)
    conflicts: list[str] = Field(default_factory=list, max_length=50)
    incidents: list[str] = Field(default_factory=list, max_length=50)


class MessageIn(Strict):
    to: list[str] = Field(min_length=1, max_length=50, description="member party ids")
    type: Literal["notice", "query", "request-change", "answer", "incident", "text"]
    body: str = Field(min_length=1, max_length=10_000, description="plain text; line breaks kept")
    priority: Literal["routine", "urgent"] = "routine"
    references: ReferencesIn | None = Field(
        None, description="notifications, conflicts and incidents of this mechanism you can see"
    )
    attachment: Area | None = Field(None, description="an area, validated like a notification's")
    in_reply_to: str | None = Field(None, max_length=100, description="the message answered")
    ack_deadline: str | None = Field(
        None,
        max_length=40,
        description="RFC 3339; default from the mechanism's rules (urgent: shorter)",
    )
    signature: str | None = Field(
        None,
        max_length=200,
        description="base64 Ed25519 signature over the RFC 8785 canonical JSON of mechanism_id, "
        "to (sorted), type, priority, body, references (sorted ids), attachment, in_reply_to",
    )


class EscalationIn(Strict):
    token_id: str | None = Field(None, max_length=100, description="e.g. a duty officer's token")
    webhook_id: str | None = Field(None, max_length=100, description="one of your webhooks")


class KeyIn(Strict):
    public_key: str = Field(max_length=100, description="base64 of a 32-byte Ed25519 public key")


@router.post("/mechanisms/{mechanism_id}/messages", status_code=201, tags=["line"])
def send_message(
    request: Request,
    mechanism_id: str,
    body: MessageIn,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Send a message to member parties; each must acknowledge it (received and read) in time."""
    view = messages.send(
        ctx,
        caller,
        mechanism_id=mechanism_id,
        data=body.model_dump(exclude_unset=True),
        request=request_key(request, idempotency_key, body),
    )
    return JSONResponse(view, status_code=201)


@router.get("/messages", tags=["line"])
def list_messages(
    shards: Shards,
    caller: Caller,
    folder: Literal["inbox", "sent", "all"] = "all",
    mechanism_id: Annotated[str | None, Query(max_length=100)] = None,
    thread_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> list[dict[str, Any]]:
    """Your messages, newest first; the sender sees each recipient's status."""
    if mechanism_id is not None:
        places = [shards.of_mechanism(mechanism_id)]
    elif thread_id is not None:
        places = [shards.of_subject("message_id", thread_id)]
    else:
        places = list(shards.contexts.values())
    return merged(
        places,
        lambda ctx: messages.list_messages(
            ctx, caller, folder=folder, mechanism_id=mechanism_id, thread_id=thread_id, limit=limit
        ),
        lambda view: (-instant(view["created_at"]).timestamp(), view["id"]),
        limit,
    )


@router.get("/messages/{message_id}", tags=["line"])
def get_message(message_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """One message. Fetching it counts as its delivery to you."""
    return messages.get_message(ctx, caller, message_id=message_id)


@router.post("/messages/{message_id}/acknowledge", tags=["line"], response_model=View)
def acknowledge_message(
    request: Request,
    message_id: str,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Acknowledge a message: received and read (never approval)."""
    return JSONResponse(
        messages.acknowledge_message(
            ctx, caller, message_id=message_id, request=request_key(request, idempotency_key)
        )
    )


@router.get("/inbox", tags=["line"])
def inbox(
    shards: Shards,
    caller: Caller,
    state: Literal["pending", "overdue", "all"] = "pending",
    mechanism_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> list[dict[str, Any]]:
    """What your party must acknowledge — messages, conflicts, notifications — by deadline."""
    places = (
        list(shards.contexts.values())
        if mechanism_id is None
        else [shards.of_mechanism(mechanism_id)]
    )
    return merged(
        places,
        lambda ctx: line_status.list_inbox(
            ctx, caller, mechanism_id=mechanism_id, state=state, limit=limit
        ),
        lambda view: (instant(view["deadline"]), view["party_id"], view["subject_id"]),
        limit,
    )


@router.get("/mechanisms/{mechanism_id}/status", tags=["line"])
def line_state(mechanism_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Each member's last contact, silence, overdue items and webhook reachability."""
    return line_status.status(ctx, caller, mechanism_id=mechanism_id)


@router.get("/mechanisms/{mechanism_id}/escalation", tags=["line"])
def get_escalation(mechanism_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Who is alerted when your party leaves something unacknowledged past its deadline."""
    return line_status.escalation_contact(ctx, caller, mechanism_id=mechanism_id)


@router.put("/mechanisms/{mechanism_id}/escalation", tags=["line"])
def put_escalation(
    mechanism_id: str, body: EscalationIn, ctx: Ctx, caller: Caller
) -> dict[str, Any]:
    """Set your party's escalation contact: another token of yours and/or a webhook."""
    return line_status.set_escalation_contact(
        ctx, caller, mechanism_id=mechanism_id, token_id=body.token_id, webhook_id=body.webhook_id
    )


@router.put("/keys/me", tags=["line"])
def put_key(body: KeyIn, ctx: Ctx, shards: Shards, caller: Caller) -> dict[str, Any]:
    """Register (or replace) your party's Ed25519 public key for signed messages."""
    registered = signing.register_key(ctx, caller, public_key=body.public_key)
    shards.copy_directory()
    return registered


@router.get("/parties/{party_id}/key", tags=["line"])
def get_key(party_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """A party's public key, to verify its signed messages offline."""
    return signing.get_key(ctx, caller, party_id=party_id)
