"""Per-token request rate limits, and a slow-down for an address that keeps failing to sign in.

Both live in the API process (a token's budget is per process; several processes each give it
theirs) and are checked on the event loop before any work is done for the request. Their state
is bounded: an entry idle long enough to be back at its starting state is forgotten.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from deconfliction.errors import RateLimited

MAX_TRACKED = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """A token bucket per key: `burst` requests at once, refilled at `rate` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> None:
        """Spend one request of `key`'s budget; RateLimited with the wait if there is none."""
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self.buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / self.rate
            raise RateLimited(
                f"this token may make {self.rate:g} requests a second "
                f"(bursts of {self.burst}); retry in {math.ceil(wait)} s",
                retry_after_s=math.ceil(wait),
            )
        bucket.tokens -= 1

    def _make_room(self, now: float) -> None:
        if len(self.buckets) < MAX_TRACKED:
            return
        full = self.burst / self.rate
        self.buckets = {k: b for k, b in self.buckets.items() if now - b.at < full}


@dataclass
class _Failures:
    count: int
    last: float


class FailedSignIns:
    """After `free` failed authentications from one address, each further attempt from it must
    wait twice as long as the one before (from 1 s, at most `max_wait_s`); a success clears it,
    and so does a pause of twice `max_wait_s`."""

    def __init__(
        self, free: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.free = free
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.failures: dict[str, _Failures] = {}

    def _wait_after(self, count: int) -> float:
        return 0.0 if count < self.free else min(self.max_wait_s, 2.0 ** (count - self.free))

    def check(self, address: str) -> None:
        """RateLimited if the address must still wait before trying again."""
        failures = self.failures.get(address)
        if failures is None:
            return
        left = failures.last + self._wait_after(failures.count) - self.clock()
        if left > 0:
            raise RateLimited(
                f"{failures.count} failed sign-ins from this address; retry in {math.ceil(left)} s",
                retry_after_s=math.ceil(left),
            )

    def failed(self, address: str) -> None:
        now = self.clock()
        failures = self.failures.get(address)
        if failures is None or now - failures.last >= self._idle_s:
            if len(self.failures) >= MAX_TRACKED:
                self._forget_idle(now)
            failures = self.failures[address] = _Failures(0, now)
        failures.count += 1
        failures.last = now

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)

    @property
    def _idle_s(self) -> float:
        """Failures this long ago are forgotten: the address starts afresh."""
        return 2 * self.max_wait_s

    def _forget_idle(self, now: float) -> None:
        self.failures = {a: f for a, f in self.failures.items() if now - f.last < self._idle_s}


@dataclass
class RateLimits:
    """The API's limits, kept on the app's state."""

    requests: TokenBuckets
    sign_ins: FailedSignIns
