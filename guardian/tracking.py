"""Per-camera multi-person tracker in the spirit of ByteTrack.

One :class:`Tracker` per camera. Each call to :meth:`Tracker.update` takes the person
detections of one frame and returns the confirmed tracks.

* Motion model: a damped constant-velocity model on the box centre and size. Velocities
  are in pixels per second and the prediction integrates a velocity that decays
  exponentially with time, so the tracker behaves the same at 5 fps and at 30 fps and a
  lost track does not drift off forever.
* Association, in ByteTrack order:

  1. high-score detections against the confirmed tracks (tracked and lost);
  2. low-score detections against the tracks still unmatched that were tracked in the
     previous frame, or lost at most ``relink_lost`` seconds ago (a partly hidden person,
     or one lying on the floor whom the model scores low, keeps their track);
  3. the *second look* detections (``update(..., relook=...)``: found again in an
     upscaled crop around a recently lost track, :mod:`guardian.relook`), of any score
     down to ``low_score``, against the confirmed tracks still unmatched;
  4. the remaining high-score detections against the tentative tracks;
  5. high-score detections still unmatched start new tentative tracks.

  Low-score and second-look detections only ever continue a confirmed track: they never
  start one, so running the model at a low score floor adds no new tracks.

  The cost of a pair is ``1 - IoU`` (predicted box vs detection box) when the IoU reaches
  ``match_iou``. Otherwise, for fast movement, a pair whose centres are closer than
  ``0.6`` × the predicted box's diagonal costs ``1 + distance / (0.6 × diagonal)``, i.e.
  less than 2. Any other pair is infeasible. The Hungarian algorithm runs on a matrix
  extended with "unmatched" slots (each costing 1 per side), so an assignment is kept only
  when it is cheaper than leaving both sides unmatched and one good match is never traded
  for two poor ones.
* Lifecycle: TENTATIVE until ``min_hits`` matches (a tentative track missing one frame is
  dropped silently and never output), then TRACKED; LOST while unmatched; REMOVED when
  lost for more than ``max_lost`` seconds -- returned once with that state, then
  forgotten. Public ids are given at confirmation: 1, 2, 3... per tracker, never reused.
  :meth:`Tracker.hold` keeps one lost track longer (a person down on the floor whom the
  model no longer finds must not vanish while the rules time "person down").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped, unused-ignore]

from guardian.records import Detection, Track, TrackPoint, TrackState

__all__ = ["Tracker"]

_FloatArray = npt.NDArray[np.float64]

#: time constant (s) with which the predicted centre velocity decays while unmatched
_POS_DAMPING_TAU = 0.5
#: time constant (s) with which the predicted size velocity decays while unmatched
_SIZE_DAMPING_TAU = 0.25
#: smoothing time constants (s) of the velocity estimates: the weight of a new velocity
#: measurement taken ``dt`` seconds after the previous match is ``1 - exp(-dt / tau)``
_POS_SMOOTH_TAU = 0.1
_SIZE_SMOOTH_TAU = 0.3
#: below this gap (s) between two matches the velocity is not re-estimated
_MIN_DT = 1e-3
#: fast-movement fallback radius, as a fraction of the predicted box's diagonal
_FALLBACK_RADIUS = 0.6
#: cost of leaving a track or a detection unmatched (so a pair left unmatched costs 2,
#: more than any feasible match)
_UNMATCHED_COST = 1.0
_INFEASIBLE = 1e6
_SMALLEST_SIDE = 1.0

_EMPTY_BOXES: _FloatArray = np.zeros((0, 4), dtype=np.float64)


class _Tracklet:
    """Mutable state of one track (tentative or confirmed)."""

    __slots__ = (
        "box",
        "cx",
        "cy",
        "first_seen",
        "h",
        "held_until",
        "hits",
        "keypoints",
        "label",
        "last_seen",
        "output",
        "points",
        "score",
        "state",
        "track_id",
        "vh",
        "vw",
        "vx",
        "vy",
        "w",
    )

    def __init__(self, det: Detection, timestamp: float, history: int) -> None:
        box = det.box
        self.track_id = 0
        self.state = TrackState.TENTATIVE
        self.box = box
        self.score = det.score
        self.keypoints = det.keypoints
        self.label = det.label
        self.cx = (box.x1 + box.x2) * 0.5
        self.cy = (box.y1 + box.y2) * 0.5
        self.w = box.x2 - box.x1
        self.h = box.y2 - box.y1
        self.vx = self.vy = self.vw = self.vh = 0.0
        self.first_seen = timestamp
        self.last_seen = timestamp
        self.hits = 1
        self.points: deque[TrackPoint] = deque(maxlen=history)
        #: kept while lost until at least this time (see Tracker.hold)
        self.held_until = -math.inf
        if history:
            self.points.append(TrackPoint(timestamp, box, det.keypoints))
        self.output: Track | None = None

    def observe(self, det: Detection, timestamp: float) -> None:
        box = det.box
        cx = (box.x1 + box.x2) * 0.5
        cy = (box.y1 + box.y2) * 0.5
        w = box.x2 - box.x1
        h = box.y2 - box.y1
        dt = timestamp - self.last_seen
        if dt > _MIN_DT:
            inv = 1.0 / dt
            if self.hits == 1:
                a_pos = a_size = 1.0
            else:
                a_pos = 1.0 - math.exp(-dt / _POS_SMOOTH_TAU)
                a_size = 1.0 - math.exp(-dt / _SIZE_SMOOTH_TAU)
            self.vx += a_pos * ((cx - self.cx) * inv - self.vx)
            self.vy += a_pos * ((cy - self.cy) * inv - self.vy)
            self.vw += a_size * ((w - self.w) * inv - self.vw)
            self.vh += a_size * ((h - self.h) * inv - self.vh)
        self.cx, self.cy, self.w, self.h = cx, cy, w, h
        self.box = box
        self.score = det.score
        self.keypoints = det.keypoints
        self.label = det.label
        self.last_seen = max(self.last_seen, timestamp)
        self.hits += 1
        if self.points.maxlen:
            self.points.append(TrackPoint(timestamp, box, det.keypoints))
        self.output = None

    def to_track(self, camera: str) -> Track:
        out = self.output
        if out is None or out.state is not self.state:
            out = Track(
                camera=camera,
                track_id=self.track_id,
                state=self.state,
                box=self.box,
                score=self.score,
                keypoints=self.keypoints,
                first_seen=self.first_seen,
                last_seen=self.last_seen,
                hits=self.hits,
                history=tuple(self.points),
                label=self.label,
            )
            self.output = out
        return out


def _predict(tracklets: Sequence[_Tracklet], timestamp: float) -> _FloatArray:
    """Predicted boxes (x1, y1, x2, y2) of ``tracklets`` at ``timestamp``, shape (n, 4)."""
    if not tracklets:
        return _EMPTY_BOXES
    st = np.array(
        [(t.cx, t.cy, t.w, t.h, t.vx, t.vy, t.vw, t.vh, t.last_seen) for t in tracklets],
        dtype=np.float64,
    )
    dt = np.maximum(timestamp - st[:, 8], 0.0)
    # displacement of a velocity decaying as exp(-t / tau), integrated over dt
    k_pos = _POS_DAMPING_TAU * -np.expm1(-dt / _POS_DAMPING_TAU)
    k_size = _SIZE_DAMPING_TAU * -np.expm1(-dt / _SIZE_DAMPING_TAU)
    cx = st[:, 0] + st[:, 4] * k_pos
    cy = st[:, 1] + st[:, 5] * k_pos
    hw = np.maximum(st[:, 2] + st[:, 6] * k_size, _SMALLEST_SIDE) * 0.5
    hh = np.maximum(st[:, 3] + st[:, 7] * k_size, _SMALLEST_SIDE) * 0.5
    return np.stack((cx - hw, cy - hh, cx + hw, cy + hh), axis=1)


def _cost_matrix(tracks: _FloatArray, dets: _FloatArray, match_iou: float) -> _FloatArray:
    """Association cost of each (predicted track box, detection box) pair, shape (n, m)."""
    tx1, ty1, tx2, ty2 = (tracks[:, i : i + 1] for i in range(4))
    dx1, dy1, dx2, dy2 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
    iw = np.minimum(tx2, dx2) - np.maximum(tx1, dx1)
    ih = np.minimum(ty2, dy2) - np.maximum(ty1, dy1)
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    tw, th = tx2 - tx1, ty2 - ty1
    union = tw * th + (dx2 - dx1) * (dy2 - dy1) - inter
    iou = inter / np.maximum(union, 1e-9)
    # fast-movement fallback on the centre distance
    ddx = (tx1 + tx2 - dx1 - dx2) * 0.5
    ddy = (ty1 + ty2 - dy1 - dy2) * 0.5
    radius = _FALLBACK_RADIUS * np.sqrt(tw * tw + th * th)
    near = np.sqrt(ddx * ddx + ddy * ddy) / np.maximum(radius, 1e-9)
    cost = np.where(near < 1.0, 1.0 + near, _INFEASIBLE)
    good = (iou >= match_iou) & (iou > 0.0)
    np.copyto(cost, 1.0 - iou, where=good)
    return cost


def _assign(cost: _FloatArray) -> list[tuple[int, int]]:
    """Minimum-cost matching of rows and columns where leaving one unmatched costs 1."""
    n, m = cost.shape
    if n == 0 or m == 0:
        return []
    if n == 1 and m == 1:
        return [(0, 0)] if cost[0, 0] < 2.0 * _UNMATCHED_COST else []
    size = n + m
    full = np.full((size, size), _INFEASIBLE)
    full[:n, :m] = cost
    full[np.arange(n), m + np.arange(n)] = _UNMATCHED_COST
    full[n + np.arange(m), np.arange(m)] = _UNMATCHED_COST
    full[n:, m:] = 0.0
    rows, cols = linear_sum_assignment(full)
    return [
        (r, c)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
        if r < n and c < m and cost[r, c] < _INFEASIBLE
    ]


class Tracker:
    """ByteTrack-style tracker of the people seen by one camera.

    ``high_score``/``low_score``: detection score thresholds of the first and second
    association stages (below ``low_score`` a detection is ignored); ``match_iou``: the
    smallest IoU of a regular match; ``min_hits``: matches needed to confirm a track;
    ``max_lost``: seconds a track may stay unmatched before it is removed; ``history``:
    how many past positions each output track carries; ``relink_lost``: seconds after
    being lost during which a track may still be continued by a low-score detection (0:
    only tracks matched in the previous frame, as in ByteTrack).
    """

    def __init__(
        self,
        camera: str,
        *,
        high_score: float = 0.5,
        low_score: float = 0.1,
        match_iou: float = 0.2,
        min_hits: int = 2,
        max_lost: float = 2.0,
        history: int = 45,
        relink_lost: float = 0.0,
    ) -> None:
        if not 0.0 <= low_score <= high_score:
            raise ValueError("need 0 <= low_score <= high_score")
        if not 0.0 <= match_iou <= 1.0:
            raise ValueError("match_iou must be in [0, 1]")
        if min_hits < 1:
            raise ValueError("min_hits must be >= 1")
        if max_lost < 0.0:
            raise ValueError("max_lost must be >= 0")
        if history < 0:
            raise ValueError("history must be >= 0")
        if relink_lost < 0.0:
            raise ValueError("relink_lost must be >= 0")
        self.camera = camera
        self.high_score = high_score
        self.low_score = low_score
        self.match_iou = match_iou
        self.min_hits = min_hits
        self.max_lost = max_lost
        self.history = history
        self.relink_lost = relink_lost
        self._confirmed: dict[int, _Tracklet] = {}
        self._tentative: list[_Tracklet] = []
        self._next_id = 1

    @property
    def busy(self) -> bool:
        """A track is kept: tentative, tracked, or lost and not yet removed."""
        return bool(self._confirmed or self._tentative)

    def hold(self, track_id: int, until: float) -> None:
        """Keep confirmed track ``track_id``, if lost, at least until time ``until`` (s)."""
        tracklet = self._confirmed.get(track_id)
        if tracklet is not None:
            tracklet.held_until = max(tracklet.held_until, float(until))

    def update(
        self,
        detections: Sequence[Detection],
        timestamp: float,
        *,
        relook: Sequence[Detection] = (),
    ) -> tuple[Track, ...]:
        """Take the detections of one frame; return every confirmed track, by id.

        ``relook``: detections of a second look around recently lost tracks; they only
        continue confirmed tracks left unmatched by ``detections``.

        Tracks are TRACKED (matched in this frame), LOST (not matched, still kept) or
        REMOVED (lost for longer than ``max_lost``: reported this once, then forgotten).
        """
        now = float(timestamp)
        confirmed = list(self._confirmed.values())
        tentative = self._tentative
        n_conf = len(confirmed)

        high: list[int] = []
        low: list[int] = []
        for i, det in enumerate(detections):
            if det.score >= self.high_score:
                high.append(i)
            elif det.score >= self.low_score:
                low.append(i)

        matched: list[tuple[_Tracklet, Detection]] = []
        used_conf = [False] * n_conf

        if (detections or relook) and (confirmed or tentative):
            det_boxes = (
                np.array(
                    [(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in detections],
                    dtype=np.float64,
                )
                if detections
                else _EMPTY_BOXES
            )
            pred = _predict(confirmed + tentative, now)

            # stage 1: high-score detections vs tracked and lost tracks
            if high and n_conf:
                pairs = _assign(_cost_matrix(pred[:n_conf], det_boxes[high], self.match_iou))
                taken = set()
                for r, c in pairs:
                    used_conf[r] = True
                    taken.add(c)
                    matched.append((confirmed[r], detections[high[c]]))
                if taken:
                    high = [d for k, d in enumerate(high) if k not in taken]

            # stage 2: low-score detections vs tracks tracked last frame (or lost lately)
            if low:
                rest = [
                    k
                    for k in range(n_conf)
                    if not used_conf[k]
                    and (
                        confirmed[k].state is TrackState.TRACKED
                        or now - confirmed[k].last_seen <= self.relink_lost
                    )
                ]
                if rest:
                    pairs = _assign(_cost_matrix(pred[rest], det_boxes[low], self.match_iou))
                    for r, c in pairs:
                        used_conf[rest[r]] = True
                        matched.append((confirmed[rest[r]], detections[low[c]]))

            # stage 3: the second look vs confirmed tracks still unmatched
            again = [d for d in relook if d.score >= self.low_score]
            rest = [k for k in range(n_conf) if not used_conf[k]]
            if again and rest:
                boxes = np.array(
                    [(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in again], dtype=np.float64
                )
                pairs = _assign(_cost_matrix(pred[rest], boxes, self.match_iou))
                for r, c in pairs:
                    used_conf[rest[r]] = True
                    matched.append((confirmed[rest[r]], again[c]))

            # stage 4: remaining high-score detections vs tentative tracks
            new_tentative: list[_Tracklet] = []
            if high and tentative:
                pairs = _assign(_cost_matrix(pred[n_conf:], det_boxes[high], self.match_iou))
                taken = set()
                for r, c in pairs:
                    taken.add(c)
                    new_tentative.append(tentative[r])
                    matched.append((tentative[r], detections[high[c]]))
                if taken:
                    high = [d for k, d in enumerate(high) if k not in taken]
            # unmatched tentative tracks are dropped silently
        else:
            new_tentative = []

        for tracklet, det in matched:
            tracklet.observe(det, now)
            if tracklet.state is not TrackState.TRACKED and tracklet.hits >= self.min_hits:
                if tracklet.track_id == 0:
                    tracklet.track_id = self._next_id
                    self._next_id += 1
                    self._confirmed[tracklet.track_id] = tracklet
                tracklet.state = TrackState.TRACKED

        out: list[Track] = []
        for k, tracklet in enumerate(confirmed):
            if not used_conf[k]:
                if now - tracklet.last_seen > self.max_lost and now > tracklet.held_until:
                    tracklet.state = TrackState.REMOVED
                    del self._confirmed[tracklet.track_id]
                else:
                    tracklet.state = TrackState.LOST
            out.append(tracklet.to_track(self.camera))

        # tentative tracks confirmed in this frame, then new tracks
        self._tentative = [t for t in new_tentative if t.track_id == 0]
        for tracklet in new_tentative:
            if tracklet.track_id:
                out.append(tracklet.to_track(self.camera))
        for i in high:
            tracklet = _Tracklet(detections[i], now, self.history)
            if self.min_hits <= 1:
                tracklet.state = TrackState.TRACKED
                tracklet.track_id = self._next_id
                self._next_id += 1
                self._confirmed[tracklet.track_id] = tracklet
                out.append(tracklet.to_track(self.camera))
            else:
                self._tentative.append(tracklet)
        return tuple(out)
