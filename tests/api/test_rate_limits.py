"""Rate limits: a token over its budget gets 429 with Retry-After and the problem says why; an
address that keeps offering bad tokens is slowed down, twice as long each time, until it stops
or signs in. The limiters' clock is set by the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deconfliction.api.app import create_app
from deconfliction.api.rate_limits import FailedSignIns, TokenBuckets
from deconfliction.config import Settings
from deconfliction.errors import RateLimited
from deconfliction.services.context import Context

from .conftest import PROBLEM, CheckedClient, Database, bearer


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def limited(ctx: Context, database: Database, ticks: Ticks) -> Iterator[CheckedClient]:
    settings = Settings(
        db=database.url,
        rate_limit_per_s=2,
        rate_limit_burst=3,
        sign_in_free_failures=3,
        sign_in_max_wait_s=8,
    )
    app = create_app(ctx, settings)
    app.state.rate_limits.requests.clock = ticks
    app.state.rate_limits.sign_ins.clock = ticks
    with CheckedClient(app) as client:
        yield client


def _refused(response: Any, retry_after: int) -> str:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert body["code"] == "rate-limited" and body["status"] == 429
    detail: str = body["detail"]
    return detail


def test_a_token_over_its_budget_waits_and_others_do_not(
    limited: CheckedClient, operator_token: str, ticks: Ticks
) -> None:
    other = limited.post(
        "/v1/parties",
        json={"name": "North", "code": "NORTH", "contact": "desk"},
        headers=bearer(operator_token),
    )
    assert other.status_code == 201
    party_token = limited.post(
        f"/v1/parties/{other.json()['id']}/tokens",
        json={"label": "desk"},
        headers=bearer(operator_token),
    ).json()["token"]
    ticks.now += 10  # the operator's bucket is full again
    for _ in range(3):
        assert limited.get("/v1/me", headers=bearer(operator_token)).status_code == 200
    detail = _refused(limited.get("/v1/me", headers=bearer(operator_token)), retry_after=1)
    assert "2 requests a second" in detail and "bursts of 3" in detail
    assert limited.get("/v1/me", headers=bearer(party_token)).status_code == 200
    ticks.now += 0.5  # one request's worth refilled
    assert limited.get("/v1/me", headers=bearer(operator_token)).status_code == 200
    _refused(limited.get("/v1/me", headers=bearer(operator_token)), retry_after=1)


def test_bad_tokens_from_one_address_are_slowed_down_doubling(
    limited: CheckedClient, operator_token: str, ticks: Ticks
) -> None:
    bad = bearer("dcf_guessed-token")
    for _ in range(3):
        assert limited.get("/v1/me", headers=bad).status_code == 401
    # The address must now wait 1 s, whatever token it offers, even a valid one.
    _refused(limited.get("/v1/me", headers=bearer(operator_token)), retry_after=1)
    for wait in (1, 2, 4, 8, 8):
        ticks.now += wait
        assert limited.get("/v1/me", headers=bad).status_code == 401
        detail = _refused(limited.get("/v1/me", headers=bad), retry_after=min(2 * wait, 8))
        assert "failed sign-ins from this address" in detail
    ticks.now += 8
    assert limited.get("/v1/me", headers=bearer(operator_token)).status_code == 200
    # A success clears the address: it has its free attempts again.
    for _ in range(3):
        assert limited.get("/v1/me", headers=bad).status_code == 401
    _refused(limited.get("/v1/me", headers=bad), retry_after=1)


def test_no_token_at_all_is_not_a_guess(limited: CheckedClient, operator_token: str) -> None:
    for _ in range(10):
        assert limited.get("/v1/me").status_code == 401
    assert limited.get("/v1/me", headers=bearer(operator_token)).status_code == 200


def test_a_long_pause_forgets_failures(ticks: Ticks) -> None:
    sign_ins = FailedSignIns(free=2, max_wait_s=5, clock=ticks)
    for _ in range(2):
        sign_ins.failed("198.51.100.7")
    with pytest.raises(RateLimited, match="retry in 1 s"):
        sign_ins.check("198.51.100.7")
    ticks.now += 10  # twice the longest wait
    sign_ins.failed("198.51.100.7")
    sign_ins.check("198.51.100.7")  # one failure only: no wait


def test_the_tables_stay_bounded(ticks: Ticks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("deconfliction.api.rate_limits.MAX_TRACKED", 10)
    buckets = TokenBuckets(rate=1, burst=5, clock=ticks)
    for n in range(10):
        buckets.take(f"tok_{n}")
    ticks.now += 5  # every bucket is full again: nothing is lost by forgetting them
    buckets.take("tok_new")
    assert list(buckets.buckets) == ["tok_new"]
