"""Settings from the environment, each with a default and a description.

`deconfliction settings` prints them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields

DEFAULT_DB = "sqlite:///deconfliction.db"


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Each is read from the environment variable named in ENV_NAMES."""

    db: str = DEFAULT_DB
    shards: str | None = None
    operator_token: str | None = None
    signing_key_file: str | None = None
    max_body_bytes: int = 1_048_576
    request_threads: int | None = None  # None: the store's own (SqliteStore, PostgresStore)
    scheduler_interval_s: float = 5.0
    webhook_retry_base_s: float = 5.0
    webhook_retry_max_s: float = 900.0
    webhook_give_up_h: float = 72.0
    webhook_allow_private: bool = False
    log_head_interval_s: float = 60.0
    rate_limit_per_s: float = 100.0
    rate_limit_burst: int = 300
    sign_in_free_failures: int = 10
    sign_in_max_wait_s: float = 60.0
    console_tile_url: str = ""
    opentelemetry: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for item in fields(cls):
            name = ENV_NAMES[item.name]
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            if item.name in RANGES:
                low, high = RANGES[item.name]
                try:
                    number = float(raw) if item.type == "float" else int(raw)
                except ValueError:
                    number = None
                if number is None or not low <= number <= high:
                    kind = "a number" if item.type == "float" else "a whole number"
                    raise ValueError(f"{name} must be {kind}, {low:g}–{high:g}")
                values[item.name] = number
            elif item.type == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(f"{name} must be true or false")
                values[item.name] = raw.lower() in ("true", "1")
            elif item.name == "console_tile_url":
                values[item.name] = tile_url(raw, name)
            else:
                values[item.name] = raw
        return cls(**values)  # type: ignore[arg-type]


TILE_URL = re.compile(r"(https?://(?:\{s\}\.)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?)/\S*")


def tile_url(raw: str, name: str) -> str:
    """A map tile URL template: http(s), a plain host (may start with {s}.), {z}, {x} and {y}.

    The host goes into the console's Content-Security-Policy, so it admits no other characters.
    """
    if not TILE_URL.fullmatch(raw):
        raise ValueError(
            f"{name} must be an http(s) URL with a plain host name, "
            "e.g. https://tile.example.org/{z}/{x}/{y}.png"
        )
    if any(part not in raw for part in ("{z}", "{x}", "{y}")):
        raise ValueError(f"{name} must contain the {{z}}, {{x}} and {{y}} placeholders")
    return raw


def tile_origin(url: str) -> str:
    """The CSP source of a valid tile URL: its origin, with {s} as the wildcard '*'."""
    match = TILE_URL.fullmatch(url)
    assert match is not None
    return match.group(1).replace("{s}", "*")


RANGES: dict[str, tuple[float, float]] = {
    "max_body_bytes": (1_024, 64 * 1_048_576),
    "request_threads": (1, 256),
    "scheduler_interval_s": (0.01, 3_600),
    "webhook_retry_base_s": (0.01, 3_600),
    "webhook_retry_max_s": (0.01, 86_400),
    "webhook_give_up_h": (24, 720),
    "log_head_interval_s": (0.01, 60),
    "rate_limit_per_s": (0.01, 100_000),
    "rate_limit_burst": (1, 1_000_000),
    "sign_in_free_failures": (1, 1_000),
    "sign_in_max_wait_s": (1, 3_600),
}

ENV_NAMES = {
    "db": "DECONFLICTION_DB",
    "shards": "DECONFLICTION_SHARDS",
    "operator_token": "DECONFLICTION_OPERATOR_TOKEN",
    "signing_key_file": "DECONFLICTION_SIGNING_KEY_FILE",
    "max_body_bytes": "DECONFLICTION_MAX_BODY_BYTES",
    "request_threads": "DECONFLICTION_REQUEST_THREADS",
    "scheduler_interval_s": "DECONFLICTION_SCHEDULER_INTERVAL_S",
    "webhook_retry_base_s": "DECONFLICTION_WEBHOOK_RETRY_BASE_S",
    "webhook_retry_max_s": "DECONFLICTION_WEBHOOK_RETRY_MAX_S",
    "webhook_give_up_h": "DECONFLICTION_WEBHOOK_GIVE_UP_H",
    "webhook_allow_private": "DECONFLICTION_WEBHOOK_ALLOW_PRIVATE",
    "log_head_interval_s": "DECONFLICTION_LOG_HEAD_INTERVAL_S",
    "rate_limit_per_s": "DECONFLICTION_RATE_LIMIT_PER_S",
    "rate_limit_burst": "DECONFLICTION_RATE_LIMIT_BURST",
    "sign_in_free_failures": "DECONFLICTION_SIGN_IN_FREE_FAILURES",
    "sign_in_max_wait_s": "DECONFLICTION_SIGN_IN_MAX_WAIT_S",
    "console_tile_url": "DECONFLICTION_CONSOLE_TILE_URL",
    "opentelemetry": "DECONFLICTION_OPENTELEMETRY",
}

DESCRIPTIONS = {
    "db": "database URL; sqlite:///path (the embedded default, a file in the working directory) "
    "or postgresql://user@host/database (PostgreSQL with PostGIS)",
    "shards": "a deployment over several databases: the TOML file of its routing table (its "
    "shards' database URLs, the home shard first, and where mechanisms are placed; see "
    "docs/deployment.md); replaces DECONFLICTION_DB",
    "operator_token": "use this operator token instead of generating one (automated deployments)",
    "max_body_bytes": "largest request body accepted; larger ones get 413",
    "request_threads": "threads serving the blocking part of requests; unset: 16 on SQLite "
    "(its writer's group commit fills with them), 4 on PostgreSQL",
    "scheduler_interval_s": "how often the server looks for missed deadlines and silent parties",
    "webhook_retry_base_s": "first delay before a failed webhook delivery is retried (doubles)",
    "webhook_retry_max_s": "longest delay between two retries of a webhook delivery",
    "webhook_give_up_h": "a webhook delivery still failing after this many hours is dropped "
    "(at least 24)",
    "webhook_allow_private": "allow webhooks to loopback and private addresses (tests, labs)",
    "signing_key_file": "the service's Ed25519 log signing key (mode 600; created if missing); "
    "default: the SQLite database file's name + .signing-key, beside it; required with PostgreSQL",
    "log_head_interval_s": "while the log grows, a new tree head is signed at least this often "
    "(at most 60)",
    "rate_limit_per_s": "requests a second each token may make, sustained (per API process); "
    "more get 429 with Retry-After",
    "rate_limit_burst": "requests a token may make at once before the per-second limit applies",
    "sign_in_free_failures": "failed authentications from one address before it is slowed down "
    "(each further attempt waits twice as long, 429 with Retry-After)",
    "sign_in_max_wait_s": "the longest wait imposed on an address that keeps failing to sign in",
    "console_tile_url": "the web console's online map tiles, e.g. "
    "https://tile.example.org/{z}/{x}/{y}.png ({s} for subdomains); empty: the offline basemap "
    "only. Its origin is added to the console's Content-Security-Policy",
    "opentelemetry": "FastAPI's OpenTelemetry spans, metrics and logs of each request, to the "
    "providers the process configures (e.g. run under opentelemetry-instrument); off, it costs "
    "nothing a request",
}
