"""Pictures of an event: a small thumbnail, and a snapshot with people and zones drawn."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from guardian.records import Box, Keypoint, Track

Image = npt.NDArray[np.uint8]

#: COCO-17 skeleton: pairs of keypoint indices (see records.KEYPOINT_NAMES)
COCO_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (5, 6),
    (5, 7),
    (7, 9),
    (6, 8),
    (8, 10),
    (5, 11),
    (6, 12),
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
)

#: a keypoint is drawn when the model is at least this sure of it
KEYPOINT_MIN_CONF = 0.3

_ZONE_COLOR = (255, 160, 0)  # BGR: light blue
_BOX_COLOR = (0, 0, 255)  # red
_BONE_COLOR = (0, 255, 255)  # yellow


def thumbnail(image: Image, width: int = 320) -> Image:
    """The image scaled to ``width`` pixels wide (never up)."""
    h, w = image.shape[:2]
    if w <= width:
        return image
    height = max(1, round(h * width / w))
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


def scale_tracks(tracks: Sequence[Track], sx: float, sy: float) -> tuple[Track, ...]:
    """``tracks`` with boxes and keypoints scaled by ``sx``, ``sy`` (detect-frame pixels to
    the pixels of a bigger or smaller picture of the same view, e.g. the record stream's)."""
    if sx == 1 and sy == 1:
        return tuple(tracks)
    return tuple(
        dataclasses.replace(
            t,
            box=Box(t.box.x1 * sx, t.box.y1 * sy, t.box.x2 * sx, t.box.y2 * sy),
            keypoints=tuple(Keypoint(k.x * sx, k.y * sy, k.conf) for k in t.keypoints),
        )
        for t in tracks
    )


def scale_polygon(
    polygon: Sequence[tuple[float, float]], sx: float, sy: float
) -> list[tuple[float, float]]:
    """``polygon`` with its points scaled by ``sx``, ``sy``."""
    return [(x * sx, y * sy) for x, y in polygon]


def draw_snapshot(
    image: Image,
    tracks: Sequence[Track],
    zones: Sequence[tuple[str, Sequence[tuple[float, float]]]],
) -> Image:
    """A copy of ``image`` with zones (outlined, lightly filled, named), each person's box
    with its track id, and skeleton (COCO-17 edges between confident keypoints)."""
    out = image.copy()
    overlay = out.copy()
    for _, polygon in zones:
        pts = np.array([[round(x), round(y)] for x, y in polygon], dtype=np.int32)
        cv2.fillPoly(overlay, [pts], _ZONE_COLOR)
    cv2.addWeighted(overlay, 0.2, out, 0.8, 0, dst=out)
    for name, polygon in zones:
        pts = np.array([[round(x), round(y)] for x, y in polygon], dtype=np.int32)
        cv2.polylines(out, [pts], True, _ZONE_COLOR, 2, cv2.LINE_AA)
        x, y = pts[0]
        cv2.putText(out, name, (int(x) + 4, int(y) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    _ZONE_COLOR, 1, cv2.LINE_AA)  # fmt: skip
    for track in tracks:
        b = track.box
        p1, p2 = (round(b.x1), round(b.y1)), (round(b.x2), round(b.y2))
        cv2.rectangle(out, p1, p2, _BOX_COLOR, 2)
        cv2.putText(out, f"#{track.track_id}", (p1[0], max(12, p1[1] - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, _BOX_COLOR, 1, cv2.LINE_AA)  # fmt: skip
        kps = track.keypoints
        for a, c in COCO_EDGES:
            if a < len(kps) and c < len(kps):
                ka, kc = kps[a], kps[c]
                if ka.conf >= KEYPOINT_MIN_CONF and kc.conf >= KEYPOINT_MIN_CONF:
                    cv2.line(out, (round(ka.x), round(ka.y)), (round(kc.x), round(kc.y)),
                             _BONE_COLOR, 2, cv2.LINE_AA)  # fmt: skip
        for kp in kps:
            if kp.conf >= KEYPOINT_MIN_CONF:
                cv2.circle(out, (round(kp.x), round(kp.y)), 3, _BOX_COLOR, -1, cv2.LINE_AA)
    return out


def encode_jpeg(image: Image, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode a JPEG")
    return bytes(buf.tobytes())


def decode_jpeg(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("could not decode a JPEG")
    return np.asarray(image, np.uint8)
