"""Incident routes: report, read, list, review, close, and the verifiable report bundle.

An incident is seen only by the parties involved and the operator; to anyone else it is 404,
exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from deconfliction.api.deps import Caller, Ctx, IdempotencyKey, request_key
from deconfliction.api.responses import JSONResponse
from deconfliction.api.schemas import Area, Strict
from deconfliction.services import incident_report, incidents

router = APIRouter(prefix="/v1")

Ids = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=100)]


class IncidentIn(Strict):
    kind: Literal[
        "strike", "near-miss", "airspace-infringement", "interference", "convoy-incident", "other"
    ]
    occurred_at: str = Field(
        max_length=40,
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 with an offset; not in the future, at most 366 days ago",
    )
    place: Area = Field(description="where it happened, validated like a notification's area")
    description: str = Field(
        min_length=1, max_length=10_000, description="what happened; plain text, line breaks kept"
    )
    notification_ids: Ids = Field(
        default_factory=list, description="notifications of this mechanism you can see"
    )
    conflict_ids: Ids = Field(default_factory=list, description="conflicts of your party")
    message_ids: Ids = Field(default_factory=list, description="messages you sent or received")


class CloseIn(Strict):
    finding: str = Field(
        min_length=1, max_length=10_000, description="the outcome of the review; plain text"
    )


@router.post("/mechanisms/{mechanism_id}/incidents", status_code=201, tags=["incidents"])
def report_incident(
    request: Request,
    mechanism_id: str,
    body: IncidentIn,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Report an incident; the other parties involved get a system message to acknowledge."""
    view = incidents.report(
        ctx,
        caller,
        mechanism_id=mechanism_id,
        data=body.model_dump(),
        request=request_key(request, idempotency_key, body),
    )
    return JSONResponse(view, status_code=201)


@router.get("/mechanisms/{mechanism_id}/incidents", tags=["incidents"])
def list_incidents(
    mechanism_id: str,
    ctx: Ctx,
    caller: Caller,
    state: Literal["reported", "under_review", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> list[dict[str, Any]]:
    """The incidents your party is involved in (all for the operator), newest first."""
    return incidents.list_incidents(
        ctx, caller, mechanism_id=mechanism_id, state=state, limit=limit
    )


@router.get("/incidents/{incident_id}", tags=["incidents"])
def get_incident(incident_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """One incident, for the parties involved and the operator."""
    return incidents.get_incident(ctx, caller, incident_id=incident_id)


@router.post("/incidents/{incident_id}/review", tags=["incidents"])
def review_incident(
    request: Request,
    incident_id: str,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Take a reported incident under review (the operator or any party involved)."""
    return incidents.review(
        ctx, caller, incident_id=incident_id, request=request_key(request, idempotency_key)
    )


@router.post("/incidents/{incident_id}/close", tags=["incidents"])
def close_incident(
    request: Request,
    incident_id: str,
    body: CloseIn,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Close an incident under review with a finding (the operator or the reporting party)."""
    return incidents.close(
        ctx,
        caller,
        incident_id=incident_id,
        finding=body.finding,
        request=request_key(request, idempotency_key, body),
    )


@router.get("/incidents/{incident_id}/report", tags=["incidents"])
def incident_report_bundle(incident_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The incident and every log entry you may see about it and what it links, each with a
    receipt against one signed tree head: a `deconfliction-receipts/v1` file to verify offline
    with `deconfliction receipt verify FILE --key KEY`."""
    return incident_report.bundle(ctx, caller, incident_id=incident_id)
