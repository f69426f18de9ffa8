"""What a person looks like in one sighting: clothes colours, body proportions, embedding.

* **Colours**: an HSV histogram (hue × saturation, plus a few value bins for black,
  grey and white clothes) of the torso (the quadrilateral shoulders → hips) and of the
  legs (strips along hip → knee → ankle), sampled where the keypoints are, so the
  background inside the box counts little. Without keypoints, fixed bands of the box.
* **Proportions**: ratios of vertical body segments from the keypoints (torso length
  over leg length, upper over lower leg, head-to-shoulder over torso): they do not
  depend on distance and change little with the view.
* **Embedding**: the MobileNetV2 vector of :mod:`guardian.identity.embedder` (optional).

Distances between two :class:`Appearance` values are in 0..1 (0: identical).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from guardian.records import Box, Keypoint

FloatArray = npt.NDArray[np.float32]

#: keypoints below this confidence are not used
MIN_CONF = 0.4
_H_BINS, _S_BINS, _V_BINS = 12, 4, 4
#: pixels whose saturation is below this are "grey": binned by value, not hue
_GREY_S = 40
HIST_SIZE = _H_BINS * _S_BINS + _V_BINS

# COCO indices
_NOSE, _L_SH, _R_SH, _L_HIP, _R_HIP, _L_KNEE, _R_KNEE, _L_ANK, _R_ANK = (
    0,
    5,
    6,
    11,
    12,
    13,
    14,
    15,
    16,
)


@dataclass(frozen=True, slots=True)
class Appearance:
    """One sighting's look. Arrays are read-only by convention (never mutated)."""

    torso: FloatArray | None = field(repr=False)
    legs: FloatArray | None = field(repr=False)
    proportions: FloatArray | None = field(repr=False)
    embedding: FloatArray | None = field(default=None, repr=False)


def _point(kps: Sequence[Keypoint], i: int) -> tuple[float, float] | None:
    k = kps[i] if i < len(kps) else None
    return (k.x, k.y) if k is not None and k.conf >= MIN_CONF else None


def _histogram(hsv: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8]) -> FloatArray | None:
    """Normalised hue×saturation histogram of the coloured pixels + value bins of the grey."""
    pixels = hsv[mask > 0]
    if len(pixels) < 30:
        return None
    h = pixels[:, 0].astype(np.int32)
    s = pixels[:, 1].astype(np.int32)
    v = pixels[:, 2].astype(np.int32)
    grey = s < _GREY_S
    out = np.zeros(HIST_SIZE, np.float32)
    coloured = ~grey
    hb = np.minimum(h[coloured] * _H_BINS // 180, _H_BINS - 1)
    sb = np.minimum((s[coloured] - _GREY_S) * _S_BINS // (256 - _GREY_S), _S_BINS - 1)
    np.add.at(out, hb * _S_BINS + sb, 1.0)
    vb = np.minimum(v[grey] * _V_BINS // 256, _V_BINS - 1)
    np.add.at(out, _H_BINS * _S_BINS + vb, 1.0)
    normalised: FloatArray = out / out.sum()
    return normalised


def _torso_mask(shape: tuple[int, int], kps: Sequence[Keypoint], box: Box) -> npt.NDArray[np.uint8]:
    mask = np.zeros(shape, np.uint8)
    corners = [_point(kps, i) for i in (_L_SH, _R_SH, _R_HIP, _L_HIP)]
    if all(c is not None for c in corners):
        pts = np.array(corners, np.float32)
        centre = pts.mean(axis=0)
        pts = centre + 0.8 * (pts - centre)  # stay inside the body's outline
        cv2.fillConvexPoly(mask, pts.round().astype(np.int32), 255)
        if cv2.countNonZero(mask) >= 30:
            return mask
        mask[:] = 0
    # no keypoints: a band of the box, narrower than it
    x1 = int(box.x1 + 0.3 * box.width)
    x2 = int(box.x2 - 0.3 * box.width)
    y1 = int(box.y1 + 0.2 * box.height)
    y2 = int(box.y1 + 0.5 * box.height)
    mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = 255
    return mask


def _legs_mask(shape: tuple[int, int], kps: Sequence[Keypoint], box: Box) -> npt.NDArray[np.uint8]:
    mask = np.zeros(shape, np.uint8)
    thickness = max(3, int(0.08 * box.height))
    drawn = False
    for a, b in ((_L_HIP, _L_KNEE), (_R_HIP, _R_KNEE), (_L_KNEE, _L_ANK), (_R_KNEE, _R_ANK)):
        pa, pb = _point(kps, a), _point(kps, b)
        if pa is None or pb is None:
            continue
        # the middle of the segment: joints are where limbs cross and background shows
        qa = (pa[0] + 0.15 * (pb[0] - pa[0]), pa[1] + 0.15 * (pb[1] - pa[1]))
        qb = (pa[0] + 0.85 * (pb[0] - pa[0]), pa[1] + 0.85 * (pb[1] - pa[1]))
        cv2.line(mask, (round(qa[0]), round(qa[1])), (round(qb[0]), round(qb[1])), 255, thickness)
        drawn = True
    if drawn and cv2.countNonZero(mask) >= 30:
        return mask
    mask[:] = 0
    x1 = int(box.x1 + 0.3 * box.width)
    x2 = int(box.x2 - 0.3 * box.width)
    y1 = int(box.y1 + 0.6 * box.height)
    y2 = int(box.y1 + 0.9 * box.height)
    mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = 255
    return mask


def colours(
    image: npt.NDArray[np.uint8], box: Box, keypoints: Sequence[Keypoint]
) -> tuple[FloatArray | None, FloatArray | None]:
    """(torso, legs) HSV histograms, each None when too little of it is visible."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box.x1) - 2), max(0, int(box.y1) - 2)
    x2, y2 = min(w, int(box.x2) + 3), min(h, int(box.y2) + 3)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None, None
    part = image[y1:y2, x1:x2]
    hsv: npt.NDArray[np.uint8] = np.asarray(cv2.cvtColor(part, cv2.COLOR_BGR2HSV), np.uint8)
    local = tuple(Keypoint(k.x - x1, k.y - y1, k.conf) for k in keypoints)
    lbox = Box(box.x1 - x1, box.y1 - y1, box.x2 - x1, box.y2 - y1)
    shape = (y2 - y1, x2 - x1)
    return (
        _histogram(hsv, _torso_mask(shape, local, lbox)),
        _histogram(hsv, _legs_mask(shape, local, lbox)),
    )


def _mid(kps: Sequence[Keypoint], a: int, b: int) -> tuple[float, float] | None:
    pa, pb = _point(kps, a), _point(kps, b)
    if pa is None and pb is None:
        return None
    if pa is None or pb is None:
        return pa or pb
    return ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)


def _dist(p: tuple[float, float] | None, q: tuple[float, float] | None) -> float | None:
    if p is None or q is None:
        return None
    return float(np.hypot(p[0] - q[0], p[1] - q[1]))


def proportions(keypoints: Sequence[Keypoint]) -> FloatArray | None:
    """(torso / leg, thigh / shin) from the keypoints; None unless the body is upright
    and seen from shoulders to ankles (a seated or lying body says nothing here)."""
    if len(keypoints) < 17:
        return None
    shoulder = _mid(keypoints, _L_SH, _R_SH)
    hip = _mid(keypoints, _L_HIP, _R_HIP)
    knee = _mid(keypoints, _L_KNEE, _R_KNEE)
    ankle = _mid(keypoints, _L_ANK, _R_ANK)
    torso, thigh, shin = _dist(shoulder, hip), _dist(hip, knee), _dist(knee, ankle)
    if torso is None or thigh is None or shin is None or min(torso, thigh, shin) < 5:
        return None
    assert shoulder is not None and ankle is not None and hip is not None and knee is not None
    # upright: shoulders above hips above knees above ankles
    if not shoulder[1] < hip[1] < knee[1] < ankle[1]:
        return None
    return np.array([torso / (thigh + shin), thigh / shin], np.float32)


def describe(
    image: npt.NDArray[np.uint8],
    box: Box,
    keypoints: Sequence[Keypoint],
    embedding: FloatArray | None = None,
) -> Appearance:
    """One sighting's :class:`Appearance` (the embedding computed by the caller)."""
    torso, legs = colours(image, box, keypoints)
    return Appearance(torso, legs, proportions(keypoints), embedding)


# --------------------------------------------------------------------------- distances


def hist_distance(a: FloatArray, b: FloatArray) -> float:
    """Hellinger (Bhattacharyya) distance of two normalised histograms: 0..1."""
    bc = float(np.sum(np.sqrt(a * b)))
    return float(np.sqrt(max(0.0, 1.0 - bc)))


def colour_distance(a: Appearance, b: Appearance) -> float | None:
    """Mean of the torso and legs distances that both sightings have."""
    parts = [
        hist_distance(x, y)
        for x, y in ((a.torso, b.torso), (a.legs, b.legs))
        if x is not None and y is not None
    ]
    return sum(parts) / len(parts) if parts else None


def embedding_distance(a: Appearance, b: Appearance) -> float | None:
    """Cosine distance of the embeddings (0..1 for these non-negative features)."""
    if a.embedding is None or b.embedding is None:
        return None
    if not a.embedding.any() or not b.embedding.any():
        return None
    return float(np.clip(1.0 - float(a.embedding @ b.embedding), 0.0, 1.0))


def proportion_distance(a: Appearance, b: Appearance) -> float | None:
    """Relative difference of the proportions, scaled so 25 % apart is 1."""
    if a.proportions is None or b.proportions is None:
        return None
    rel = np.abs(a.proportions - b.proportions) / np.maximum(
        np.abs(a.proportions) + np.abs(b.proportions), 1e-6
    )
    return float(min(1.0, 2.0 * float(rel.mean()) / 0.25))
