"""The zone editor and ``guardian zones preview``: a zone's polygon moved in the file it
came from with comments and the other zones byte-identical (ruamel.yaml round-trip), a
bad polygon refused with the file untouched, the editor's POST (CSRF) over real HTTP, a
point dragged in Chromium, the preview picture's pixels, and the snapshots it draws on."""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser import chromium, poll, require_browser, save_screenshot
from reviewsite import PASSWORD, Client, Night, build_night, make_mp4, site_file, start_server

from guardian.cli.zones import add_zones_commands
from guardian.config import load_site
from guardian.review.server import ReviewServer
from guardian.snapshots import Snapshots
from guardian.zone_editor import ZoneEditError, ZoneEditor, site_zone_files

ZONES = """\
# Zones of the test site.
# Coordinates are fractions unless a zone says 'units: px'.

zones:
  # The water: hips tested.
  - name: water
    camera: pool
    kind: water
    polygon: [[0.20, 0.45], [0.80, 0.45], [0.85, 0.90], [0.15, 0.90]]   # the basin
    anchor: hips
    inertia: 3               # frames in a row

  # The deck, in pixels of a 640x480 frame.
  - name: deck
    camera: pool
    kind: deck
    units: px
    polygon:
      - [10, 10]    # top left
      - [630, 10]
      - [630, 200]
      - [10, 200]
    description: "Deck, 'quoted' on purpose"

  - name: gate_way
    camera: gate
    kind: entry
    polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
"""


def _site(root: Path) -> Path:
    config = site_file(root, extra="zones: [zones.yaml]\n")
    (root / "zones.yaml").write_text(ZONES)
    return config


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.fixture
def editor(tmp_path: Path) -> ZoneEditor:
    bundle = load_site(_site(tmp_path))
    return ZoneEditor(site_zone_files(bundle), bundle.site.camera_ids)


def test_a_moved_polygon_keeps_comments_and_the_other_zones(
    editor: ZoneEditor, tmp_path: Path
) -> None:
    path = tmp_path / "zones.yaml"
    placed = editor.move(
        "pool", "water", [(100, 200), (500, 200), (544, 432), (96, 432)], width=640, height=480
    )
    assert placed.file == path and placed.zone.polygon[0] == (0.1562, 0.4167)
    after = path.read_text()
    assert _changed_lines(ZONES, after) == [
        "-    polygon: [[0.20, 0.45], [0.80, 0.45], [0.85, 0.90], [0.15, 0.90]]   # the basin",
        # the unchanged points are written as they were; the comment moves one space
        # from the longer line
        "+    polygon: [[0.1562, 0.4167], [0.7812, 0.4167], [0.85, 0.90], [0.15, 0.90]] # the basin",
    ]
    # a zone in pixels stays in pixels, its block style and comments too
    editor.move("pool", "deck", [(12, 14), (630, 10), (630, 200.25), (10, 200)], 1280, 960)
    deck = _changed_lines(after, path.read_text())
    assert deck == [
        "-      - [10, 10]    # top left",
        "+      - [12, 14]    # top left",
        "-      - [630, 200]",
        "+      - [630, 200.2]",
    ]
    assert "\"Deck, 'quoted' on purpose\"" in path.read_text()
    assert [z.zone.name for z in editor.zones("pool")] == ["water", "deck"]


@pytest.mark.parametrize(
    ("points", "problem"),
    [
        ([(0, 0), (640, 480), (640, 0), (0, 480)], "not valid"),  # a bow tie: edges cross
        ([(0, 0), (700, 0), (640, 480)], "outside 0..1"),  # off the picture
        ([(0, 0), (320, 240), (640, 480)], "zero area"),  # on one line
    ],
    ids=["crossing", "outside", "flat"],
)
def test_a_bad_polygon_is_refused_and_the_file_untouched(
    editor: ZoneEditor, tmp_path: Path, points: list[tuple[float, float]], problem: str
) -> None:
    path = tmp_path / "zones.yaml"
    stamp = path.stat().st_mtime_ns
    with pytest.raises(ZoneEditError, match=problem):
        editor.move("pool", "water", points, width=640, height=480)
    assert path.read_text() == ZONES and path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    with pytest.raises(ZoneEditError, match="no zone 'pier'"):
        editor.move("pool", "pier", [(0, 0), (10, 0), (10, 10)], 640, 480)


@pytest.fixture
def zone_night(tmp_path: Path) -> Iterator[Night]:
    _site(tmp_path / "site")  # writes zones.yaml; build_night rewrites the site file
    built = build_night(tmp_path / "site", make_mp4(tmp_path / "sample.mp4", seconds=1))
    config = site_file(tmp_path / "site", extra="zones: [zones.yaml]\n")
    built.bundle = load_site(config)
    yield built
    built.store.close()


@pytest.fixture
def server(zone_night: Night) -> Iterator[ReviewServer]:
    srv = start_server(zone_night)
    yield srv
    srv.shutdown()


def test_saving_over_http_needs_login_and_the_csrf_token(
    server: ReviewServer, zone_night: Night
) -> None:
    path = zone_night.bundle.base_dir / "zones.yaml"
    client = Client(server.url)
    body = {
        "zone": "water",
        "points": [[100, 200], [500, 200], [544, 432], [96, 432]],
        "width": 640,
        "height": 480,
    }
    assert client.send_json("POST", "/zones/pool", body).status == 403  # no login
    assert client.get("/zones/pool").status == 302
    client.login()
    page = client.get("/zones/pool")
    assert (
        page.status == 200
        and 'id="zone-water"' in page.text
        and 'id="zone-gate_way"' not in page.text
    )
    assert "script-src 'self'" in page.headers["content-security-policy"]
    token = client.csrf("/zones/pool")
    origin = {"Origin": client.origin}
    for headers in (
        origin,
        {**origin, "X-CSRF-Token": "forged"},
        {"Origin": "http://evil.example", "X-CSRF-Token": token},
    ):
        reply = client.send_json("POST", "/zones/pool", body, headers=headers)
        assert reply.status == 403 and reply.json["error"], headers
    assert path.read_text() == ZONES
    good = {**origin, "X-CSRF-Token": token}
    bad = client.send_json(
        "POST",
        "/zones/pool",
        {**body, "points": [[0, 0], [640, 480], [640, 0], [0, 480]]},
        headers=good,
    )
    assert bad.status == 422 and "not valid" in bad.json["error"]
    assert path.read_text() == ZONES
    assert client.send_json("POST", "/zones/pool", {**body, "extra": 1}, headers=good).status == 422
    assert client.send_json("POST", "/zones/nope", body, headers=good).status == 404
    saved = client.send_json("POST", "/zones/pool", body, headers=good)
    assert saved.status == 200, saved.text
    assert saved.json["file"] == "zones.yaml" and saved.json["units"] == "fraction"
    assert "[[0.1562, 0.4167], [0.7812, 0.4167]" in path.read_text()
    assert len(_changed_lines(ZONES, path.read_text())) == 2


def test_a_point_dragged_in_chromium_is_saved_to_the_file(
    server: ReviewServer, zone_night: Night
) -> None:
    require_browser()
    path = zone_night.bundle.base_dir / "zones.yaml"
    picture = np.full((480, 640, 3), 90, dtype=np.uint8)
    cv2.rectangle(picture, (100, 200), (540, 430), (200, 120, 40), -1)
    assert server.app.snapshots.save("pool", picture, 0.0)
    with chromium() as driver:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        driver.get(server.url + "/login?next=/zones/pool")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()
        handle = poll(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#zone-water circle.handle"),
            what="the water zone's handles",
        )[0]
        # the snapshot is drawn under the zones, at its own size
        assert (
            driver.execute_script(
                "return document.querySelector('#editor image').getAttribute('href')"
            )
            == "/zones/pool/picture"
        )
        scale = driver.execute_script(
            "const r = document.getElementById('editor').getBoundingClientRect();"
            "return r.width / 640;"
        )
        ActionChains(driver).click_and_hold(handle).move_by_offset(
            round(40 * scale), round(24 * scale)
        ).release().perform()
        status = poll(
            lambda: (t := driver.find_element(By.ID, "zone-status").text).startswith("saved") and t,
            what="the zone to be saved",
        )
        assert status == "saved water to zones.yaml"
        save_screenshot(driver, "zone-editor.png")
    changed = _changed_lines(ZONES, path.read_text())
    assert len(changed) == 2 and changed[1].startswith("+    polygon: [[0.2")
    moved = load_site(zone_night.bundle.path).zones_for("pool")[0].polygon[0]
    assert moved != (0.2, 0.45) and abs(moved[0] - (128 + 40) / 640) < 0.02
    assert abs(moved[1] - (216 + 24) / 480) < 0.02


def test_zones_preview_writes_the_picture_with_the_polygons(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    assert cv2.imwrite(str(frames / "0001.png"), np.full((480, 640, 3), 128, dtype=np.uint8))
    config = tmp_path / "guardian.yaml"
    config.write_text(
        "cameras:\n  - id: pool\n    source: frames\n  - id: gate\n    source: frames\n"
        "zones: [zones.yaml]\n"
    )
    (tmp_path / "zones.yaml").write_text(ZONES)
    parser = argparse.ArgumentParser()
    add_zones_commands(parser.add_subparsers())
    out = tmp_path / "preview.png"
    args = parser.parse_args(
        ["zones", "preview", "pool", "--config", str(config), "--out", str(out)]
    )
    assert args.func(args) == 0
    image = cv2.imread(str(out))
    assert image.shape == (480, 640, 3)
    water = (255, 128, 0)  # BGR of kind "water"
    corner = image[216, 128]  # the first point of the water polygon: a filled handle
    assert np.abs(corner.astype(int) - water).max() < 40, corner
    inside = image[300, 320].astype(int)  # tinted by a quarter of the colour
    assert np.abs(inside - (0.25 * np.array(water) + 0.75 * 128)).max() < 12, inside
    assert tuple(image[470, 630]) == (128, 128, 128)  # outside every zone: untouched
    deck_edge = image[10, 320].astype(int)  # the deck's top edge, in pixels
    assert np.abs(deck_edge - (0, 200, 255)).max() < 60, deck_edge
    # an unknown camera is a usage error
    args = parser.parse_args(
        ["zones", "preview", "pier", "--config", str(config), "--out", str(out)]
    )
    assert args.func(args) == 2
    # the real command line, in a child process
    jpeg = tmp_path / "gate.jpg"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "guardian",
            "zones",
            "preview",
            "gate",
            "--config",
            str(config),
            "--out",
            str(jpeg),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{jpeg}: 1 zone(s) on gate"
    gate = cv2.imread(str(jpeg))
    assert np.abs(gate[48, 64].astype(int) - (0, 220, 0)).max() < 60  # the entry's corner


def test_snapshots_are_atomic_rate_limited_and_read_back(tmp_path: Path) -> None:
    snaps = Snapshots(tmp_path / "snaps", every=60.0)
    assert snaps.latest("pool") is None and snaps.latest_jpeg("pool") is None
    red = np.full((60, 80, 3), (0, 0, 255), dtype=np.uint8)
    blue = np.full((60, 80, 3), (255, 0, 0), dtype=np.uint8)
    assert snaps.save("pool", red, now=1000.0)
    assert not snaps.save("pool", blue, now=1030.0)  # less than a minute later
    first = snaps.latest("pool")
    assert first is not None and first.shape == (60, 80, 3) and first[30, 40, 2] > 200
    assert snaps.save("pool", blue, now=1061.0)
    second = snaps.latest("pool")
    assert second is not None and second[30, 40, 0] > 200
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == ["pool.jpg"]
    with pytest.raises(ValueError):
        snaps.path("../guardian")
