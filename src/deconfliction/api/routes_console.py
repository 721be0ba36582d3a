"""The web console: its static files at / and /console/…, under a strict Content-Security-Policy.

The console is a static page that uses only the public API; it needs no token to be served.
The files are package data (`deconfliction/console/`), so an installed wheel serves them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from deconfliction.config import Settings, tile_origin
from deconfliction.errors import NotFound

router = APIRouter(include_in_schema=False)

CONSOLE_DIR = (Path(__file__).resolve().parent.parent / "console").resolve()
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
LICENSE_FILE = "LICENSE"


def is_console_path(path: str) -> bool:
    """Whether a request path is the console's (and so gets the console's policy)."""
    return path == "/" or path.startswith("/console/")


def content_security_policy(settings: Settings) -> str:
    """The console's policy: only its own files, plus the tile server's images if configured."""
    images = "'self' data:"
    if settings.console_tile_url:
        images += f" {tile_origin(settings.console_tile_url)}"
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self'; img-src {images}; "
        "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )


def _file(relative: str) -> FileResponse:
    missing = NotFound(f"no console file {relative[:200]}")
    if "\x00" in relative:  # no file has one; the file system would refuse it with an error
        raise missing
    try:
        target = (CONSOLE_DIR / relative).resolve()
        media_type = "text/plain; charset=utf-8" if target.name == LICENSE_FILE else None
        media_type = media_type or MEDIA_TYPES.get(target.suffix)
        hidden = any(part.startswith(".") for part in Path(relative).parts)
        shown = not hidden and media_type is not None and target.is_relative_to(CONSOLE_DIR)
        if not (shown and target.is_file()):
            raise missing
    except OSError:  # e.g. a name longer than the file system allows
        raise missing from None
    return FileResponse(target, media_type=media_type)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The console's page."""
    return _file("index.html")


@router.get("/console/config.json")
def config(request: Request) -> JSONResponse:
    """What the page needs to know of the deployment: the optional online tile URL."""
    settings: Settings = request.app.state.settings
    body: dict[str, Any] = {"tile_url": settings.console_tile_url}
    return JSONResponse(body)


@router.api_route("/console/{relative:path}", methods=["GET", "HEAD"])
def asset(relative: str) -> FileResponse:
    """A file of the console: script, style sheet, image, basemap, vendored library."""
    return _file(relative)
