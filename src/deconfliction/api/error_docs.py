"""The OpenAPI document names every problem an operation can answer with, and its shape.

Errors come from one table (problems.py) as RFC 9457 `application/problem+json`; this module
declares them on each `/v1` operation so that a client generated from `/openapi.json` — or a
schema fuzzer — knows every status it may get, instead of FastAPI's default 422-only document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from deconfliction.api.problems import MEDIA_TYPE


class FieldProblem(BaseModel):
    """One bad field of a request and why."""

    field: str = Field(description="path of the field, e.g. `volumes[0].altitude.upper`")
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="`urn:deconfliction:problem:<code>`")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine-readable code, the row of the error table")
    instance: str | None = Field(None, description="the request path")
    errors: list[FieldProblem] | None = Field(None, description="each bad field (`invalid-input`)")
    current_version: int | None = Field(
        None, description="the notification's version now (`version-mismatch`)"
    )


# Every authenticated operation: a malformed request, no or a bad token, a token that may not do
# this, an id it may not see (indistinguishable from a missing one), invalid input, a rate limit.
EVERY_OPERATION = {
    400: "the request is malformed (e.g. its body is not JSON)",
    401: "no token, or a token that is unknown or revoked",
    403: "the token may not do this (e.g. a party token on an operator route)",
    404: "no such item visible to this token",
    422: "invalid input: each bad field is named in `errors`",
    429: "too many requests from this token, or failed sign-ins from this address; "
    "`Retry-After` says how many seconds to wait",
}
# What changes something may also meet.
WRITES = {
    409: "the item exists already, or its state does not allow this change",
    413: "the body is larger than the service accepts",
}
# An operation with an `If-Match` header (revising a notification) is conditional.
CONDITIONAL = {
    412: "`If-Match` names a version that is no longer current (`current_version` tells it)",
    428: "`If-Match` is required",
}


def statuses(method: str, operation: dict[str, Any]) -> dict[int, str]:
    """The problem statuses an operation declares, by its method and parameters."""
    declared = dict(EVERY_OPERATION)
    if method != "get":
        declared.update(WRITES)
    headers = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
    if "if-match" in headers:
        declared.update(CONDITIONAL)
    return declared


def add_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the problem responses on every `/v1` operation (FastAPI's own
    422 document, which the error table never sends, replaced) and `Problem` in its schemas."""
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, description in statuses(method, operation).items():
                responses[str(status)] = {"description": description, "content": content}
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["FieldProblem"] = problem.pop("$defs")["FieldProblem"]
    schemas["Problem"] = problem
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema


def document(app: FastAPI) -> None:
    """Make the app's OpenAPI document declare its problem responses."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
