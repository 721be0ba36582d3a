"""Party routes: notifications and conflicts, as JSON or (Accept: application/geo+json) GeoJSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from deconfliction.api.deps import Caller, Ctx, IdempotencyKey, Shards, request_key
from deconfliction.api.responses import JSONResponse
from deconfliction.api.schemas import CancelIn, NotificationIn, View
from deconfliction.errors import InvalidInput
from deconfliction.interop import geojson
from deconfliction.services import conflicts, notifications
from deconfliction.sharding.merge import instant, merged

router = APIRouter(prefix="/v1")

GEOJSON_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {geojson.MEDIA_TYPE: {}},
        "description": "JSON, or a GeoJSON "
        "FeatureCollection when the request says Accept: application/geo+json",
    }
}


def _wants_geojson(request: Request) -> bool:
    return geojson.MEDIA_TYPE in request.headers.get("accept", "")


def _respond(
    request: Request,
    data: Any,
    features: Callable[[Any], list[dict[str, Any]]],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if _wants_geojson(request):
        items = data if isinstance(data, list) else [data]
        collection = geojson.feature_collection([f for item in items for f in features(item)])
        return JSONResponse(
            collection, status_code=status_code, media_type=geojson.MEDIA_TYPE, headers=headers
        )
    return JSONResponse(data, status_code=status_code, headers=headers)


def _etag(view: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{view["version"]}"'}


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput.one("If-Match", 'must be the notification\'s version, e.g. "3"')
    return int(text)


@router.post("/mechanisms/{mechanism_id}/notifications", status_code=201, tags=["notifications"])
def notify(
    request: Request,
    mechanism_id: str,
    body: NotificationIn,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Notify planned activity; the response lists the conflicts found, as this party may see
    them. A notification later than the minimum notice is accepted and flagged `late`."""
    view = notifications.notify(
        ctx,
        caller,
        mechanism_id=mechanism_id,
        body=body.model_dump(exclude_unset=True),
        request=request_key(request, idempotency_key, body),
    )
    return _respond(request, view, geojson.notification_features, 201, _etag(view))


@router.get(
    "/mechanisms/{mechanism_id}/notifications", tags=["notifications"], responses=GEOJSON_RESPONSES
)
def list_notifications(
    request: Request,
    mechanism_id: str,
    ctx: Ctx,
    caller: Caller,
    state: Annotated[str | None, Query(description="notified, active, ended or cancelled")] = None,
    start: Annotated[str | None, Query(description="only those still running after this")] = None,
    end: Annotated[str | None, Query(description="only those starting before this")] = None,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees", max_length=200)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Own notifications whole; others' as far as the mechanism's disclosure policy allows."""
    box = None
    if bbox is not None:
        try:
            box = [float(part) for part in bbox.split(",")]
        except ValueError:
            raise InvalidInput.one("bbox", "must be four numbers: west,south,east,north") from None
    views = notifications.list_notifications(
        ctx,
        caller,
        mechanism_id=mechanism_id,
        state=state,
        start=start,
        end=end,
        bbox=box,
        limit=limit,
    )
    return _respond(request, views, geojson.notification_features)


@router.get("/notifications/{notification_id}", tags=["notifications"], responses=GEOJSON_RESPONSES)
def get_notification(request: Request, notification_id: str, ctx: Ctx, caller: Caller) -> Response:
    """A notification: whole for its owner, otherwise only the overlap with your own."""
    view = notifications.get_notification(ctx, caller, notification_id=notification_id)
    return _respond(request, view, geojson.notification_features, headers=_etag(view))


@router.put("/notifications/{notification_id}", tags=["notifications"])
def revise(
    request: Request,
    notification_id: str,
    body: NotificationIn,
    ctx: Ctx,
    caller: Caller,
    if_match: Annotated[
        str | None, Header(description="the version being revised", max_length=20)
    ] = None,
) -> Response:
    """Revise: replaces kind, title, reference and volumes; needs If-Match with the version."""
    view = notifications.revise(
        ctx,
        caller,
        notification_id=notification_id,
        body=body.model_dump(exclude_unset=True),
        expected_version=_if_match(if_match),
    )
    return _respond(request, view, geojson.notification_features, headers=_etag(view))


@router.post("/notifications/{notification_id}/cancel", tags=["notifications"], response_model=View)
def cancel(
    request: Request,
    notification_id: str,
    ctx: Ctx,
    caller: Caller,
    body: CancelIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Cancel one of your notifications; its conflicts are resolved."""
    return JSONResponse(
        notifications.cancel(
            ctx,
            caller,
            notification_id=notification_id,
            reason=body.reason if body else None,
            request=request_key(request, idempotency_key, body),
        )
    )


@router.get("/notifications/{notification_id}/revisions", tags=["notifications"])
def revisions(notification_id: str, ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """Every version of a notification you may see whole."""
    return notifications.revisions(ctx, caller, notification_id=notification_id)


@router.post(
    "/notifications/{notification_id}/acknowledge", tags=["notifications"], response_model=View
)
def acknowledge_notification(
    request: Request,
    notification_id: str,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Acknowledge another party's notification: received and read (never approval)."""
    return JSONResponse(
        notifications.acknowledge_notification(
            ctx,
            caller,
            notification_id=notification_id,
            request=request_key(request, idempotency_key),
        )
    )


@router.get("/conflicts", tags=["conflicts"], responses=GEOJSON_RESPONSES)
def list_conflicts(
    request: Request,
    shards: Shards,
    caller: Caller,
    mechanism: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str | None, Query(description="open or resolved")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Conflicts that involve your party, each with the overlap you may see, oldest first."""
    views = merged(
        shards.contexts.values() if mechanism is None else [shards.of_mechanism(mechanism)],
        lambda ctx: conflicts.list_conflicts(
            ctx, caller, mechanism_id=mechanism, state=state, limit=limit
        ),
        lambda view: (instant(view["detected_at"]), view["id"]),
        limit,
    )
    return _respond(request, views, geojson.conflict_features)


@router.get("/conflicts/{conflict_id}", tags=["conflicts"], responses=GEOJSON_RESPONSES)
def get_conflict(request: Request, conflict_id: str, ctx: Ctx, caller: Caller) -> Response:
    view = conflicts.get_conflict(ctx, caller, conflict_id=conflict_id)
    return _respond(request, view, geojson.conflict_features)


@router.post("/conflicts/{conflict_id}/acknowledge", tags=["conflicts"], response_model=View)
def acknowledge_conflict(
    request: Request,
    conflict_id: str,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Acknowledge a conflict's current revision: received and read (never approval)."""
    return JSONResponse(
        conflicts.acknowledge_conflict(
            ctx, caller, conflict_id=conflict_id, request=request_key(request, idempotency_key)
        )
    )
