"""A camera's picture with its zones drawn on it (``guardian zones preview``).

:func:`camera_picture` is the camera's latest snapshot, or one frame grabbed from its
source when there is none yet; :func:`draw_zones` draws each zone's polygon, tinted by
kind, with its name.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from guardian.config import SiteBundle
from guardian.config.zones import ZoneConfig
from guardian.snapshots import Snapshots, grab

__all__ = ["KIND_COLORS", "camera_picture", "draw_zones"]

Image = npt.NDArray[np.uint8]

#: zone colours by kind, as (B, G, R); the review page's zone editor uses the same ones
KIND_COLORS: dict[str, tuple[int, int, int]] = {
    "water": (255, 128, 0),
    "deck": (0, 200, 255),
    "pool_area": (255, 0, 200),
    "entry": (0, 220, 0),
    "exit": (0, 0, 255),
    "elevator_floor": (0, 255, 255),
    "room": (200, 200, 0),
    "boundary": (60, 60, 255),
    "other": (200, 200, 200),
}


def camera_picture(bundle: SiteBundle, camera: str, snapshots: Snapshots) -> Image | None:
    """The camera's latest snapshot, else a frame from its source; None when neither exists."""
    image = snapshots.latest(camera)
    if image is not None:
        return image
    return grab(camera, bundle.camera(camera).source)


def hex_color(kind: str) -> str:
    """The kind's colour as ``#rrggbb`` (for SVG)."""
    b, g, r = KIND_COLORS.get(kind, KIND_COLORS["other"])
    return f"#{r:02x}{g:02x}{b:02x}"


def draw_zones(image: Image, zones: Sequence[ZoneConfig]) -> Image:
    """A copy of ``image`` with each zone's polygon tinted, outlined and named."""
    height, width = image.shape[:2]
    out = image.copy()
    tint = image.copy()
    scale = max(width, height) / 1000.0
    thickness = max(2, round(3 * scale))
    for zone in zones:
        color = KIND_COLORS.get(zone.kind, KIND_COLORS["other"])
        points = np.array(
            [[round(x), round(y)] for x, y in zone.polygon_px(width, height)], dtype=np.int32
        )
        cv2.fillPoly(tint, [points], color)
    out = np.asarray(cv2.addWeighted(tint, 0.25, out, 0.75, 0.0), dtype=np.uint8)
    for zone in zones:
        color = KIND_COLORS.get(zone.kind, KIND_COLORS["other"])
        pixels = zone.polygon_px(width, height)
        points = np.array([[round(x), round(y)] for x, y in pixels], dtype=np.int32)
        cv2.polylines(out, [points], True, color, thickness, cv2.LINE_AA)
        for x, y in pixels:
            cv2.circle(out, (round(x), round(y)), thickness + 2, color, -1, cv2.LINE_AA)
        cx = round(sum(x for x, _ in pixels) / len(pixels))
        cy = round(sum(y for _, y in pixels) / len(pixels))
        font_scale = max(0.5, 0.8 * scale)
        label = f"{zone.name} ({zone.kind})"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        origin = (max(0, min(width - tw, cx - tw // 2)), max(th, min(height - 2, cy)))
        cv2.putText(
            out,
            label,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            thickness + 2,
            cv2.LINE_AA,
        )
        cv2.putText(
            out,
            label,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            max(1, thickness - 1),
            cv2.LINE_AA,
        )
    return np.asarray(out, dtype=np.uint8)
