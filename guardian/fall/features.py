"""Per-frame skeleton features for the learned fall model: normalised and camera-free.

One :class:`FeatureTrack` per person. :meth:`FeatureTrack.observe` takes the person's box
and COCO-17 keypoints of one frame and returns one feature vector (:data:`FEATURES`
names its columns). Everything is expressed so that it does not depend on where the
camera is or how far the person is from it:

* **translation**: positions are taken relative to the person's own mid-hip (or box top
  for the drop features), never in image coordinates;
* **scale**: lengths are fractions of the person's *upright reference height* ``H``, the
  tallest box of the frames in the last ``reference_span`` s in which the person stood
  upright (:func:`guardian.pose.classify` says STANDING); with no upright frame yet, the
  body's own size (the longer box side);
* **missing joints**: a keypoint below ``min_conf`` is unseen; every feature built from
  unseen joints is set to 0 and a mask column says so (the model sees "not measured",
  never a made-up value);
* **view invariance**: only gravity-aligned quantities (pixel y is "down" for any camera
  that is not upside down): the torso's angle from vertical (left/right mirrored away),
  how far the box top and the hips dropped below their upright level, the vertical speed
  in upright heights per second, the box aspect. These are the same for a lateral and a
  frontal camera up to foreshortening.

Optionally (``skeleton``) the normalised skeleton itself is appended: 13 joints (nose,
shoulders to ankles) relative to the mid-hip in units of ``H``, x mirrored (``|dx|``) so
left and right do not matter, unseen joints 0 -- either as they are (``"plain"``) or
after a 2D orthogonal Procrustes alignment to an upright reference pose
(``"procrustes"``: the rotation that best maps the seen joints onto the reference is
taken out, as the ICIT 2022 elevator paper does in 3D after lifting; we have no 2D→3D
lifting network, so this is the 2D form). ``bench/fall_model.py --features`` compares
them across cameras; the shipped model uses the gravity features alone (the measured
choice: see ``guardian/fall/weights/README.md``).

Speeds are measured over at least ``speed_span`` s of real time, so the features mean
the same at 5 and at 30 fps.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from guardian.pose import classify, measure
from guardian.records import Box, Keypoint, Posture

__all__ = [
    "FEATURES",
    "FeatureTrack",
    "Reference",
    "SkeletonKind",
    "box_from_keypoints",
    "feature_names",
    "skeleton_kind",
]

#: which normalised skeleton is appended to the gravity features
SkeletonKind = Literal["none", "plain", "procrustes"]

#: the columns of a feature vector, in order
FEATURES: tuple[str, ...] = (
    "present",  # 1 for a frame in which the person was seen (0 pads a window)
    "torso_angle",  # degrees from straight up / 90 (0 upright, 1 horizontal, 2 head down)
    "torso_seen",
    "log_aspect",  # log(box width / box height)
    "height",  # box height / H
    "top_drop",  # (box top − upright box top) / H, > 0 lower
    "hip_drop",  # (mid-hip y − upright mid-hip y) / H
    "hip_seen",
    "top_speed",  # box top's downward speed, H per second
    "hip_speed",  # mid-hip's downward speed, H per second
    "thigh_drop",  # (knee y − hip y) / torso length, clipped to −1.5..1.5
    "legs_seen",
    "head_rel",  # (head y − mid-hip y) / H: about −0.45 upright, about 0 lying
    "head_seen",
    "bottom_drop",  # (box bottom − upright box bottom) / H
    "has_ref",  # 1 when an upright reference is known (within `memory` s)
    "ref_age",  # seconds since the reference was refreshed / memory
    "kp_conf",  # mean confidence of the 12 body keypoints
)

_HIPS = (11, 12)
_HEAD = (0, 1, 2, 3, 4)
_BODY = tuple(range(5, 17))
#: the joints of the appended skeleton: nose, shoulders ... ankles
_JOINTS = (0, *range(5, 17))
#: an upright reference pose (x right, y down, units of body height, mid-hip at 0)
_UPRIGHT = np.array(
    [
        (0.0, -0.44),  # nose
        (-0.12, -0.3),
        (0.12, -0.3),
        (-0.15, -0.12),
        (0.15, -0.12),
        (-0.16, 0.02),
        (0.16, 0.02),
        (-0.08, 0.0),
        (0.08, 0.0),
        (-0.08, 0.24),
        (0.08, 0.24),
        (-0.08, 0.48),
        (0.08, 0.48),
    ],
    dtype=np.float64,
)


def feature_names(skeleton: SkeletonKind = "none") -> tuple[str, ...]:
    """The columns of a feature vector with the given appended skeleton."""
    if skeleton == "none":
        return FEATURES
    prefix = "skel" if skeleton == "plain" else "procrustes"
    return FEATURES + tuple(f"{prefix}_{j}_{axis}" for j in _JOINTS for axis in "xy")


def skeleton_kind(names: Sequence[str]) -> SkeletonKind:
    """Which skeleton a model's feature names include (the inverse of :func:`feature_names`)."""
    if any(n.startswith("procrustes_") for n in names):
        return "procrustes"
    if any(n.startswith("skel_") for n in names):
        return "plain"
    return "none"


def _skeleton(
    keypoints: Sequence[Keypoint],
    hip: tuple[float, float],
    size: float,
    kind: SkeletonKind,
    min_conf: float,
) -> npt.NDArray[np.float32]:
    out = np.zeros((len(_JOINTS), 2), dtype=np.float64)
    seen = np.array([keypoints[j].conf >= min_conf for j in _JOINTS])
    for i, j in enumerate(_JOINTS):
        if seen[i]:
            out[i] = ((keypoints[j].x - hip[0]) / size, (keypoints[j].y - hip[1]) / size)
    if kind == "procrustes" and seen.sum() >= 3:
        p, q = out[seen], _UPRIGHT[seen]
        # the rotation R minimising |p R - q|^2 (2D orthogonal Procrustes, no reflection)
        angle = math.atan2(
            float(np.sum(p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0])),
            float(np.sum(p[:, 0] * q[:, 0] + p[:, 1] * q[:, 1])),
        )
        c, s = math.cos(angle), math.sin(angle)
        out = out @ np.array([[c, s], [-s, c]])
        out[~seen] = 0.0
    out[:, 0] = np.abs(out[:, 0])
    return out.reshape(-1).astype(np.float32)


def box_from_keypoints(keypoints: Sequence[Keypoint], min_conf: float = 0.3) -> Box | None:
    """A person box around the seen keypoints (for skeletons that come without a box):
    the keypoints' extent widened by 10 % each side and 12 % above (the top of the head)."""
    xs = [k.x for k in keypoints if k.conf >= min_conf]
    ys = [k.y for k in keypoints if k.conf >= min_conf]
    if len(xs) < 3:
        return None
    w = max(xs) - min(xs)
    h = max(ys) - min(ys)
    size = max(w, h, 1.0)
    return Box(
        min(xs) - 0.1 * w - 0.02 * size,
        min(ys) - 0.12 * h - 0.02 * size,
        max(xs) + 0.1 * w + 0.02 * size,
        max(ys) + 0.04 * h + 0.02 * size,
    )


def _mean(keypoints: Sequence[Keypoint], idx: tuple[int, ...], min_conf: float) -> float | None:
    ys = [keypoints[i].y for i in idx if keypoints[i].conf >= min_conf]
    return sum(ys) / len(ys) if ys else None


def _mean_xy(
    keypoints: Sequence[Keypoint], idx: tuple[int, ...], min_conf: float
) -> tuple[float, float] | None:
    pts = [(keypoints[i].x, keypoints[i].y) for i in idx if keypoints[i].conf >= min_conf]
    if not pts:
        return None
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))


@dataclass(frozen=True, slots=True)
class Reference:
    """The person's upright size and level, from the STANDING frames of the last second."""

    t: float
    height: float
    top: float
    bottom: float
    hip_y: float | None


class _Sample:
    __slots__ = ("bottom", "height", "hip_y", "standing", "t", "top")

    def __init__(
        self, t: float, top: float, bottom: float, hip_y: float | None, standing: bool
    ) -> None:
        self.t = t
        self.top = top
        self.bottom = bottom
        self.height = bottom - top
        self.hip_y = hip_y
        self.standing = standing


class FeatureTrack:
    """The feature extractor of one person: keeps their recent samples and upright level."""

    def __init__(
        self,
        *,
        skeleton: SkeletonKind = "none",
        min_conf: float = 0.3,
        memory: float = 4.0,
        reference_span: float = 1.0,
        speed_span: float = 0.2,
    ) -> None:
        self.skeleton: SkeletonKind = skeleton
        self.names = feature_names(skeleton)
        self.min_conf = min_conf
        self.memory = memory
        self.reference_span = reference_span
        self.speed_span = speed_span
        self.samples: deque[_Sample] = deque(maxlen=512)
        self.ref: Reference | None = None
        #: the raw (unsmoothed) posture of the last observed frame
        self.raw = Posture.UNKNOWN

    def copy(self) -> FeatureTrack:
        """An independent copy (a track handed on to a new one keeps its history)."""
        out = FeatureTrack(
            skeleton=self.skeleton,
            min_conf=self.min_conf,
            memory=self.memory,
            reference_span=self.reference_span,
            speed_span=self.speed_span,
        )
        out.samples = deque(self.samples, maxlen=512)
        out.ref = self.ref
        out.raw = self.raw
        return out

    def observe(
        self,
        t: float,
        box: Box,
        keypoints: Sequence[Keypoint],
        frame_height: int | None = None,
    ) -> npt.NDArray[np.float32]:
        """The feature vector of this frame (see :data:`FEATURES`)."""
        m = measure(box, keypoints, self.min_conf, frame_height)
        raw, _ = classify(m)
        hip_y = m.hip_y
        standing = raw is Posture.STANDING
        self.raw = raw
        sample = _Sample(t, box.y1, box.y2, hip_y, standing)
        while self.samples and t - self.samples[0].t > self.memory:
            self.samples.popleft()
        if standing:
            self._refresh(sample)
        ref = self.ref if self.ref is not None and t - self.ref.t <= self.memory else None
        size = ref.height if ref is not None else max(m.height, m.width, 1.0)
        f = np.zeros(len(self.names), dtype=np.float32)
        f[0] = 1.0
        if m.torso_angle is not None:
            f[1] = m.torso_angle / 90.0
            f[2] = 1.0
        f[3] = math.log(max(m.aspect, 1e-3))
        f[4] = m.height / size
        if ref is not None:
            f[5] = (box.y1 - ref.top) / size
            f[14] = (box.y2 - ref.bottom) / size
            f[15] = 1.0
            f[16] = (t - ref.t) / self.memory
            if hip_y is not None and ref.hip_y is not None:
                f[6] = (hip_y - ref.hip_y) / size
                f[7] = 1.0
        old = self._span_back(t)
        if old is not None:
            dt = t - old.t
            f[8] = (box.y1 - old.top) / (size * dt)
            if hip_y is not None and old.hip_y is not None:
                f[9] = (hip_y - old.hip_y) / (size * dt)
        if m.thigh_drop is not None:
            f[10] = max(-1.5, min(1.5, m.thigh_drop))
            f[11] = 1.0
        head = _mean(keypoints, _HEAD, self.min_conf) if len(keypoints) >= 17 else None
        if head is not None and hip_y is not None:
            f[12] = (head - hip_y) / size
            f[13] = 1.0
        f[17] = m.keypoint_conf
        if self.skeleton != "none" and len(keypoints) >= 17:
            mid = _mean_xy(keypoints, _HIPS, self.min_conf)
            if mid is not None:
                f[len(FEATURES) :] = _skeleton(keypoints, mid, size, self.skeleton, self.min_conf)
        self.samples.append(sample)
        np.clip(f, -5.0, 5.0, out=f)
        return f

    def _refresh(self, sample: _Sample) -> None:
        horizon = sample.t - self.reference_span
        height, top, bottom, hip = sample.height, sample.top, sample.bottom, sample.hip_y
        for old in reversed(self.samples):
            if old.t < horizon:
                break
            if old.standing:
                if old.height > height:
                    height, bottom = old.height, old.bottom
                top = min(top, old.top)
                if old.hip_y is not None:
                    hip = old.hip_y if hip is None else min(hip, old.hip_y)
        self.ref = Reference(sample.t, max(height, 1.0), top, bottom, hip)

    def _span_back(self, t: float) -> _Sample | None:
        """The latest sample at least ``speed_span`` s old (at most 3 spans old)."""
        for old in reversed(self.samples):
            span = t - old.t
            if span >= self.speed_span * 0.99:
                return old if span <= 3.0 * self.speed_span else None
        return None
