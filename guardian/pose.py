"""Posture and fall estimation from keypoints and boxes: geometry only, no learned model.

One :class:`PostureTracker` per camera. :meth:`PostureTracker.update` takes the tracks of
one processed frame (from :class:`guardian.tracking.Tracker`) and returns one
:class:`~guardian.records.PostureReading` per TRACKED or LOST track. It is a stand-in for
a trained classifier that can later sit behind the same interface.

Per frame (:func:`measure`, :func:`classify`)
---------------------------------------------
Keypoints below ``keypoint_conf`` are treated as unseen. Pixel y grows downwards.

* *torso angle*: the angle of mid-hips → mid-shoulders from straight up, 0..180° (0 upright,
  90 horizontal, above 90 the shoulders are lower in the image than the hips, which is how
  a person lying with the head towards the camera looks). Needs one shoulder and one hip.
* *thigh drop*: (mid-knee y − mid-hip y) / torso length. About 0.6–0.8 with straight legs
  (standing), near 0 or below for folded legs (sitting, squatting) or a body on the floor.
* *aspect*: box width / box height.

The raw posture of a frame is

* LYING when the torso angle is at least ``lying_angle`` and the legs are not hanging
  straight below the hips (thigh drop below ``standing_thigh``: a person bending over to pick
  something up keeps straight legs), or, with no usable torso, when the aspect is at least
  ``lying_aspect``;
* STANDING when the torso is within ``upright_angle`` of vertical and the thigh drop is at
  least ``standing_thigh``;
* SITTING when the torso is within ``sitting_angle`` of vertical and the thigh drop is
  below ``standing_thigh``;
* UNKNOWN otherwise (e.g. too few keypoints).

The reported posture is smoothed: every posture keeps a score that follows the raw
posture of each frame with an exponential time constant of ``smooth_tau`` seconds (so
the behaviour is the same at 5 and at 30 fps), and the posture changes only when the raw
posture agreed in the last two observed frames and its score leads the current one's.
``since`` is when the reported posture last changed; ``confidence`` is its score.

Falls
-----
Each track keeps a short ring buffer (``memory`` seconds) of its own samples: box top,
hips, raw posture. While the person is seen STANDING, an *upright reference* is kept: the
box height (largest of the standing frames of the last ``reference_span`` s), and the
highest box top and hips of those frames. A frame is *down* when, measured against a
reference at most ``fall_window`` s old,

* the raw posture is LYING, or
* the box top has come down by at least ``down_drop`` × the upright height and the hips
  by at least ``down_hip_drop`` × it (on the floor: lying, or sitting on the floor), and
  the box is not as tall as an upright person (below ``down_height`` × the reference).

A *fall* is a transition from standing to down, with fast downward motion:

1. the first down frame comes at most ``fall_window`` s after the last standing frame;
2. between those, the box top moved down at ``fall_speed`` × the upright height per
   second or faster (the steepest slope measured over at least ``speed_span`` s, so one
   jittery frame cannot fake it); a person who lies down on purpose (slowly, or through
   sitting) never reaches it;
3. the person is seen down in at least ``confirm_frames`` frames, no more than ``grace`` s
   apart (a frame that is not down in between is tolerated if the next is down again).

``fall_at`` is the time of the first down frame of the fall. It is kept while the person
stays down and cleared once they are upright again: STANDING reported (smoothed) with the
box top back within ``down_drop`` of the reference, or STANDING held for ``clear_after`` s.

The pose model often loses a person during or right after a fall (a body on the floor
seen end-on, half out of the picture) and the tracker may then start a new track where
the old one vanished. A new track that starts within ``handoff_time`` s of such a loss,
over the lost track's last box, takes over the lost track's history, so the fall can
still be confirmed. Only a track that was lost while falling (fast descent or a pending
fall) hands its history on.

LOST tracks repeat their last reading; REMOVED tracks are forgotten. The cost is a few
tens of microseconds per track per frame (see ``bench/posture.py``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from guardian.records import Box, Keypoint, Posture, PostureReading, Track, TrackState

__all__ = ["BodyMeasure", "PostureTracker", "classify", "measure"]

# COCO-17 indices
_HEAD = (0, 1, 2, 3, 4)
_SHOULDERS = (5, 6)
_HIPS = (11, 12)
_KNEES = (13, 14)
_BODY = tuple(range(5, 17))

_POSTURES = (Posture.STANDING, Posture.SITTING, Posture.LYING)


@dataclass(frozen=True, slots=True)
class BodyMeasure:
    """The geometry of one person in one frame (pixels, y down; None when not seen)."""

    top: float
    bottom: float
    height: float
    width: float
    #: box width / box height
    aspect: float
    shoulder_y: float | None
    hip_y: float | None
    #: degrees from straight up of mid-hips → mid-shoulders (0 upright, 180 head down)
    torso_angle: float | None
    torso_length: float | None
    #: (knee y − hip y) / torso length: ~0.7 with straight legs, ~0 with folded legs
    thigh_drop: float | None
    #: mean confidence of the 12 body keypoints (shoulders to ankles)
    keypoint_conf: float


def _mean_point(
    keypoints: Sequence[Keypoint], indices: tuple[int, ...], min_conf: float
) -> tuple[float, float] | None:
    sx = sy = 0.0
    n = 0
    for i in indices:
        k = keypoints[i]
        if k.conf >= min_conf:
            sx += k.x
            sy += k.y
            n += 1
    return (sx / n, sy / n) if n else None


def measure(box: Box, keypoints: Sequence[Keypoint], min_conf: float = 0.3) -> BodyMeasure:
    """The features of one person: box shape, torso angle, thigh drop."""
    width = max(box.width, 1.0)
    height = max(box.height, 1.0)
    shoulder = hip = knee = None
    conf = 0.0
    if len(keypoints) >= 17:
        shoulder = _mean_point(keypoints, _SHOULDERS, min_conf)
        hip = _mean_point(keypoints, _HIPS, min_conf)
        knee = _mean_point(keypoints, _KNEES, min_conf)
        conf = sum(keypoints[i].conf for i in _BODY) / len(_BODY)
    angle = length = thigh = None
    if shoulder is not None and hip is not None:
        dx = shoulder[0] - hip[0]
        dy = shoulder[1] - hip[1]
        length = math.hypot(dx, dy)
        if length >= 0.04 * height:
            angle = math.degrees(math.atan2(abs(dx), -dy))
            if knee is not None:
                thigh = (knee[1] - hip[1]) / length
        else:  # shoulders on top of the hips: seen end-on, no direction
            length = None
    return BodyMeasure(
        top=box.y1,
        bottom=box.y2,
        height=height,
        width=width,
        aspect=width / height,
        shoulder_y=shoulder[1] if shoulder else None,
        hip_y=hip[1] if hip else None,
        torso_angle=angle,
        torso_length=length,
        thigh_drop=thigh,
        keypoint_conf=conf,
    )


def classify(
    m: BodyMeasure,
    *,
    lying_angle: float = 55.0,
    upright_angle: float = 30.0,
    sitting_angle: float = 45.0,
    standing_thigh: float = 0.5,
    lying_aspect: float = 1.4,
) -> tuple[Posture, float]:
    """The raw posture of one frame and how sure it is (0..1), from :func:`measure`."""
    angle = m.torso_angle
    thigh = m.thigh_drop
    kp = min(1.0, 0.3 + m.keypoint_conf)
    if angle is not None:
        if angle >= lying_angle and (thigh is None or thigh < standing_thigh):
            return Posture.LYING, kp
        if thigh is not None:
            if angle <= upright_angle and thigh >= standing_thigh:
                return Posture.STANDING, kp
            if angle <= sitting_angle and thigh < standing_thigh:
                return Posture.SITTING, kp
        elif angle <= upright_angle and m.aspect < 0.6:
            return Posture.STANDING, 0.5 * kp
    if m.aspect >= lying_aspect:
        return Posture.LYING, 0.6
    return Posture.UNKNOWN, 0.0


class _Sample:
    __slots__ = ("box", "descent", "down", "hip_y", "raw", "t", "top")

    def __init__(self, t: float, box: Box, top: float, hip_y: float | None, raw: Posture) -> None:
        self.t = t
        self.box = box
        self.top = top
        self.hip_y = hip_y
        self.raw = raw
        self.down = False
        #: the steepest descent (upright heights / s) ending at this sample
        self.descent = 0.0


class _Reference:
    """The person's upright size and level, from recent STANDING frames."""

    __slots__ = ("height", "hip_y", "t", "top")

    def __init__(self, t: float, height: float, top: float, hip_y: float | None) -> None:
        self.t = t
        self.height = height
        self.top = top
        self.hip_y = hip_y


class _Pending:
    """A fall seen starting (standing → down, fast) but not yet confirmed."""

    __slots__ = ("first", "last", "n", "ref")

    def __init__(self, t: float, ref: _Reference) -> None:
        self.first = t
        self.last = t
        self.n = 1
        self.ref = ref


class _TrackState:
    __slots__ = (
        "fall_at",
        "fall_ref",
        "last_seen",
        "pending",
        "posture",
        "reading",
        "ref",
        "samples",
        "scores",
        "since",
    )

    def __init__(self) -> None:
        self.samples: deque[_Sample] = deque()
        self.ref: _Reference | None = None
        self.scores = [0.0, 0.0, 0.0]
        self.posture = Posture.UNKNOWN
        self.since = 0.0
        self.fall_at: float | None = None
        self.pending: _Pending | None = None
        self.fall_ref: _Reference | None = None
        self.last_seen = -math.inf
        self.reading: PostureReading | None = None

    def falling(self) -> bool:
        """True when the last samples show a fall under way (worth handing on)."""
        if self.pending is not None:
            return True
        return bool(self.samples) and self.samples[-1].descent > 0.0


class PostureTracker:
    """One camera. ``update()`` once per processed frame with that frame's tracks.

    All times are seconds and all sizes are fractions of the person's own upright box
    height, so the thresholds hold at any distance and frame rate (see the module
    docstring for what each one does).
    """

    def __init__(
        self,
        *,
        fall_window: float = 1.5,
        fall_speed: float = 0.8,
        speed_span: float = 0.2,
        down_drop: float = 0.4,
        down_hip_drop: float = 0.3,
        down_height: float = 0.65,
        confirm_frames: int = 2,
        grace: float = 0.6,
        clear_after: float = 1.0,
        memory: float = 3.0,
        reference_span: float = 1.0,
        smooth_tau: float = 0.25,
        handoff_time: float = 2.0,
        keypoint_conf: float = 0.3,
        lying_angle: float = 55.0,
        upright_angle: float = 30.0,
        sitting_angle: float = 45.0,
        standing_thigh: float = 0.5,
        lying_aspect: float = 1.4,
    ) -> None:
        if fall_window <= 0 or memory < fall_window:
            raise ValueError("need 0 < fall_window <= memory")
        if confirm_frames < 1:
            raise ValueError("confirm_frames must be >= 1")
        if smooth_tau <= 0 or speed_span <= 0:
            raise ValueError("smooth_tau and speed_span must be > 0")
        self.fall_window = fall_window
        self.fall_speed = fall_speed
        self.speed_span = speed_span
        self.down_drop = down_drop
        self.down_hip_drop = down_hip_drop
        self.down_height = down_height
        self.confirm_frames = confirm_frames
        self.grace = grace
        self.clear_after = clear_after
        self.memory = memory
        self.reference_span = reference_span
        self.smooth_tau = smooth_tau
        self.handoff_time = handoff_time
        self.keypoint_conf = keypoint_conf
        self.lying_angle = lying_angle
        self.upright_angle = upright_angle
        self.sitting_angle = sitting_angle
        self.standing_thigh = standing_thigh
        self.lying_aspect = lying_aspect
        self._states: dict[int, _TrackState] = {}

    def reset(self) -> None:
        """Forget every track."""
        self._states.clear()

    def update(
        self, tracks: Sequence[Track], timestamp: float, width: int, height: int
    ) -> tuple[PostureReading, ...]:
        """Readings for the TRACKED and LOST tracks of one frame, in the tracks' order."""
        now = float(timestamp)
        out: list[PostureReading] = []
        for track in tracks:
            if track.state is TrackState.REMOVED:
                self._states.pop(track.track_id, None)
                continue
            if track.state is TrackState.TENTATIVE:
                continue
            state = self._states.get(track.track_id)
            if track.state is TrackState.LOST:
                if state is not None and state.reading is not None:
                    out.append(state.reading)
                elif state is None:
                    out.append(PostureReading(track.track_id, Posture.UNKNOWN, now, 0.0))
                continue
            if state is None:
                state = self._new_state(track, now)
                self._states[track.track_id] = state
            out.append(self._observe(state, track, now, height))
        return tuple(out)

    # ------------------------------------------------------------------ internals

    def _new_state(self, track: Track, now: float) -> _TrackState:
        """A fresh state, or the history of a track lost here while falling."""
        best: _TrackState | None = None
        best_iou = 0.1
        for state in self._states.values():
            if (
                not state.samples
                or now - state.last_seen > self.handoff_time
                or state.last_seen >= now
                or not state.falling()
            ):
                continue
            iou = _overlap(state.samples[-1].box, track.box)
            if iou > best_iou:
                best, best_iou = state, iou
        fresh = _TrackState()
        fresh.since = now
        if best is not None:
            fresh.samples = deque(best.samples)
            fresh.ref = best.ref
            fresh.pending = best.pending
            fresh.posture = best.posture
            fresh.since = best.since
            fresh.scores = list(best.scores)
            fresh.fall_at = best.fall_at
            fresh.fall_ref = best.fall_ref
            best.pending = None  # one fall, one owner
        return fresh

    def _observe(self, s: _TrackState, track: Track, now: float, frame_h: int) -> PostureReading:
        m = measure(track.box, track.keypoints, self.keypoint_conf)
        raw, raw_conf = classify(
            m,
            lying_angle=self.lying_angle,
            upright_angle=self.upright_angle,
            sitting_angle=self.sitting_angle,
            standing_thigh=self.standing_thigh,
            lying_aspect=self.lying_aspect,
        )
        sample = _Sample(now, track.box, m.top, m.hip_y, raw)
        samples = s.samples
        while samples and now - samples[0].t > self.memory:
            samples.popleft()
        prev_raw = samples[-1].raw if samples else None
        dt = now - s.last_seen if samples else math.inf
        s.last_seen = now

        # reference: the person's own upright size, from recent standing frames
        if raw is Posture.STANDING:
            self._update_reference(s, sample, m)
        ref = s.ref
        if ref is not None and now - ref.t <= self.memory:
            sample.descent = self._descent(samples, sample, ref)
        samples.append(sample)

        # smoothed posture
        self._smooth(s, raw, raw_conf, prev_raw, dt, now)

        # falls
        fresh_ref = ref is not None and now - ref.t <= self.fall_window
        if s.fall_at is None:
            check = s.pending.ref if s.pending is not None else (ref if fresh_ref else None)
            sample.down = check is not None and self._is_down(sample, m, check)
            if sample.down and check is not None:
                if s.pending is None:
                    if self._fast_since(samples, check):
                        s.pending = _Pending(now, check)
                elif now - s.pending.last <= self.fall_window:  # unseen meanwhile is fine
                    s.pending.n += 1
                    s.pending.last = now
                else:
                    s.pending = None
                if s.pending is not None and s.pending.n >= self.confirm_frames:
                    s.fall_at = s.pending.first
                    s.fall_ref = s.pending.ref
                    s.pending = None
            elif s.pending is not None and now - s.pending.last > self.grace:
                s.pending = None
        elif s.posture is Posture.STANDING and s.since > s.fall_at:
            # upright again since the fall: back up to the level before it, or long enough
            before = s.fall_ref
            level_ok = before is not None and (m.top - before.top) < self.down_drop * before.height
            if level_ok or now - s.since >= self.clear_after:
                s.fall_at = None
                s.fall_ref = None

        reading = PostureReading(
            track_id=track.track_id,
            posture=s.posture,
            since=s.since,
            confidence=round(min(1.0, max(0.0, s.scores[_index(s.posture)])), 3)
            if s.posture is not Posture.UNKNOWN
            else 0.0,
            fall_at=s.fall_at,
        )
        s.reading = reading
        return reading

    def _update_reference(self, s: _TrackState, sample: _Sample, m: BodyMeasure) -> None:
        horizon = sample.t - self.reference_span
        height, top, hip = m.height, m.top, m.hip_y
        for old in reversed(s.samples):
            if old.t < horizon:
                break
            if old.raw is Posture.STANDING:
                height = max(height, old.box.height)
                top = min(top, old.top)
                if old.hip_y is not None:
                    hip = old.hip_y if hip is None else min(hip, old.hip_y)
        s.ref = _Reference(sample.t, height, top, hip)

    def _descent(self, samples: deque[_Sample], sample: _Sample, ref: _Reference) -> float:
        """Speed (upright heights / s) of the box top over the last ``speed_span`` s, down > 0."""
        for old in reversed(samples):
            span = sample.t - old.t
            if span >= self.speed_span * 0.99:
                if span > 3.0 * self.speed_span:
                    return 0.0
                return max(0.0, (sample.top - old.top) / (ref.height * span))
        return 0.0

    def _fast_since(self, samples: deque[_Sample], ref: _Reference) -> bool:
        start = ref.t - self.speed_span
        for old in reversed(samples):
            if old.t < start:
                break
            if old.descent >= self.fall_speed:
                return True
        return False

    def _is_down(self, sample: _Sample, m: BodyMeasure, ref: _Reference) -> bool:
        if sample.raw is Posture.LYING:
            return True
        h = ref.height
        if (m.top - ref.top) < self.down_drop * h:
            return False
        if m.hip_y is not None and ref.hip_y is not None:
            return (m.hip_y - ref.hip_y) >= self.down_hip_drop * h
        return m.height <= self.down_height * h

    def _smooth(
        self,
        s: _TrackState,
        raw: Posture,
        raw_conf: float,
        prev_raw: Posture | None,
        dt: float,
        now: float,
    ) -> None:
        alpha = 1.0 if not math.isfinite(dt) else 1.0 - math.exp(-max(dt, 0.0) / self.smooth_tau)
        scores = s.scores
        for i, p in enumerate(_POSTURES):
            target = raw_conf if raw is p else 0.0
            scores[i] += alpha * (target - scores[i])
        if s.posture is Posture.UNKNOWN and raw is not Posture.UNKNOWN and prev_raw is None:
            s.posture, s.since = raw, now  # first frame of the track
        elif raw is not Posture.UNKNOWN and raw is not s.posture and prev_raw is raw:
            current = scores[_index(s.posture)] if s.posture is not Posture.UNKNOWN else 0.0
            if scores[_index(raw)] > current:
                s.posture, s.since = raw, now


def _index(p: Posture) -> int:
    return _POSTURES.index(p)


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (a box inside another counts as 1)."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    small = min(a.area, b.area)
    return ix * iy / small if small > 0 else 0.0
