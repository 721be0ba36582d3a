"""Properties of conflict detection: accuracy, symmetry, translation, and index soundness."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from deconfliction.domain import geo
from deconfliction.domain.areas import parse_area, stored_shape
from deconfliction.domain.candidates import Candidates
from deconfliction.domain.conflicts import Finding, Placed, find_conflicts
from deconfliction.domain.rules import Rules
from deconfliction.domain.volumes import Volume, box_of
from deconfliction.errors import InvalidInput
from deconfliction.interop.geojson import notification_features, view_intersects_bbox
from deconfliction.storage.sqlite.store import SqliteStore

from ._support import (
    NOW,
    circle,
    corridor,
    fwd,
    geodesic_m,
    placed,
    polygon,
    volume,
)

FAST = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
BASE = datetime(2026, 11, 26, tzinfo=UTC)

latitudes = st.floats(-88.0, 88.0, allow_nan=False)
longitudes = st.one_of(
    st.floats(-180.0, 180.0, allow_nan=False),
    st.floats(179.0, 180.0, allow_nan=False),
    st.floats(-180.0, -179.0, allow_nan=False),
)
azimuths = st.floats(0.0, 360.0, allow_nan=False, exclude_max=True)


def _instant(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pole_distance(lon: float, lat: float) -> float:
    return min(geodesic_m(lon, lat, 0.0, 90.0), geodesic_m(lon, lat, 0.0, -90.0))


# --- distance accuracy ------------------------------------------------------------------------


@FAST
@given(
    lon=longitudes,
    lat=latitudes,
    az=azimuths,
    gap=st.floats(100.0, 200_000.0),
    r1=st.floats(1.0, 100.0),
    r2=st.floats(1.0, 100.0),
)
def test_distance_accuracy_anywhere(
    lon: float, lat: float, az: float, gap: float, r1: float, r2: float
) -> None:
    lon2, lat2, _ = fwd(lon, lat, az, r1 + gap + r2)
    assume(_pole_distance(lon2, lat2) > r2 + 1.0)
    a = volume(circle(lon, lat, r1))
    b = volume(circle(lon2, lat2, r2))
    pa, pb = placed("ntf-a", "A", a), placed("ntf-b", "B", b)
    near = find_conflicts([pa], [pb], Rules(horizontal_separation_m=gap * 1.005))
    assert near, f"gap {gap} m not found closer than {gap * 1.005} m"
    assert near[0].overlaps[0].horizontal_gap_m == pytest.approx(gap, rel=0.005)
    assert find_conflicts([pa], [pb], Rules(horizontal_separation_m=gap * 0.995)) == []


# --- random volumes ---------------------------------------------------------------------------


@st.composite
def areas(draw: st.DrawFn, lon: float, lat: float) -> dict[str, Any]:
    """A circle, polygon or corridor of 200 m – 20 km around (and containing) lon/lat."""
    size = draw(st.floats(200.0, 20_000.0))
    kind = draw(st.sampled_from(["circle", "polygon", "corridor"]))
    if kind == "circle":
        return circle(lon, lat, size)
    if kind == "polygon":
        # Star-shaped around lon/lat with every angle between neighbours under 180°, so the
        # polygon is simple and contains its centre (as circles and corridors do).
        n = draw(st.integers(3, 8))
        weights = [draw(st.floats(1.0, 1.9)) for _ in range(n)]
        first = draw(azimuths)
        bearings = [first + 360.0 * sum(weights[:i]) / sum(weights) for i in range(n)]
        reach = [draw(st.floats(size / 2, size)) for _ in bearings]
        return polygon([fwd(lon, lat, b, r)[:2] for b, r in zip(bearings, reach, strict=True)])
    points = [(lon, lat)]
    for _ in range(draw(st.integers(1, 3))):
        points.append(fwd(*points[-1], draw(azimuths), size)[:2])
    return corridor(points, draw(st.floats(20.0, size / 4)))


def _parsed(data: dict[str, Any], rules: Rules) -> Volume:
    try:
        return volume(data["area"], rules=rules, **data["rest"])
    except InvalidInput:
        # Shapes drawn across the antimeridian or around a pole are rightly refused.
        assume(False)
        raise


@st.composite
def volume_data(draw: st.DrawFn, lon: float, lat: float) -> dict[str, Any]:
    """Area, altitude band and time window; integers so that exact boundaries come up often."""
    lower = draw(st.integers(0, 30)) * 50
    start = draw(st.integers(0, 24)) * 5
    return {
        "area": draw(areas(lon, lat)),
        "rest": {
            "lower": lower,
            "upper": lower + draw(st.integers(1, 20)) * 50,
            "reference": draw(st.sampled_from(["AMSL", "W84"])),
            "start": _instant(start),
            "end": _instant(start + draw(st.integers(1, 24)) * 5),
        },
    }


rules_strategy = st.builds(
    Rules,
    horizontal_separation_m=st.sampled_from([0.0, 100.0, 1_000.0, 5_000.0]),
    vertical_separation_m=st.sampled_from([0.0, 300.0]),
    time_buffer_min=st.sampled_from([0.0, 15.0]),
)


@st.composite
def nearby_pair(draw: st.DrawFn, anywhere: bool = True) -> tuple[dict, dict]:
    """Two volumes close to each other: b's centre 0–40 km from a's."""
    if anywhere:
        lon, lat = draw(longitudes), draw(st.floats(-89.0, 89.0))
    else:
        lon, lat = draw(st.floats(-160.0, 160.0)), draw(st.floats(-60.0, 60.0))
    lon2, lat2, _ = fwd(lon, lat, draw(azimuths), draw(st.floats(0.0, 40_000.0)))
    return draw(volume_data(lon, lat)), draw(volume_data(lon2, lat2))


def _pair_key(findings: list[Finding]) -> list[tuple[Any, ...]]:
    return [
        (
            f.notification_a,
            f.party_a,
            f.notification_b,
            f.party_b,
            tuple((o.a.volume_index, o.b.volume_index) for o in f.overlaps),
        )
        for f in findings
    ]


# --- symmetry ---------------------------------------------------------------------------------


@FAST
@given(pair=nearby_pair(), rules=rules_strategy)
def test_symmetry(pair: tuple[dict, dict], rules: Rules) -> None:
    a = placed("ntf-a", "A", _parsed(pair[0], rules))
    b = placed("ntf-b", "B", _parsed(pair[1], rules))
    ab = find_conflicts([a], [b], rules)
    ba = find_conflicts([b], [a], rules)
    assert _pair_key(ab) == _pair_key(ba)
    for fab, fba in zip(ab, ba, strict=True):
        for oab, oba in zip(fab.overlaps, fba.overlaps, strict=True):
            assert oab.horizontal_gap_m == pytest.approx(oba.horizontal_gap_m, rel=1e-9, abs=1e-6)
            assert oab.a == oba.a and oab.b == oba.b


# --- translation ------------------------------------------------------------------------------


def _shift_lon(area: dict[str, Any], degrees: float) -> dict[str, Any]:
    def move(p: list[float]) -> list[float]:
        return [p[0] + degrees, p[1]]

    if area["type"] == "Circle":
        return {**area, "center": move(area["center"])}
    if area["type"] == "Polygon":
        return {**area, "coordinates": [[move(p) for p in ring] for ring in area["coordinates"]]}
    line = area["line"]
    return {**area, "line": {**line, "coordinates": [move(p) for p in line["coordinates"]]}}


@FAST
@given(
    lon=st.floats(-160.0, 160.0),
    lat=st.floats(-60.0, 60.0),
    data=st.data(),
    rules=rules_strategy,
    shift=st.sampled_from([10.0, -10.0]),
    days=st.integers(1, 30),
)
def test_translation_removes_conflict(
    lon: float, lat: float, data: st.DataObject, rules: Rules, shift: float, days: int
) -> None:
    first = data.draw(volume_data(lon, lat))
    second = data.draw(volume_data(lon, lat))
    # Same place, same band, same window: they overlap and must conflict.
    second["rest"] = dict(first["rest"])
    a = placed("ntf-a", "A", _parsed(first, rules))
    b = _parsed(second, rules)
    assert find_conflicts([a], [placed("ntf-b", "B", b)], rules)

    moved = _parsed({**second, "area": _shift_lon(second["area"], shift)}, rules)
    assert find_conflicts([a], [placed("ntf-b", "B", moved)], rules) == []

    later = dict(second["rest"])
    for key in ("start", "end"):
        later[key] = (datetime.fromisoformat(later[key]) + timedelta(days=days)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    postponed = _parsed({**second, "rest": later}, rules)
    assert find_conflicts([a], [placed("ntf-b", "B", postponed)], rules) == []


# --- index soundness: boxes -------------------------------------------------------------------


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(pair=nearby_pair(), rules=rules_strategy)
def test_box_prefilter_never_loses_a_conflict(pair: tuple[dict, dict], rules: Rules) -> None:
    va, vb = _parsed(pair[0], rules), _parsed(pair[1], rules)
    found = find_conflicts([placed("ntf-a", "A", va)], [placed("ntf-b", "B", vb)], rules)
    if found:
        assert box_of(va).widened(rules).touches(box_of(vb))
        assert box_of(vb).widened(rules).touches(box_of(va))


@FAST
@example(lon=0.0, lat=0.0, az=0.0, r1=2_000.0, r2=2_000.0, sep=1_000.0, under=0.001)
@given(
    lon=longitudes,
    lat=latitudes,
    az=azimuths,
    r1=st.floats(100.0, 20_000.0),
    r2=st.floats(100.0, 20_000.0),
    sep=st.floats(100.0, 5_000.0),
    under=st.floats(0.0, 0.005),
)
def test_box_prefilter_keeps_pairs_just_inside_the_separation(
    lon: float, lat: float, az: float, r1: float, r2: float, sep: float, under: float
) -> None:
    """Two circles a hair closer than the separation: the boxes must still touch."""
    lon2, lat2, _ = fwd(lon, lat, az, r1 + r2 + sep * (1 - under))
    assume(_pole_distance(lon, lat) > r1 + 1.0 and _pole_distance(lon2, lat2) > r2 + 1.0)
    rules = Rules(horizontal_separation_m=sep)
    va, vb = volume(circle(lon, lat, r1)), volume(circle(lon2, lat2, r2))
    found = find_conflicts([placed("ntf-a", "A", va)], [placed("ntf-b", "B", vb)], rules)
    if found:
        assert box_of(va).widened(rules).touches(box_of(vb))
        assert box_of(vb).widened(rules).touches(box_of(va))


@FAST
@given(pair=nearby_pair())
def test_box_holds_the_whole_area(pair: tuple[dict, dict]) -> None:
    vol = _parsed(pair[0], Rules())
    box = box_of(vol)
    outline = shapely.get_coordinates(vol.area.shape.footprint_lonlat())
    vectors = geo.unit_vectors(outline[:, 0], outline[:, 1])
    assert (vectors >= np.array(box.low[:3]) - 1e-9).all()
    assert (vectors <= np.array(box.high[:3]) + 1e-9).all()
    assert (box.low[3], box.high[3]) == (vol.altitude.lower_m, vol.altitude.upper_m)
    assert (box.low[4], box.high[4]) == (vol.window.start.timestamp(), vol.window.end.timestamp())


@FAST
@given(lon=longitudes, lat=latitudes, data=st.data())
def test_a_stored_area_is_drawn_as_it_was_parsed(
    lon: float, lat: float, data: st.DataObject
) -> None:
    """`stored_shape`, which draws a stored circle or corridor without validating it again, makes
    the very shape `parse_area` made when it was accepted: same core, radius, centre, outline."""
    drawn = data.draw(areas(lon, lat))
    assume(drawn["type"] != "Polygon")  # drawn as given, never through a shape
    try:
        parsed = parse_area(drawn, "area")
    except InvalidInput:
        assume(False)
        raise
    stored = stored_shape(json.loads(json.dumps(parsed.geojson)))
    assert shapely.equals_exact(stored.core, parsed.shape.core, tolerance=0.0)
    assert (stored.radius_m, stored.centre) == (parsed.shape.radius_m, parsed.shape.centre)
    assert shapely.equals_exact(
        stored.footprint_lonlat(), parsed.shape.footprint_lonlat(), tolerance=0.0
    )


def _whole_view(area: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "ntf-x",
        "disclosure": "whole",
        "party": {"code": "A"},
        "kind": "other",
        "title": "t",
        "state": "planned",
        "version": 1,
        "volumes": [{"area": area, "start": "s", "end": "e", "altitude": {"lower": 0}}],
    }


def _drawn_meets(view: dict[str, Any], bbox: list[float]) -> bool:
    box = shapely.box(*bbox)
    return any(
        shapely.geometry.shape(f["geometry"]).intersects(box) for f in notification_features(view)
    )


def _accepted_area(data: st.DataObject, lon: float, lat: float) -> dict[str, Any]:
    drawn = data.draw(areas(lon, lat))
    try:
        return parse_area(drawn, "area").geojson
    except InvalidInput:
        assume(False)
        raise


@FAST
@given(lon=longitudes, lat=latitudes, data=st.data())
def test_a_listings_bbox_test_meets_what_the_features_draw(
    lon: float, lat: float, data: st.DataObject
) -> None:
    """A listing keeps a whole view when a box meets one of its areas: tested on the areas'
    shapes, the answer is the one the drawn GeoJSON features give."""
    area = _accepted_area(data, lon, lat)
    west = data.draw(st.floats(max(lon - 0.3, -180.0), min(lon + 0.3, 180.0)))
    south = data.draw(st.floats(max(lat - 0.3, -90.0), min(lat + 0.3, 90.0)))
    side = data.draw(st.floats(0.001, 0.3))
    bbox = [west, south, min(west + side, 180.0), min(south + side, 90.0)]
    view = _whole_view(area)
    assert view_intersects_bbox(view, bbox) == _drawn_meets(view, bbox)


@FAST
@given(lon=longitudes, lat=latitudes, data=st.data())
def test_a_box_beside_an_areas_given_positions_is_judged_as_the_features_draw(
    lon: float, lat: float, data: st.DataObject
) -> None:
    """Boxes with an edge near one of the positions an area was given by (a circle's centre, a
    corridor's line, a polygon's vertices): one held in the box settles the test without
    drawing the area, and the answer is still the one the drawn features give."""
    area = _accepted_area(data, lon, lat)
    if area["type"] == "Circle":
        positions = [area["center"]]
    elif area["type"] == "Corridor":
        positions = area["line"]["coordinates"]
    else:
        positions = area["coordinates"][0]
    x, y = data.draw(st.sampled_from(positions))
    west = x + data.draw(st.floats(-0.1, 0.1))
    south = y + data.draw(st.floats(-0.1, 0.1))
    bbox = [
        max(west, -180.0),
        max(south, -90.0),
        min(west + data.draw(st.floats(0.001, 0.1)), 180.0),
        min(south + data.draw(st.floats(0.001, 0.1)), 90.0),
    ]
    assume(bbox[0] <= bbox[2] and bbox[1] <= bbox[3])
    view = _whole_view(area)
    assert view_intersects_bbox(view, bbox) == _drawn_meets(view, bbox)


def _near_a_vertex(data: st.DataObject, drawn: Any) -> tuple[float, float]:
    polygon = drawn if drawn.geom_type == "Polygon" else drawn.geoms[0]
    x, y = data.draw(st.sampled_from(list(polygon.exterior.coords)))
    return x + data.draw(st.floats(-0.3, 0.3)), y + data.draw(st.floats(-0.3, 0.3))


def _overlap_view(geometry: dict[str, Any]) -> dict[str, Any]:
    side = {"area": geometry, "start": "s", "end": "e", "altitude": {"lower": 0}}
    overlap = {"own": side, "other": side, "horizontal_gap_m": 0.0}
    conflict = {"id": "cfl-x", "state": "open", "overlaps": [overlap]}
    return {"id": "ntf-x", "disclosure": "overlap", "party": {"code": "A"}, "conflicts": [conflict]}


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(lon=longitudes, lat=latitudes, data=st.data())
def test_a_listings_bbox_test_of_an_overlap_meets_what_its_features_draw(
    lon: float, lat: float, data: st.DataObject
) -> None:
    """A listing keeps an overlap view when a box meets one of the overlaps it shows: told by
    their vertices and extent where those settle it, the answer is the one the drawn features
    give — for polygons, polygons with a hole, and those split at the antimeridian."""
    area = _accepted_area(data, lon, lat)
    drawn = parse_area(area, "area").shape.footprint_lonlat()
    if data.draw(st.booleans()):  # a hole, as an overlap cut around the other's volume can have
        drawn = drawn.difference(drawn.centroid.buffer(drawn.minimum_rotated_rectangle.length / 20))
    assume(not drawn.is_empty and drawn.geom_type in ("Polygon", "MultiPolygon"))
    geometry = json.loads(shapely.to_geojson(drawn))
    width, height = data.draw(st.floats(0.001, 0.3)), data.draw(st.floats(0.001, 0.3))
    minx, miny, maxx, maxy = drawn.bounds
    near = data.draw(st.floats(-0.02, 0.02))  # from an edge of the overlap's extent
    along_x = data.draw(st.floats(minx - width, maxx))
    along_y = data.draw(st.floats(miny - height, maxy))
    west, south = {  # a box near a vertex, or beside (or just across) an edge of the extent
        "vertex": lambda: _near_a_vertex(data, drawn),
        "north": lambda: (along_x, maxy + near),
        "south": lambda: (along_x, miny - height + near),
        "east": lambda: (maxx + near, along_y),
        "west": lambda: (minx - width + near, along_y),
    }[data.draw(st.sampled_from(["vertex", "north", "south", "east", "west"]))]()
    bbox = [
        max(west, -180.0),
        max(south, -90.0),
        min(west + width, 180.0),
        min(south + height, 90.0),
    ]
    assume(bbox[0] <= bbox[2] and bbox[1] <= bbox[3])
    view = _overlap_view(geometry)
    assert view_intersects_bbox(view, bbox) == _drawn_meets(view, bbox)


# --- index soundness: the SQLite store --------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    path: Path = tmp_path_factory.mktemp("index") / "index.sqlite"
    yield SqliteStore(path)


def _random_notifications(
    seed: int, count: int
) -> tuple[list[tuple[str, str]], list[tuple[str, list[Volume]]]]:
    """Parties and notifications with `count` volumes in all, in a 1°×1° area over two days."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    parties = [(f"pty-{tag}-{i}", f"P{tag}-{i}".upper()) for i in range(rng.randint(2, 6))]
    notifications: list[tuple[str, list[Volume]]] = []
    made = 0
    while made < count:
        n = min(rng.randint(1, 3), count - made)
        vols = []
        for _ in range(n):
            lon, lat = 30.0 + rng.random(), 40.0 + rng.random()
            size = rng.uniform(300.0, 8_000.0)
            kind = rng.random()
            if kind < 0.4:
                area = circle(lon, lat, size)
            elif kind < 0.7:
                k = rng.randint(3, 7)
                bearings = sorted(rng.uniform(0, 360) for _ in range(k))
                bearings = [b + i * 1e-6 for i, b in enumerate(bearings)]
                area = polygon(
                    [fwd(lon, lat, b, rng.uniform(size / 2, size))[:2] for b in bearings]
                )
            else:
                end = fwd(lon, lat, rng.uniform(0, 360), size * 2)[:2]
                area = corridor([(lon, lat), end], rng.uniform(20.0, size / 4))
            lower = rng.randint(0, 40) * 50
            start = rng.randint(0, 2 * 24 * 12) * 5
            try:
                vols.append(
                    volume(
                        area,
                        lower=lower,
                        upper=lower + rng.randint(1, 20) * 50,
                        reference=rng.choice(["AMSL", "W84"]),
                        start=_instant(start),
                        end=_instant(start + rng.randint(1, 36) * 5),
                    )
                )
            except InvalidInput:
                continue
        if vols:
            notifications.append((f"ntf-{tag}-{len(notifications):04d}", vols))
            made += len(vols)
    return parties, notifications


def _index_vs_brute_force(store: SqliteStore, seed: int, count: int, rules: Rules) -> int:
    parties, notifications = _random_notifications(seed, count)
    mechanism = f"mec-{uuid.uuid4().hex[:12]}"
    rng = random.Random(seed + 1)
    owner = {nid: rng.choice(parties)[0] for nid, _ in notifications}
    stamp = NOW.isoformat()
    everything: list[Placed] = []
    mine: dict[str, list[Placed]] = {}
    with store.write() as tx:
        tx.insert_mechanism(
            {
                "id": mechanism,
                "name": "index test",
                "area_json": None,
                "rules_json": json.dumps(rules.to_json()),
                "created_at": stamp,
            }
        )
        for pid, code in parties:
            tx.insert_party(
                {"id": pid, "name": code, "code": code, "contact": "", "created_at": stamp}
            )
        for nid, vols in notifications:
            row = {
                "id": nid,
                "mechanism_id": mechanism,
                "party_id": owner[nid],
                "kind": "air",
                "title": nid,
                "reference": "",
                "version": 1,
                "volumes_json": "[]",
                "start_ts": min(v.window.start for v in vols).timestamp(),
                "end_ts": max(v.window.end for v in vols).timestamp(),
                "late": 0,
                "created_at": stamp,
                "updated_at": stamp,
            }
            tx.insert_notification(row)
            placed_vols = [placed(nid, owner[nid], v, i) for i, v in enumerate(vols)]
            tx.replace_volumes(
                row, [(p, box_of(v)) for p, v in zip(placed_vols, vols, strict=True)]
            )
            mine[nid] = placed_vols
            everything.extend(placed_vols)
    conflicts = 0
    with store.read() as tx:
        for nid, vols in notifications:
            offered = [tx.candidates(mechanism, owner[nid], box_of(v).widened(rules)) for v in vols]
            for part in offered:
                assert owner[nid] not in set(part.party_ids.tolist())
            indexed = find_conflicts(mine[nid], Candidates.union(offered), rules)
            brute = find_conflicts(mine[nid], everything, rules)
            assert _pair_key(indexed) == _pair_key(brute), nid
            assert [[o.horizontal_gap_m for o in f.overlaps] for f in indexed] == [
                [o.horizontal_gap_m for o in f.overlaps] for f in brute
            ]
            conflicts += len(brute)
    return conflicts


@FEW
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(50, 200),
    rules=rules_strategy,
)
def test_index_finds_exactly_what_brute_force_finds(
    store: SqliteStore, seed: int, count: int, rules: Rules
) -> None:
    _index_vs_brute_force(store, seed, count, rules)


def test_index_comparison_is_not_vacuous(store: SqliteStore) -> None:
    # A fixed, dense case: the comparison above must be comparing real conflicts.
    assert _index_vs_brute_force(store, seed=7, count=200, rules=Rules()) > 10


@pytest.mark.parametrize(
    ("lat", "az", "radius", "gap", "separation"),
    [
        pytest.param(0.0, 0.0, 2_000.0, 995.0, 1_000.0, id="equator-north-just-inside-sep"),
        pytest.param(0.0, 180.0, 2_000.0, 995.0, 1_000.0, id="equator-south-just-inside-sep"),
        pytest.param(0.0, 0.0, 20_000.0, -100.0, 0.0, id="equator-overlapping-by-100m-sep-0"),
        pytest.param(20.0, 0.0, 2_000.0, 995.0, 1_000.0, id="20N-north-just-inside-sep"),
        pytest.param(45.0, 90.0, 2_000.0, 995.0, 1_000.0, id="45N-east-just-inside-sep"),
    ],
)
def test_index_offers_every_conflicting_pair(
    store: SqliteStore, lat: float, az: float, radius: float, gap: float, separation: float
) -> None:
    """Two circles that the domain finds in conflict: the store must offer one to the other."""
    rules = Rules(horizontal_separation_m=separation)
    lon2, lat2, _ = fwd(30.0, lat, az, 2 * radius + gap)
    va, vb = volume(circle(30.0, lat, radius)), volume(circle(lon2, lat2, radius))
    pa = placed(f"ntf-{uuid.uuid4().hex}", "pty-x", va)
    pb = placed(f"ntf-{uuid.uuid4().hex}", "pty-y", vb)
    assert find_conflicts([pa], [pb], rules), "the domain finds this conflict"
    mechanism, stamp = f"mec-{uuid.uuid4().hex}", NOW.isoformat()
    with store.write() as tx:
        tx.insert_mechanism(
            {
                "id": mechanism,
                "name": "pair",
                "area_json": None,
                "rules_json": json.dumps(rules.to_json()),
                "created_at": stamp,
            }
        )
        for party in ("pty-x", "pty-y"):
            if tx.party(party) is None:
                tx.insert_party(
                    {
                        "id": party,
                        "name": party,
                        "code": party.upper(),
                        "contact": "",
                        "created_at": stamp,
                    }
                )
        for p, v in ((pa, va), (pb, vb)):
            row = {
                "id": p.notification_id,
                "mechanism_id": mechanism,
                "party_id": p.party_id,
                "kind": "air",
                "title": "t",
                "reference": "",
                "version": 1,
                "volumes_json": "[]",
                "start_ts": v.window.start.timestamp(),
                "end_ts": v.window.end.timestamp(),
                "late": 0,
                "created_at": stamp,
                "updated_at": stamp,
            }
            tx.insert_notification(row)
            tx.replace_volumes(row, [(p, box_of(v))])
    with store.read() as tx:
        offered = tx.candidates(mechanism, "pty-x", box_of(va).widened(rules))
    assert offered.notification_ids.tolist() == [pb.notification_id]
