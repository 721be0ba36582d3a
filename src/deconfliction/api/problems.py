"""The one error table: domain exceptions and request errors → RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deconfliction import errors

MEDIA_TYPE = "application/problem+json"

# code → (HTTP status, title). Every DeconflictionError subclass has a row here.
TABLE: dict[str, tuple[int, str]] = {
    errors.InvalidInput.code: (422, "Invalid input"),
    errors.Unauthenticated.code: (401, "Authentication required"),
    errors.PermissionDenied.code: (403, "Not permitted"),
    errors.NotFound.code: (404, "Not found"),
    errors.AlreadyExists.code: (409, "Already exists"),
    errors.StateConflict.code: (409, "Conflicting state"),
    errors.IdempotencyKeyReused.code: (422, "Idempotency key reused"),
    errors.PreconditionRequired.code: (428, "Precondition required"),
    errors.VersionMismatch.code: (412, "Version mismatch"),
    errors.RateLimited.code: (429, "Too many requests"),
    "malformed-request": (400, "Malformed request"),
    "payload-too-large": (413, "Payload too large"),
    "method-not-allowed": (405, "Method not allowed"),
    "not-acceptable": (406, "Not acceptable"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "http-error": (400, "Request refused"),
}
# Statuses Starlette raises by itself, and the table's row for each.
HTTP_CODES = {
    400: "malformed-request",
    401: errors.Unauthenticated.code,
    403: errors.PermissionDenied.code,
    404: errors.NotFound.code,
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


def problem(
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response for a row of the table (`status` overrides it for `http-error`)."""
    default_status, title = TABLE[code]
    status = status or default_status
    body = {
        "type": f"urn:deconfliction:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    if instance:
        body["instance"] = instance
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_http(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own refusals (unknown route, wrong method…) as problems, headers kept."""
    assert isinstance(error, StarletteHTTPException)
    code = HTTP_CODES.get(error.status_code, "http-error")
    return problem(
        code,
        str(error.detail),
        instance=request.url.path,
        status=error.status_code,
        headers=dict(error.headers or {}),
    )


def from_domain(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.DeconflictionError)
    extra: dict[str, Any] = {}
    if isinstance(error, errors.InvalidInput):
        extra["errors"] = [{"field": e.field, "reason": e.reason} for e in error.errors]
    headers = None
    if isinstance(error, errors.VersionMismatch):
        extra["current_version"] = error.current_version
    if isinstance(error, errors.RateLimited):
        headers = {"Retry-After": str(error.retry_after_s)}
    return problem(error.code, error.message, instance=request.url.path, headers=headers, **extra)


def _field_path(location: tuple[Any, ...]) -> str:
    path = ""
    parts = (
        list(location[1:])
        if location and location[0] in ("body", "query", "header", "path")
        else list(location)
    )
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("Polygon", "Circle", "Corridor") or "[" in str(part):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or str(location[0] if location else "body")


def from_validation(request: Request, error: Exception) -> JSONResponse:
    """Pydantic's structural errors, each with its field path and reason."""
    assert isinstance(error, RequestValidationError)
    items = []
    for e in error.errors():
        if e.get("type") == "json_invalid":
            return problem(
                "malformed-request",
                f"the body is not valid JSON: {e.get('ctx', {}).get('error', 'parse error')}",
                instance=request.url.path,
            )
        items.append({"field": _field_path(tuple(e.get("loc", ()))), "reason": e.get("msg", "")})
    summary = "; ".join(f"{i['field']}: {i['reason']}" for i in items[:5])
    return problem("invalid-input", summary, instance=request.url.path, errors=items)
