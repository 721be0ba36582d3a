"""GeoJSON at the edge: notification and conflict views as FeatureCollections, files as bodies.

Output follows RFC 7946: lon/lat WGS84, polygons split at the antimeridian, circles and corridors
as polygons (their exact definition stays in the properties), so QGIS or geojson.io open it as is.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from deconfliction.domain.areas import stored_shape
from deconfliction.domain.circle_meets_box import circle_meets_box

MEDIA_TYPE = "application/geo+json"


def _area_geometry(area: dict[str, Any]) -> dict[str, Any]:
    """A stored area (validated when it was notified): a polygon as given; circles and
    corridors as polygons (arcs approximated)."""
    if area["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": area["coordinates"]}
    return dict(mapping(_area_shape(area)))


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
    """Whether any geometry of a notification view (those `notification_features` draws) meets
    a west,south,east,north box. A whole view's areas are tested as shapes, one at a time until
    one meets it, without the features around them."""
    if view["disclosure"] != "whole":
        return any(_polygons_meet(f["geometry"], bbox) for f in notification_features(view))
    return volumes_meet_bbox(view["volumes"], bbox)


def _polygons_meet(geometry: dict[str, Any], bbox: list[float]) -> bool:
    """Whether an overlap's geometry meets the box. A Polygon's or MultiPolygon's outer rings'
    vertices lie on it: one in the box settles it, and so does their extent missing the box;
    only between the two, or for another type of geometry, is the shape made."""
    if geometry["type"] not in ("Polygon", "MultiPolygon"):
        return bool(shape(geometry).intersects(shapely.box(*bbox)))
    multi = geometry["type"] == "MultiPolygon"
    polygons = geometry["coordinates"] if multi else [geometry["coordinates"]]
    vertices = [position for polygon in polygons for position in polygon[0]]
    if any(_in_box(position, bbox) for position in vertices):
        return True
    west, south, east, north = bbox
    lons = [position[0] for position in vertices]
    lats = [position[1] for position in vertices]
    if max(lons) < west or min(lons) > east or max(lats) < south or min(lats) > north:
        return False
    return bool(shape(geometry).intersects(shapely.box(*bbox)))


def volumes_meet_bbox(volumes: list[dict[str, Any]], bbox: list[float]) -> bool:
    """Whether any of a notification's volumes (as given, in JSON) meets a west,south,east,north
    box, tested as shapes one at a time until one meets it."""
    box = shapely.box(*bbox)
    areas = [volume["area"] for volume in volumes]
    # An area's drawn shape holds its given positions (a circle's centre, a corridor's line, a
    # polygon's vertices): one of them in the box settles it without drawing anything.
    if any(_in_box(position, bbox) for area in areas for position in _positions_of(area)):
        return True
    return any(_area_meets(area, box, bbox) for area in areas)


def _area_meets(area: dict[str, Any], box: BaseGeometry, bbox: list[float]) -> bool:
    """Whether an area as drawn meets the box: a circle's centre and radius settle most."""
    if area["type"] == "Circle":
        settled = circle_meets_box(area["center"], area["radius"], bbox)
        if settled is not None:
            return settled
    return bool(_area_shape(area).intersects(box))


def _positions_of(area: dict[str, Any]) -> list[list[float]]:
    if area["type"] == "Circle":
        return [area["center"]]
    if area["type"] == "Corridor":
        return list(area["line"]["coordinates"])
    return list(area["coordinates"][0])


def _in_box(position: list[float], bbox: list[float]) -> bool:
    west, south, east, north = bbox
    return west <= position[0] <= east and south <= position[1] <= north


def _area_shape(area: dict[str, Any]) -> BaseGeometry:
    if area["type"] == "Polygon":
        return shape(area)
    return stored_shape(area).footprint_lonlat()


def _area_from_feature(feature: dict[str, Any], where: str) -> dict[str, Any]:
    geometry = feature.get("geometry") or {}
    props = feature.get("properties") or {}
    kind = geometry.get("type")
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": geometry.get("coordinates")}
    if kind == "Point":
        if "radius" not in props:
            raise ValueError(f"{where}: a Point needs a 'radius' property in metres")
        return {"type": "Circle", "center": geometry.get("coordinates"), "radius": props["radius"]}
    if kind == "LineString":
        if "half_width" not in props:
            raise ValueError(f"{where}: a LineString needs a 'half_width' property in metres")
        return {"type": "Corridor", "line": geometry, "half_width": props["half_width"]}
    raise ValueError(f"{where}: geometry must be a Polygon, a Point or a LineString, not {kind}")


def _altitude_from(props: dict[str, Any], where: str) -> dict[str, Any]:
    if isinstance(props.get("altitude"), dict):
        return dict(props["altitude"])
    keys = {
        "lower": "altitude_lower",
        "upper": "altitude_upper",
        "units": "altitude_units",
        "reference": "altitude_reference",
    }
    missing = [k for k in ("altitude_lower", "altitude_upper") if k not in props]
    if missing:
        raise ValueError(f"{where}: properties need an 'altitude' object or {', '.join(missing)}")
    return {name: props[key] for name, key in keys.items() if key in props}


def notification_from_geojson(document: dict[str, Any], **overrides: str | None) -> dict[str, Any]:
    """A notification body from a GeoJSON Feature or FeatureCollection, one volume a feature.

    Polygons stay polygons; a Point with a `radius` property is a circle; a LineString with a
    `half_width` property is a corridor. Each feature's properties give `start`, `end` and the
    altitude (`altitude` object, or `altitude_lower`/`_upper`/`_units`/`_reference`). `kind`,
    `title` and `reference` come from the overrides, else the collection's or first feature's
    properties. A document that already has `volumes` is taken as a notification body as is.
    """
    if "volumes" in document:
        body = dict(document)
    else:
        if document.get("type") == "Feature":
            features = [document]
        elif document.get("type") == "FeatureCollection":
            features = list(document.get("features") or [])
        else:
            raise ValueError("expected a GeoJSON Feature or FeatureCollection, or a notification")
        if not features:
            raise ValueError("the FeatureCollection has no features")
        volumes = []
        for i, feature in enumerate(features):
            where = f"feature {i}"
            props = feature.get("properties") or {}
            volumes.append(
                {
                    "area": _area_from_feature(feature, where),
                    "altitude": _altitude_from(props, where),
                    "start": props.get("start"),
                    "end": props.get("end"),
                }
            )
        shared = {**(features[0].get("properties") or {}), **(document.get("properties") or {})}
        body = {key: shared[key] for key in ("kind", "title", "reference") if key in shared}
        body["volumes"] = volumes
    body.update({key: value for key, value in overrides.items() if value is not None})
    return body
