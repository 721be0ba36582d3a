"""ASGI middleware: every API request is authenticated before its body is parsed.

A request to `/v1/…` is checked here — the address's failed sign-ins (slowed down), the bearer
token, the token's rate limit — from its headers alone. Refused, it is answered 401 or 429 and
its body is never read: a caller without a valid token cannot make the service buffer a body,
parse JSON, validate a schema or search for conflicts. Accepted, the caller travels in the
request's state to the route's `Caller` dependency (api/deps.py), which does what is left:
record that the party was heard from, log the operator's reads.

It runs inside the security headers and before the size limit (api/limits.py) and the strict
JSON reading (api/strict_json.py).
"""

from __future__ import annotations

from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from deconfliction.api import problems
from deconfliction.api.rate_limits import RateLimits
from deconfliction.errors import DeconflictionError, Unauthenticated
from deconfliction.services import tokens
from deconfliction.services.context import Actor, Context

API_PREFIX = "/v1/"
CALLER = "caller"  # the key of the authenticated Actor in the request's state


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, None without one."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


def authenticate(request: Request) -> Actor:
    """The caller, or Unauthenticated / RateLimited.

    An address that keeps failing to authenticate is slowed down before its token is even
    looked at, and each token spends one request of its rate limit (429 with Retry-After).
    """
    ctx: Context = request.app.state.context
    limits: RateLimits = request.app.state.rate_limits
    address = request.client.host if request.client else "unknown"
    limits.sign_ins.check(address)
    token = bearer_token(request)
    try:
        caller = tokens.authenticate(ctx, token)
    except Unauthenticated:
        if token is not None:  # a token was offered and refused: perhaps a guess
            limits.sign_ins.failed(address)
        raise
    limits.sign_ins.succeeded(address)
    limits.requests.take(caller.token_id)
    return caller


class Authenticate:
    """Authenticates `/v1/` requests before anything reads their bodies (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            caller = authenticate(request)
        except DeconflictionError as error:
            await problems.from_domain(request, error)(scope, receive, send)
            return
        scope.setdefault("state", {})[CALLER] = caller
        await self.app(scope, receive, send)
