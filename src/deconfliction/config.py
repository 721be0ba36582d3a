"""Settings from the environment, each with a default and a description.

`deconfliction settings` prints them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

DEFAULT_DB = "sqlite:///deconfliction.db"


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Each is read from the environment variable named in its metadata."""

    db: str = DEFAULT_DB
    operator_token: str | None = None
    max_body_bytes: int = 1_048_576

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for item in fields(cls):
            raw = env.get(ENV_NAMES[item.name])
            if raw is None or raw == "":
                continue
            if item.name == "max_body_bytes":
                if not raw.isdigit() or not 1_024 <= int(raw) <= 64 * 1_048_576:
                    raise ValueError(
                        f"{ENV_NAMES[item.name]} must be a whole number of bytes, 1024–67108864"
                    )
                values[item.name] = int(raw)
            else:
                values[item.name] = raw
        return cls(**values)  # type: ignore[arg-type]


ENV_NAMES = {
    "db": "DECONFLICTION_DB",
    "operator_token": "DECONFLICTION_OPERATOR_TOKEN",
    "max_body_bytes": "DECONFLICTION_MAX_BODY_BYTES",
}

DESCRIPTIONS = {
    "db": "database URL; sqlite:///path (the embedded default, a file in the working directory)",
    "operator_token": "use this operator token instead of generating one (automated deployments)",
    "max_body_bytes": "largest request body accepted; larger ones get 413",
}
