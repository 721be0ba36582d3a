"""The web console's files: served at / and /console/…, under the console's strict policy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from deconfliction.api.app import create_app
from deconfliction.config import Settings

from .conftest import CheckedClient

CONSOLE_DIR = Path(__file__).resolve().parents[2] / "src" / "deconfliction" / "console"
EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


def _console_headers(response: Any) -> None:
    assert response.headers["content-security-policy"] == EXPECTED_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_index_is_served_with_the_console_policy(client: CheckedClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    _console_headers(response)
    assert "<title>" in response.text


def test_the_api_keeps_its_own_stricter_policy(client: CheckedClient) -> None:
    policy = client.get("/healthz").headers["content-security-policy"]
    assert policy == "default-src 'none'; frame-ancestors 'none'"


def test_index_has_no_inline_script_or_style(client: CheckedClient) -> None:
    html = client.get("/").text
    for tag in re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html, flags=re.IGNORECASE)
    assert not re.search(r"<style\b", html, flags=re.IGNORECASE)
    assert not re.search(r"\sstyle\s*=", html, flags=re.IGNORECASE)
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.IGNORECASE)


def test_every_file_the_index_names_is_served_with_its_type(client: CheckedClient) -> None:
    html = client.get("/").text
    names = re.findall(r'(?:src|href)="(/console/[^"]+)"', html)
    assert any(n.endswith(".js") for n in names) and any(n.endswith(".css") for n in names)
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for name in names:
        response = client.get(name)
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(types[Path(name).suffix]), name
        _console_headers(response)


def test_every_console_module_is_served_as_javascript(client: CheckedClient) -> None:
    for path in sorted((CONSOLE_DIR / "js").glob("*.js")):
        response = client.get(f"/console/js/{path.name}")
        assert response.status_code == 200, path.name
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"


def test_vendored_libraries_and_their_licences_are_served(client: CheckedClient) -> None:
    for name, kind in [
        ("vendor/leaflet/leaflet.js", "text/javascript"),
        ("vendor/leaflet/leaflet.css", "text/css"),
        ("vendor/leaflet/images/layers.png", "image/png"),
        ("vendor/leaflet/LICENSE", "text/plain"),
        ("vendor/leaflet-geoman/leaflet-geoman.min.js", "text/javascript"),
        ("vendor/leaflet-geoman/LICENSE", "text/plain"),
    ]:
        response = client.get(f"/console/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(kind), name


def test_the_basemap_is_geojson_with_the_countries_of_the_world(client: CheckedClient) -> None:
    response = client.get("/console/data/countries.geojson")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    basemap = response.json()
    assert basemap["type"] == "FeatureCollection"
    features = basemap["features"]
    assert len(features) > 200
    names = {f["properties"]["name"] for f in features}
    assert {"Syria", "Turkey", "Iraq", "France", "Brazil"} <= names
    for feature in features:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        rings = feature["geometry"]["coordinates"]
        if feature["geometry"]["type"] == "Polygon":
            rings = [rings]
        for polygon in rings:
            for ring in polygon:
                assert len(ring) >= 4 and ring[0] == ring[-1]
                assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring)


def test_path_traversal_and_hidden_or_unknown_files_are_refused(client: CheckedClient) -> None:
    for path in [
        "/console/..%2f..%2fconfig.py",
        "/console/%2e%2e/%2e%2e/config.py",
        "/console/js/..%2f..%2f..%2fapi%2fapp.py",
        "/console/%2fetc%2fpasswd",
        "/console/.hidden.js",
        "/console/js",
        "/console/missing.js",
        "/console/%00",
        "/console/js/main%00.js",
        "/console/" + "a" * 5_000 + ".js",  # longer than a file name may be
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
    # A client that normalises the path never reaches the package's Python files either.
    assert client.get("/console/../api/app.py").status_code == 404


def test_config_reflects_the_tile_setting(client: CheckedClient, ctx: Any, database: Any) -> None:
    assert client.get("/console/config.json").json() == {"tile_url": ""}
    url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    settings = Settings(db=database.url, console_tile_url=url)
    with CheckedClient(create_app(ctx, settings)) as other:
        response = other.get("/console/config.json")
        assert response.json() == {"tile_url": url}
        policy = response.headers["content-security-policy"]
        assert "img-src 'self' data: https://*.tiles.example.org;" in policy
        assert "connect-src 'self';" in policy


def test_the_tile_setting_is_checked_before_it_reaches_the_policy() -> None:
    env = "DECONFLICTION_CONSOLE_TILE_URL"
    ok = Settings.from_env({env: "https://tile.example.org/{z}/{x}/{y}.png"})
    assert ok.console_tile_url == "https://tile.example.org/{z}/{x}/{y}.png"
    assert Settings.from_env({}).console_tile_url == ""
    for bad in [
        "ftp://tile.example.org/{z}/{x}/{y}.png",
        "https://tile.example.org; script-src *;/{z}/{x}/{y}.png",
        "https://tile.example.org/{z}/{x}.png",
        "tile.example.org/{z}/{x}/{y}.png",
    ]:
        try:
            Settings.from_env({env: bad})
        except ValueError as error:
            assert env in str(error)
        else:
            raise AssertionError(f"accepted {bad}")


def test_console_needs_no_token_but_the_api_still_does(client: CheckedClient) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/console/config.json").status_code == 200
    assert client.get("/v1/me").status_code == 401
    assert json.loads(client.get("/v1/me").text)["status"] == 401
