"""GeoJSON at the edge: notification and conflict views as FeatureCollections, files as bodies.

Output follows RFC 7946: lon/lat WGS84, polygons split at the antimeridian, circles and corridors
as polygons (their exact definition stays in the properties), so QGIS or geojson.io open it as is.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import mapping, shape

from deconfliction.domain.areas import parse_area

MEDIA_TYPE = "application/geo+json"


def _area_geometry(area: dict[str, Any]) -> dict[str, Any]:
    return dict(mapping(parse_area(area, "area").shape.footprint_lonlat()))


def _side_features(conflict: dict[str, Any], party_code: str | None) -> list[dict[str, Any]]:
    features = []
    for i, overlap in enumerate(conflict["overlaps"]):
        for side in ("own", "other", "a", "b"):
            part = overlap.get(side)
            if not part or part.get("area") is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "geometry": part["area"],
                    "properties": {
                        "feature": "overlap",
                        "conflict_id": conflict["id"],
                        "conflict_state": conflict["state"],
                        "pair": i,
                        "side": side,
                        "start": part["start"],
                        "end": part["end"],
                        **{f"altitude_{k}": v for k, v in part["altitude"].items()},
                        **({"party": party_code} if party_code and side == "other" else {}),
                    },
                }
            )
    return features


def notification_features(view: dict[str, Any]) -> list[dict[str, Any]]:
    """One feature per volume of a whole notification, or the overlaps of a partial one."""
    if view["disclosure"] != "whole":
        return [
            f
            for conflict in view["conflicts"]
            for f in _side_features(conflict, view["party"]["code"])
            if f["properties"]["side"] == "other"
        ]
    features = []
    for i, volume in enumerate(view["volumes"]):
        features.append(
            {
                "type": "Feature",
                "id": f"{view['id']}/{i}",
                "geometry": _area_geometry(volume["area"]),
                "properties": {
                    "feature": "volume",
                    "notification_id": view["id"],
                    "party": view["party"]["code"],
                    "kind": view["kind"],
                    "title": view["title"],
                    "state": view["state"],
                    "version": view["version"],
                    "volume": i,
                    "area_type": volume["area"]["type"],
                    "start": volume["start"],
                    "end": volume["end"],
                    **{f"altitude_{k}": v for k, v in volume["altitude"].items()},
                },
            }
        )
    return features


def conflict_features(view: dict[str, Any]) -> list[dict[str, Any]]:
    other = view.get("other_party", {}).get("code")
    return _side_features(view, other)


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def view_intersects_bbox(view: dict[str, Any], bbox: list[float]) -> bool:
    """Whether any geometry of a notification view meets a west,south,east,north box."""
    box = shapely.box(*bbox)
    return any(
        shape(feature["geometry"]).intersects(box) for feature in notification_features(view)
    )
