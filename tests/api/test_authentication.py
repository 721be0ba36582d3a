"""Authentication comes before the body (api/authentication.py): a caller without a valid token
is refused from its headers alone — 401, or 429 once its token's budget is spent — and the body
it sent is never read. The strict reading's 400 (here a duplicated key, invalid UTF-8 or nesting
100,000 deep) and the size limit's 413 are what an authenticated caller gets for the same body,
so a 401 or 429 for it shows that nothing read the body first."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deconfliction.api.app import create_app
from deconfliction.config import Settings
from deconfliction.services.context import Context

from .conftest import PROBLEM, CheckedClient, Database, World, bearer

JSON = {"Content-Type": "application/json"}
BAD_BODIES = {
    "duplicated key": b'{"kind": "flight", "kind": "flight"}',
    "not UTF-8": b'{"title": "\xff"}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
}


def _path(world: World) -> str:
    return f"/v1/mechanisms/{world.mechanism_id}/notifications"


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code


@pytest.mark.parametrize("name", BAD_BODIES)
def test_a_body_is_read_strictly_for_a_caller_with_a_token(world: World, name: str) -> None:
    response = world.client.post(
        _path(world), content=BAD_BODIES[name], headers={**JSON, **world.north.headers}
    )
    _problem(response, 400, "malformed-request")


@pytest.mark.parametrize("name", BAD_BODIES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token-of-ours", "Basic bm9ydGg6c2VjcmV0", "Bearer"],
    ids=["none", "unknown token", "another scheme", "no token"],
)
def test_without_a_valid_token_the_body_is_never_read(
    world: World, name: str, authorization: str | None
) -> None:
    headers = dict(JSON)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = world.client.post(_path(world), content=BAD_BODIES[name], headers=headers)
    _problem(response, 401, "unauthenticated")


def _over_the_limit() -> Iterator[bytes]:
    """A body streamed without a declared length, over the 1 MiB limit."""
    for _ in range(20):
        yield b" " * 65_536


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "streamed"])
def test_a_body_over_the_size_limit_is_not_even_read_without_a_token(
    world: World, streamed: bool
) -> None:
    """With a token the size limit answers 413; without one the body is never read, so the
    answer is 401 whatever its size."""
    for headers, status, code in [
        (world.north.headers, 413, "payload-too-large"),
        ({}, 401, "unauthenticated"),
    ]:
        content = _over_the_limit() if streamed else b" " * (1_048_576 + 1)
        response = world.client.post(_path(world), content=content, headers={**JSON, **headers})
        _problem(response, status, code)


def test_a_revoked_token_is_refused_before_its_body_is_read(world: World) -> None:
    token, token_id = world.new_token(world.north.id)
    revoked = world.client.delete(f"/v1/tokens/{token_id}", headers=world.operator)
    assert revoked.status_code == 200, revoked.text
    response = world.client.post(
        _path(world), content=BAD_BODIES["duplicated key"], headers={**JSON, **bearer(token)}
    )
    _problem(response, 401, "unauthenticated")


def test_every_api_path_asks_for_a_token_first_even_one_that_does_not_exist(
    world: World,
) -> None:
    """An unauthenticated caller cannot tell which paths exist; health checks stay open."""
    for method, path in [
        ("GET", "/v1/no-such-thing"),
        ("DELETE", f"/v1/mechanisms/{world.mechanism_id}"),
        ("GET", "/v1/me"),
    ]:
        _problem(world.client.request(method, path), 401, "unauthenticated")
    assert world.client.get("/v1/no-such-thing", headers=world.north.headers).status_code == 404
    assert world.client.get("/healthz").status_code == 200


@pytest.fixture
def limited(ctx: Context, database: Database) -> Iterator[CheckedClient]:
    settings = Settings(db=database.url, rate_limit_per_s=0.01, rate_limit_burst=2)
    with CheckedClient(create_app(ctx, settings)) as client:
        yield client


def test_a_token_over_its_budget_is_refused_before_its_body_is_read(
    limited: CheckedClient, operator_token: str
) -> None:
    for _ in range(2):
        assert limited.get("/v1/me", headers=bearer(operator_token)).status_code == 200
    response = limited.post(
        "/v1/parties", content=BAD_BODIES["not UTF-8"], headers={**JSON, **bearer(operator_token)}
    )
    _problem(response, 429, "rate-limited")
