"""Free text from callers: strings, bounded, printable (no control characters), never trimmed."""

from __future__ import annotations

from typing import Any

from deconfliction.errors import InvalidInput


def checked_text(
    value: Any, field: str, *, maximum: int, required: bool = True, multiline: bool = False
) -> str:
    """The text as given, or InvalidInput naming the field; None is "" when not required.

    `multiline` text may hold line breaks (LF, CR) and tabs; no other control character.
    """
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput.one(
            field, "must be a non-empty string" if required else "must be a string"
        )
    if len(value) > maximum:
        raise InvalidInput.one(field, f"is longer than {maximum} characters")
    visible = value.replace("\n", "").replace("\r", "").replace("\t", "") if multiline else value
    if not visible.isprintable():
        raise InvalidInput.one(field, "must not contain control characters")
    return value
