"""``make demo``: a short synthetic pool scene, built from photos that ship inside the
ultralytics package, run through the real pipeline with the example zones and rules.

The scene (written to ``<workdir>/scene.mp4``, 640×480, 10 fps, 9 s): a drawn pool deck
with a blue water area on the right. Two people are cut out of ultralytics' sample
photos with the real pose model's boxes (a soft oval around each, so some of the
original photo shows): the man on the left of ``bus.jpg`` walks from the deck into the
water zone, and the man on the right of ``zidane.jpg`` stands still at the far edge of
the deck. The example rule ``rules/demo.yaml`` fires once, when the walker enters.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from guardian.detection import PoseDetector

Image = npt.NDArray[np.uint8]
WIDTH, HEIGHT, FPS, SECONDS = 640, 480, 10, 9
REPO = Path(__file__).resolve().parents[1]


def sample_photo(name: str) -> Path:
    """A sample photo shipped inside the installed ultralytics wheel."""
    path = Path(
        str(
            importlib.metadata.distribution("ultralytics").locate_file(f"ultralytics/assets/{name}")
        )
    )
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall ultralytics")
    return path


def background() -> Image:
    """A drawn pool deck: wall, tiles, and water on the right."""
    img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    img[:] = (178, 196, 206)  # deck, BGR
    img[:130] = (215, 215, 210)  # wall
    cv2.line(img, (0, 130), (WIDTH, 130), (120, 120, 120), 3)
    for x in range(0, WIDTH, 40):
        cv2.line(img, (x, 130), (x, HEIGHT), (160, 176, 186), 1)
    for y in range(130, HEIGHT, 40):
        cv2.line(img, (0, y), (WIDTH, y), (160, 176, 186), 1)
    water = np.array([[340, 250], [630, 250], [630, 475], [340, 475]], np.int32)
    cv2.fillPoly(img, [water], (190, 140, 40))
    rng = np.random.default_rng(7)
    for _ in range(60):  # ripples
        x, y = int(rng.integers(350, 620)), int(rng.integers(260, 470))
        cv2.ellipse(img, (x, y), (int(rng.integers(8, 25)), 3), 0, 0, 360, (215, 175, 90), 1)
    cv2.polylines(img, [water], True, (245, 245, 245), 4)  # coping
    return img


def cutout(photo: Path, detector: PoseDetector, pick: str) -> tuple[Image, npt.NDArray[np.float32]]:
    """The person's box from the photo and a feathered oval alpha mask for it."""
    raw = cv2.imread(str(photo))
    if raw is None:
        raise FileNotFoundError(f"cannot read {photo}")
    image: Image = np.asarray(raw, np.uint8)
    people = [d for d in detector.detect(image) if d.score > 0.5]
    if not people:
        raise RuntimeError(f"the pose model found nobody in {photo}")
    chosen = (
        min(people, key=lambda d: d.box.x1)
        if pick == "left"
        else max(people, key=lambda d: d.box.x2)
    )
    b = chosen.box
    crop: Image = image[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)].copy()
    h, w = crop.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.48), int(h * 0.5)), 0, 0, 360, 1.0, -1)
    blurred = np.asarray(cv2.GaussianBlur(mask, (0, 0), max(2.0, w * 0.04)), np.float32)
    return crop, blurred


def paste(
    frame: Image, crop: Image, mask: npt.NDArray[np.float32], feet: tuple[int, int], height: int
) -> None:
    """Paste a person so that the bottom-centre of their box is at ``feet``."""
    scale = height / crop.shape[0]
    w = max(1, int(crop.shape[1] * scale))
    person = cv2.resize(crop, (w, height), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(mask, (w, height))[..., None]
    x0, y0 = feet[0] - w // 2, feet[1] - height
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(WIDTH, x0 + w), min(HEIGHT, y0 + height)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sub = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    blended = region * (1 - alpha[sub]) + person[sub].astype(np.float32) * alpha[sub]
    frame[fy0:fy1, fx0:fx1] = blended.astype(np.uint8)


def build_scene(path: Path, detector: PoseDetector) -> Path:
    """Write the demo video; returns its path."""
    walker, walker_mask = cutout(sample_photo("bus.jpg"), detector, "left")
    stander, stander_mask = cutout(sample_photo("zidane.jpg"), detector, "right")
    base = background()
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    frames = FPS * SECONDS
    for i in range(frames):
        frame = base.copy()
        paste(frame, stander, stander_mask, (585, 235), 190)
        progress = min(1.0, max(0.0, (i - 10) / (frames - 20)))  # stands 1 s, walks 7 s, stops
        x = int(90 + progress * (450 - 90))
        paste(frame, walker, walker_mask, (x, 455 + int(4 * np.sin(i * 1.3))), 270)
        writer.write(frame)
    writer.release()
    return path


SITE = """\
# Written by 'guardian demo': the built-in demo site.
site:
  name: Demo pool (synthetic scene)
cameras:
  - id: demo
    source: {scene}
    fps: {fps}
zones: [{zones}]
rules: [{rules}]
storage:
  database: guardian.db
  clips: clips
  models: {models}
"""


class DemoError(RuntimeError):
    """The demo cannot be built here (its zone and rule files are missing)."""


def demo_files() -> tuple[Path, Path]:
    """The example zone and rule files the demo uses (DemoError when missing)."""
    zones, rules = REPO / "zones" / "demo.yaml", REPO / "rules" / "demo.yaml"
    if not zones.is_file() or not rules.is_file():
        raise DemoError(f"the demo needs {zones} and {rules}: run it from a Guardian checkout")
    return zones, rules


def clear_demo(workdir: Path) -> None:
    """Remove an earlier demo run's database and clips from ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("guardian.db", "guardian.db-wal", "guardian.db-shm"):
        (workdir / stale).unlink(missing_ok=True)
    shutil.rmtree(workdir / "clips", ignore_errors=True)


def write_demo_site(workdir: Path, zones: Path, rules: Path) -> Path:
    """Build the scene in ``workdir`` and write its site file; returns the site file."""
    models = REPO / "models"
    detector = PoseDetector(models_dir=models, imgsz=640)
    scene = build_scene(workdir / "scene.mp4", detector)
    site = workdir / "guardian.yaml"
    site.write_text(SITE.format(scene=scene, fps=FPS, zones=zones, rules=rules, models=models))
    return site


__all__ = ["DemoError", "build_scene", "clear_demo", "demo_files", "write_demo_site"]
