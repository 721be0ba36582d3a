"""The service's Ed25519 signing key in a file that only its owner may read.

Format: one line, `ed25519:` and the standard base64 of the 32-byte seed. The file is created
with mode 0600 (written to a temporary file in the same directory, then renamed, so a crash
never leaves half a key); a key file that others may read or write is refused.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from nacl.signing import SigningKey

from deconfliction.storage import POSTGRES_SCHEMES, sqlite_path, unknown_scheme

PREFIX = "ed25519:"


class KeyFileError(ValueError):
    """The key file is missing, unreadable, malformed or too open."""


def key_path_for(db_url: str, configured: str | None) -> Path:
    """The configured key file, else `<database file>.signing-key` beside a SQLite database; a
    PostgreSQL database has no file to keep it beside, so there it must be configured."""
    if configured:
        return Path(configured)
    if db_url.startswith(POSTGRES_SCHEMES):
        raise KeyFileError(
            "a PostgreSQL database needs a signing key file: set DECONFLICTION_SIGNING_KEY_FILE "
            "to a path (the key is created there if the file does not exist)"
        )
    if not db_url.startswith("sqlite:"):
        raise unknown_scheme(db_url)
    database = sqlite_path(db_url)
    return database.with_name(database.name + ".signing-key")


def read_key(path: Path) -> SigningKey:
    """The key in `path`; KeyFileError saying what is wrong."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as error:
        raise KeyFileError(f"no signing key file at {path}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"cannot read the signing key file {path}: {error}") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"the signing key file {path} may be read or written by others "
            f"(mode {stat.S_IMODE(mode):o}); make it readable by its owner only: chmod 600"
        )
    if not text.startswith(PREFIX):
        raise KeyFileError(f"{path} is not a deconfliction signing key (expected {PREFIX}…)")
    try:
        seed = base64.b64decode(text[len(PREFIX) :], validate=True)
    except binascii.Error as error:
        raise KeyFileError(f"{path}: the key is not valid base64") from error
    if len(seed) != 32:
        raise KeyFileError(f"{path}: an Ed25519 key is 32 bytes, this one {len(seed)}")
    return SigningKey(seed)


def write_key(path: Path, key: SigningKey) -> None:
    """Write `key` to `path` (mode 0600), replacing the file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(PREFIX + base64.b64encode(bytes(key)).decode("ascii") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_or_create(path: Path) -> tuple[SigningKey, bool]:
    """The key in `path`, creating a new one if there is no file; (key, created)."""
    if path.exists():
        return read_key(path), False
    key = SigningKey.generate()
    write_key(path, key)
    return key, True
