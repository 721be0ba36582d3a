"""Settings from the environment, each with a default and a description.

`deconfliction settings` prints them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

DEFAULT_DB = "sqlite:///deconfliction.db"


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Each is read from the environment variable named in ENV_NAMES."""

    db: str = DEFAULT_DB
    operator_token: str | None = None
    signing_key_file: str | None = None
    max_body_bytes: int = 1_048_576
    request_threads: int = 4
    scheduler_interval_s: float = 5.0
    webhook_retry_base_s: float = 5.0
    webhook_retry_max_s: float = 900.0
    webhook_give_up_h: float = 72.0
    webhook_allow_private: bool = False
    log_head_interval_s: float = 60.0

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
            else:
                values[item.name] = raw
        return cls(**values)  # type: ignore[arg-type]


RANGES: dict[str, tuple[float, float]] = {
    "max_body_bytes": (1_024, 64 * 1_048_576),
    "request_threads": (1, 256),
    "scheduler_interval_s": (0.01, 3_600),
    "webhook_retry_base_s": (0.01, 3_600),
    "webhook_retry_max_s": (0.01, 86_400),
    "webhook_give_up_h": (24, 720),
    "log_head_interval_s": (0.01, 60),
}

ENV_NAMES = {
    "db": "DECONFLICTION_DB",
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
}

DESCRIPTIONS = {
    "db": "database URL; sqlite:///path (the embedded default, a file in the working directory)",
    "operator_token": "use this operator token instead of generating one (automated deployments)",
    "max_body_bytes": "largest request body accepted; larger ones get 413",
    "request_threads": "threads serving the blocking part of requests; a few per core is best",
    "scheduler_interval_s": "how often the server looks for missed deadlines and silent parties",
    "webhook_retry_base_s": "first delay before a failed webhook delivery is retried (doubles)",
    "webhook_retry_max_s": "longest delay between two retries of a webhook delivery",
    "webhook_give_up_h": "a webhook delivery still failing after this many hours is dropped "
    "(at least 24)",
    "webhook_allow_private": "allow webhooks to loopback and private addresses (tests, labs)",
    "signing_key_file": "the service's Ed25519 log signing key (mode 600; created if missing); "
    "default: the SQLite database file's name + .signing-key, beside it",
    "log_head_interval_s": "while the log grows, a new tree head is signed at least this often "
    "(at most 60)",
}
