"""Webhook routes: a party's endpoints, their signing secret (shown once) and delivery log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from deconfliction.api.deps import Caller, Ctx, IdempotencyKey, Shards, request_key
from deconfliction.api.schemas import Strict
from deconfliction.config import Settings
from deconfliction.services import webhooks
from deconfliction.sharding.merge import instant

router = APIRouter(prefix="/v1")


class WebhookIn(Strict):
    url: str = Field(
        description="where events are POSTed: http or https, at most 2,000 characters, "
        "no user name or password; private and loopback addresses are refused"
    )
    purpose: Literal["events", "escalation"] = Field(
        default="events",
        description="`events`: every event the party may see; `escalation`: only what an "
        "escalation contact names it for",
    )


def _settings(request: Request) -> Settings:
    settings: Settings = getattr(request.app.state, "settings", None) or Settings()
    return settings


@router.post("/webhooks", status_code=201, tags=["webhooks"])
def register_webhook(
    request: Request,
    body: WebhookIn,
    ctx: Ctx,
    shards: Shards,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Register an endpoint (parties only). The answer carries the signing `secret`, shown this
    once: each delivery is signed with it by the Standard Webhooks scheme."""
    registered = webhooks.register(
        ctx,
        caller,
        url=body.url,
        purpose=body.purpose,
        allow_private=_settings(request).webhook_allow_private,
        request=request_key(request, idempotency_key, body),
    )
    shards.copy_directory()
    return registered


@router.get("/webhooks", tags=["webhooks"])
def list_webhooks(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """Your party's endpoints (every party's for the operator), without their secrets."""
    return webhooks.list_webhooks(ctx, caller)


@router.get("/webhooks/{webhook_id}", tags=["webhooks"])
def get_webhook(webhook_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """An endpoint, with how many events wait for it and its last success and failure."""
    return webhooks.get_webhook(ctx, caller, webhook_id=webhook_id)


@router.delete("/webhooks/{webhook_id}", tags=["webhooks"])
def delete_webhook(webhook_id: str, ctx: Ctx, shards: Shards, caller: Caller) -> dict[str, Any]:
    """Stop sending to an endpoint; events still waiting for it are marked failed."""
    deleted = webhooks.delete_webhook(ctx, caller, webhook_id=webhook_id)
    shards.copy_directory()
    return deleted


@router.get("/webhooks/{webhook_id}/deliveries", tags=["webhooks"])
def delivery_log(
    webhook_id: str,
    shards: Shards,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The delivery log: the latest events with their state (pending, delivered, failed) and
    the latest attempts with the receiver's HTTP status or the error (over several databases,
    every shard's, newest first)."""
    logs = [
        webhooks.delivery_log(ctx, caller, webhook_id=webhook_id, limit=limit)
        for ctx in shards.contexts.values()
    ]
    if len(logs) == 1:
        return logs[0]
    events = [view for log in logs for view in log["events"]]
    attempts = [view for log in logs for view in log["attempts"]]
    return {
        "webhook_id": webhook_id,
        "events": sorted(events, key=lambda v: instant(v["created_at"]), reverse=True)[:limit],
        "attempts": sorted(attempts, key=lambda v: instant(v["attempted_at"]), reverse=True)[
            :limit
        ],
    }
