"""The demo scenario: a fictional line over northern Syria between two forces and an aid agency."""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from deconfliction.domain.times import format_instant
from deconfliction.runtime import open_context
from deconfliction.services import admin, conflicts, notifications, tokens
from deconfliction.services.context import Actor, Context

out = Console()
err = Console(stderr=True)

AREA = [[35.6, 34.9], [42.4, 34.9], [42.4, 37.4], [35.6, 37.4], [35.6, 34.9]]
PARTIES = [
    ("ARV", "Arvenian Armed Forces", "ARV liaison cell, duty officer, line 1 (+000 555 0101)"),
    ("BEF", "Belmark Expeditionary Force", "BEF coordination desk, line 2 (+000 555 0202)"),
    ("MMR", "Meridian Medical Relief", "MMR humanitarian notification desk (+000 555 0303)"),
]
HOSPITALS = [
    ("Aleppo University Hospital", 37.155, 36.205),
    ("Idlib National Hospital", 36.633, 35.930),
    ("Manbij field hospital", 37.952, 36.527),
    ("Raqqa National Hospital", 39.010, 35.952),
    ("Deir ez-Zor clinic", 40.141, 35.336),
    ("Hasakah hospital", 40.748, 36.502),
    ("Qamishli health centre", 41.221, 37.052),
    ("Kobani hospital", 38.391, 36.891),
]
WEST = (36.2, 35.4, 37.4, 36.6)
EAST = (38.6, 35.0, 41.8, 36.9)


@dataclass
class Scenario:
    ctx: Context
    url: str
    operator_token: str
    mechanism_id: str
    party_tokens: dict[str, str]
    notifications: int
    conflicts: int


def _volume(
    area: dict[str, Any],
    lower: float,
    upper: float,
    start: datetime,
    end: datetime,
    units: str = "m",
) -> dict[str, Any]:
    return {
        "area": area,
        "altitude": {"lower": lower, "upper": upper, "units": units, "reference": "AMSL"},
        "start": format_instant(start),
        "end": format_instant(end),
    }


def _circle(lon: float, lat: float, radius: float) -> dict[str, Any]:
    return {"type": "Circle", "center": [round(lon, 4), round(lat, 4)], "radius": radius}


def _box(lon: float, lat: float, half: float) -> dict[str, Any]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [[[round(x, 4), round(y, 4)] for x, y in ring]]}


def _air_operations(
    rng: random.Random,
    region: tuple[float, float, float, float],
    count: int,
    now: datetime,
    label: str,
) -> list[dict[str, Any]]:
    ops = []
    for i in range(count):
        lon = rng.uniform(region[0], region[2])
        lat = rng.uniform(region[1], region[3])
        start = now + timedelta(hours=rng.randint(3, 70), minutes=rng.choice([0, 15, 30, 45]))
        end = start + timedelta(minutes=rng.choice([45, 90, 120, 180, 240]))
        area = (
            _circle(lon, lat, rng.choice([4000, 6000, 8000]))
            if i % 2
            else _box(lon, lat, rng.choice([0.04, 0.06, 0.08]))
        )
        ops.append(
            {
                "kind": "air",
                "title": f"{label} air operation {i + 1:02d}",
                "reference": f"{label}-ATO-{100 + i}",
                "volumes": [
                    _volume(
                        area,
                        rng.choice([50, 100, 150]),
                        rng.choice([250, 300, 350]),
                        start,
                        end,
                        "FL",
                    )
                ],
            }
        )
    return ops


def _scripted(now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Notifications placed to meet each other: the conflicts a real line would see."""
    tomorrow = (now + timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    return {
        "ARV": [
            {
                "kind": "air",
                "title": "Strike package near Idlib",
                "reference": "ARV-ATO-7",
                "volumes": [
                    _volume(
                        _circle(36.66, 35.95, 9000),
                        0,
                        9000,
                        tomorrow,
                        tomorrow + timedelta(hours=3),
                    )
                ],
            },
            {
                "kind": "air",
                "title": "Reconnaissance over Manbij",
                "reference": "ARV-ATO-8",
                "volumes": [
                    _volume(
                        _box(37.97, 36.55, 0.1),
                        3000,
                        7000,
                        tomorrow + timedelta(hours=2),
                        tomorrow + timedelta(hours=5),
                    )
                ],
            },
        ],
        "BEF": [
            {
                "kind": "air",
                "title": "Combat air patrol, Euphrates bend",
                "reference": "BEF-CAP-3",
                "volumes": [
                    _volume(
                        _circle(38.05, 36.5, 12000),
                        4000,
                        8000,
                        tomorrow + timedelta(hours=4),
                        tomorrow + timedelta(hours=8),
                    )
                ],
            },
            {
                "kind": "ground",
                "title": "Logistics convoy Manbij → Aleppo",
                "reference": "BEF-LOG-11",
                "volumes": [
                    _volume(
                        {
                            "type": "Corridor",
                            "half_width": 750,
                            "line": {
                                "type": "LineString",
                                "coordinates": [
                                    [37.95, 36.53],
                                    [37.6, 36.4],
                                    [37.3, 36.25],
                                    [37.17, 36.2],
                                ],
                            },
                        },
                        0,
                        1500,
                        tomorrow + timedelta(hours=1),
                        tomorrow + timedelta(hours=7),
                    )
                ],
            },
        ],
        "MMR": [
            {
                "kind": "ground",
                "title": "Medical convoy Bab al-Hawa → Aleppo → Manbij",
                "reference": "MMR-CNV-0042",
                "volumes": [
                    _volume(
                        {
                            "type": "Corridor",
                            "half_width": 500,
                            "line": {
                                "type": "LineString",
                                "coordinates": [
                                    [36.67, 36.23],
                                    [36.9, 36.2],
                                    [37.16, 36.21],
                                    [37.55, 36.37],
                                    [37.95, 36.52],
                                ],
                            },
                        },
                        0,
                        1500,
                        tomorrow,
                        tomorrow + timedelta(hours=10),
                    )
                ],
            },
        ],
    }


def _sites(now: datetime) -> list[dict[str, Any]]:
    start = now + timedelta(hours=2)
    return [
        {
            "kind": "site",
            "title": name,
            "reference": f"MMR-SITE-{i + 1:03d}",
            "volumes": [
                _volume(_circle(lon, lat, 400), 0, 15000, start, start + timedelta(days=29))
            ],
        }
        for i, (name, lon, lat) in enumerate(HOSPITALS)
    ]


def build_demo(directory: str, *, seed: int = 7) -> Scenario:
    """Make a fresh demo database under `directory` (replacing an old demo) and fill it."""
    folder = Path(directory)
    if folder.exists():
        shutil.rmtree(folder)
    url = f"sqlite:///{folder / 'demo.db'}"
    ctx, _ = open_context(url)
    now = ctx.now()
    operator_token = tokens.create_operator_token(ctx)
    operator = tokens.authenticate(ctx, operator_token)
    mechanism = admin.create_mechanism(
        ctx,
        operator,
        name="Northern Syria deconfliction line (demo)",
        area={"type": "Polygon", "coordinates": [AREA]},
        rules={
            "horizontal_separation_m": 2000,
            "vertical_separation_m": 300,
            "time_buffer_min": 15,
            "minimum_notice_min": 60,
        },
    )
    party_tokens: dict[str, str] = {}
    actors: dict[str, Actor] = {}
    for code, name, contact in PARTIES:
        party = admin.create_party(ctx, operator, name=name, code=code, contact=contact)
        admin.add_member(ctx, operator, mechanism_id=mechanism["id"], party_id=party["id"])
        token = tokens.create_party_token(ctx, operator, party_id=party["id"], label="demo")
        party_tokens[code] = token["token"]
        actors[code] = tokens.authenticate(ctx, token["token"])
    rng = random.Random(seed)
    bodies = [("MMR", body) for body in _sites(now)]
    for code, scripted in _scripted(now).items():
        bodies += [(code, body) for body in scripted]
    bodies += [("ARV", b) for b in _air_operations(rng, WEST, 12, now, "ARV")]
    bodies += [("BEF", b) for b in _air_operations(rng, EAST, 12, now, "BEF")]
    for code, body in bodies:
        notifications.notify(ctx, actors[code], mechanism_id=mechanism["id"], body=body)
    found = conflicts.list_conflicts(
        ctx, operator, mechanism_id=mechanism["id"], state="open", limit=1000
    )
    return Scenario(
        ctx=ctx,
        url=url,
        operator_token=operator_token,
        mechanism_id=mechanism["id"],
        party_tokens=party_tokens,
        notifications=len(bodies),
        conflicts=len(found),
    )


def print_guide(scenario: Scenario, base_url: str) -> None:
    """The tokens and the first commands to try."""
    out.print(
        f"[bold]Demo mechanism[/] {scenario.mechanism_id}: {scenario.notifications} "
        f"notifications, {scenario.conflicts} open conflicts "
        f"(database {scenario.url}, made {format_instant(datetime.now(UTC))})"
    )
    table = Table("who", "token (demo only; real tokens are shown once)")
    table.add_row("operator", scenario.operator_token)
    for code, token in scenario.party_tokens.items():
        table.add_row(code, token)
    out.print(table)
    arv = scenario.party_tokens["ARV"]
    out.print(
        "[bold]Try[/] (in another terminal, with the virtual environment active):\n"
        f"  export DECONFLICTION_URL={base_url} DECONFLICTION_TOKEN={arv}\n"
        f"  deconfliction conflicts\n"
        f"  deconfliction notifications -m {scenario.mechanism_id}\n"
        f"  deconfliction inbox        # what ARV must acknowledge, with the time left\n"
        f"  deconfliction watch        # the line, live\n"
        f"  deconfliction status {scenario.mechanism_id}\n"
        f"  deconfliction receipt download --out arv.json   # ARV's receipts, kept offline\n"
        f"  curl -s -H 'Authorization: Bearer {arv}' {base_url}/v1/conflicts\n"
        f"  web console: {base_url}/  (paste a token above)\n"
        f"  API docs: {base_url}/docs",
        highlight=False,
        soft_wrap=True,
    )
