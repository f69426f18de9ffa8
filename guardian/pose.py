"""Posture and fall estimation from keypoints and boxes: geometry only, no learned model.

One :class:`PostureTracker` per camera. :meth:`PostureTracker.update` takes the tracks of
one processed frame (from :class:`guardian.tracking.Tracker`) and returns one
:class:`~guardian.records.PostureReading` per TRACKED or LOST track (a LOST track repeats
its last reading unchanged; a REMOVED track is forgotten, TENTATIVE ones are skipped).
Every threshold named below is a field of :class:`PostureTuning` (defaults written once,
there). The learned fall model (:class:`guardian.fall.classifier.FallClassifier`) holds a
tracker and drives it track by track through its public steps; both satisfy
:class:`PostureEstimator`. Everything below is internal except those, and the per-frame
helpers :func:`measure` and :func:`classify` (handy for tests and for building training
data).

All times are seconds, so the behaviour is the same at 5 and at 30 processed fps; all
sizes are fractions of the person's own upright box height, so it holds at any distance.

Per frame: features (:func:`measure`) and raw posture (:func:`classify`)
------------------------------------------------------------------------
Keypoints below ``keypoint_conf`` (0.3) are unseen; a pair (two shoulders, ...) is
averaged over its seen points. Pixel y grows downwards.

* *torso angle*: mid-hips → mid-shoulders against straight up, 0..180° (0 upright, 90
  horizontal; above 90 the shoulders are lower in the image than the hips, which is how
  a body on the floor seen end-on, head towards the camera, looks).
* *thigh drop*: (knee y − hip y) / torso length: 0.6–0.8 with straight legs, about 0.1–0.4
  seated, ≤ 0 on the floor.
* *leg ratio*: (knee y − hip y) / (ankle y − knee y): about 1 with straight legs, below
  0.6 for a seated person facing the camera (thighs foreshortened, shins upright).
* *aspect*: box width / height; *cut*: the box touches the bottom of the image (feet cut
  off, so the aspect says little).

Raw posture:

* LYING: torso angle ≥ ``lying_angle`` (55°) unless the legs are straight (thigh drop ≥
  ``standing_thigh``: bent over to pick something up), or, with no usable torso, aspect ≥
  ``lying_aspect`` (1.4);
* STANDING: torso within ``upright_angle`` (30°) of vertical and straight legs: thigh drop
  ≥ ``standing_thigh`` (0.5), leg ratio ≥ ``standing_legs`` (0.7) when the ankles are seen,
  and in the doubtful band (thigh drop < 0.57) a slim box (aspect ≤ ``slim_aspect``, 0.6)
  unless cut; with no knees, an upright torso in a slim box (half confidence);
* SITTING: torso within ``sitting_angle`` (45°) of vertical, legs not straight;
* UNKNOWN otherwise. Confidence: 0.3 + the mean confidence of the body keypoints.

A frame that looks STANDING but whose box top is ``down_drop`` lower than the person's
recent upright level and whose box is shorter than ``upright_height`` (0.8) × the upright
height is taken as SITTING (kneeling upright: torso and thighs straight, but low).

Reported posture (smoothed)
---------------------------
Each posture has a score following the raw posture (weighted by its confidence) with an
exponential time constant ``smooth_tau`` (0.25 s). The reported posture changes only when
the raw posture was the same in the last two observed frames and its score is above the
current posture's: one noisy frame never flips it. ``since`` is when the reported posture
started; ``confidence`` is its score (0..1). A confirmed fall switches the posture at once
to LYING (or SITTING, when on the floor but not lying), with ``since`` = ``fall_at``.

Falls
-----
Each track keeps a ring buffer of its own samples over the last ``memory`` (3 s): box,
box top, hips, raw posture, descent speed. On every STANDING frame the *upright
reference* is refreshed from the standing frames of the last ``reference_span`` (1 s):
the tallest box height H, the highest box top and the highest hips.

* *descent speed*: how fast the box top moves down, in H per second, over the last
  ``speed_span`` (0.2 s; at least one frame gap, at most three spans, so one jittery
  frame cannot fake it).
* a frame is *down* when, against a reference at most ``fall_window`` (1.5 s) old, the
  raw posture is LYING, or the box top is ≥ ``down_drop`` (0.4) × H below the upright top
  and the hips ≥ ``down_hip_drop`` (0.3) × H below the upright hips (on the floor, lying
  or sitting; a person bending over keeps the hips up) -- or, hips unseen, the box is
  shorter than ``down_height`` (0.65) × H.

*Seated reference*: a person sitting still (SITTING frames, box top steady within 0.15
of the seated height, for ``seat_hold``, 1 s) has a seated reference (the seated box
height, top and hips); while no upright reference is fresh, a fall may start from it. Off
a seat, a frame is down only when the hips are ``seat_drop`` (0.2) and the box top
``down_drop`` seated heights below the seated level (a slide off a chair to the floor;
lying back on a bed or lying down from sitting on the floor keeps the hips where they
were), and the same speed and confirmation rules apply.

A fall is standing → down within ``fall_window`` with a descent speed of at least
``fall_speed`` (0.6 H/s) between the last standing frame (minus one speed span) and the
first down frame, confirmed by ``confirm_frames`` (2) down frames -- or by one when the
fall was fast and deep (descent ≥ ``strong_speed``, 1.5 H/s; box top ≥ ``strong_drop``,
0.6 H, and hips ≥ 2/3 of that, below upright) and the frame before already showed it under
way (≥ 0.15 H down, ≤ 0.5 s before): the model often loses a person for good once they
are on the floor, but a single glitched frame is never a fall. Frames in which the
person is not seen do not break the confirmation (up to ``fall_window`` between down
frames); a seen frame that is not down, ``grace`` (0.6 s) after the last down one, does.
On the UP-Fall clips falls descend at 0.9–3 H/s and sitting down on purpose at ≤ 0.2 H/s;
picking something up descends as fast as a fall but keeps the hips up.

``fall_at`` is the time of the first down frame. It is kept while the person stays down
and cleared once they are upright again: STANDING reported since after the fall, with
the box top back within ``down_drop`` × H of the level before the fall, or held for
``clear_after`` (1 s).

Detections scored below ``upright_score`` (a track continued by a low-score box: the
model runs at a low floor so that a person on the floor keeps their track) never count
as STANDING, and their box top is no level a descent is measured from: such boxes are
often merged or stretched, and a false upright level would turn the next good frame
into a "fall".

A person lost right after a fast drop is reported LYING from the drop on, and a fall
seen starting whose person then stays unseen for ``lost_fall`` s is confirmed (see
:meth:`PostureTracker.lost`).

The pose model often loses a person during a fall (a body seen end-on, half out of the
picture) and the tracker may then start a new track where the old one vanished. A new
track that starts within ``handoff_time`` (2 s) over the last box of a track lost while
falling (fast descent or a fall pending or confirmed) takes over its history, so the fall
is still confirmed (and a confirmed one kept).

Cost: tens of microseconds per track per frame (``bench/posture.py`` measures it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from guardian.records import Box, Keypoint, Posture, PostureReading, Track, TrackState

__all__ = [
    "DEFAULT_TUNING",
    "BodyMeasure",
    "PostureEstimator",
    "PostureTracker",
    "PostureTuning",
    "classify",
    "measure",
    "overlap",
]

# COCO-17 indices
_SHOULDERS = (5, 6)
_HIPS = (11, 12)
_KNEES = (13, 14)
_ANKLES = (15, 16)
_BODY = tuple(range(5, 17))

_POSTURES = (Posture.STANDING, Posture.SITTING, Posture.LYING)
#: the ring buffer's hard cap (``memory`` s at any sane frame rate stays below it)
_MAX_SAMPLES = 512
#: seconds after which the state of a track no longer passed to update() is dropped
_FORGET_AFTER = 30.0
#: a one-frame fall needs the frame before it at most this long before (s) and already
#: this far down (× upright height)
_STRONG_GAP = 0.5
_UNDER_WAY = 0.15


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
    #: (knee y − hip y) / (ankle y − knee y): ~1 with straight legs, below ~0.6 when seated
    leg_ratio: float | None
    #: mean confidence of the 12 body keypoints (shoulders to ankles)
    keypoint_conf: float
    #: the box reaches the bottom of the image: the feet may be cut off
    cut: bool = False


@dataclass(frozen=True, slots=True)
class PostureTuning:
    """Every threshold of :class:`PostureTracker`, in one place (see the module docstring).

    Times are seconds; sizes are fractions of the person's upright box height.
    """

    #: standing → down must happen within this (s); also how fresh a reference must be
    fall_window: float = 1.5
    #: least descent speed of a fall (upright heights / s)
    fall_speed: float = 0.6
    #: the span a descent speed is measured over (s)
    speed_span: float = 0.2
    #: box top this far below the upright top: down
    down_drop: float = 0.4
    #: ... with the hips this far below the upright hips
    down_hip_drop: float = 0.3
    #: hips unseen: a box shorter than this × upright height is down
    down_height: float = 0.65
    #: a "standing" box shorter than this × upright height and low is kneeling (SITTING)
    upright_height: float = 0.8
    #: down frames that confirm a fall
    confirm_frames: int = 2
    #: a drop this fast (upright heights / s) ...
    strong_speed: float = 1.5
    #: ... and this deep confirms a fall in one frame
    strong_drop: float = 0.6
    #: a seen frame that is not down this long after the last down one ends a pending fall
    grace: float = 0.6
    #: STANDING this long after a fall clears it
    clear_after: float = 1.0
    #: the samples kept per track (s)
    memory: float = 3.0
    #: the upright reference is taken from the standing frames of this span (s)
    reference_span: float = 1.0
    #: time constant of the posture smoothing (s)
    smooth_tau: float = 0.25
    #: a new track this soon over a track lost while falling takes over its history (s)
    handoff_time: float = 2.0
    #: keypoints below this confidence are unseen
    keypoint_conf: float = 0.3
    #: torso at least this far from upright (degrees): LYING
    lying_angle: float = 55.0
    #: torso within this of upright: may be STANDING
    upright_angle: float = 30.0
    #: torso within this of upright, legs bent: SITTING
    sitting_angle: float = 45.0
    #: thigh drop of straight legs
    standing_thigh: float = 0.5
    #: leg ratio of straight legs
    standing_legs: float = 0.7
    #: box aspect (width / height) of a slim, upright body
    slim_aspect: float = 0.6
    #: with no usable torso, a box this wide (aspect) is LYING
    lying_aspect: float = 1.4
    #: a fall seen starting whose person stays unseen this long is confirmed (0: never)
    lost_fall: float = 0.0
    #: boxes scored below this never count as STANDING nor as a level to fall from
    upright_score: float = 0.0
    #: sitting still this long gives a seated reference (s)
    seat_hold: float = 1.0
    #: off a seat, the hips must come down this far (seated heights)
    seat_drop: float = 0.2

    def __post_init__(self) -> None:
        if self.fall_window <= 0 or self.memory < self.fall_window:
            raise ValueError("need 0 < fall_window <= memory")
        if self.confirm_frames < 1:
            raise ValueError("confirm_frames must be >= 1")
        if self.smooth_tau <= 0 or self.speed_span <= 0:
            raise ValueError("smooth_tau and speed_span must be > 0")
        if self.lost_fall < 0:
            raise ValueError("lost_fall must be >= 0")


#: the shipped tuning
DEFAULT_TUNING = PostureTuning()


class PostureEstimator(Protocol):
    """What a camera pipeline needs of a posture and fall estimator (:class:`PostureTracker`,
    :class:`guardian.fall.classifier.FallClassifier`)."""

    def update(
        self, tracks: Sequence[Track], timestamp: float, width: int, height: int
    ) -> tuple[PostureReading, ...]:
        """Readings for the TRACKED and LOST tracks of one frame, in the tracks' order."""
        ...

    def reset(self) -> None:
        """Forget every track."""
        ...


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


def measure(
    box: Box,
    keypoints: Sequence[Keypoint],
    min_conf: float = 0.3,
    frame_height: int | None = None,
) -> BodyMeasure:
    """The features of one person: box shape, torso angle, legs."""
    width = max(box.width, 1.0)
    height = max(box.height, 1.0)
    shoulder = hip = knee = ankle = None
    conf = 0.0
    if len(keypoints) >= 17:
        shoulder = _mean_point(keypoints, _SHOULDERS, min_conf)
        hip = _mean_point(keypoints, _HIPS, min_conf)
        knee = _mean_point(keypoints, _KNEES, min_conf)
        ankle = _mean_point(keypoints, _ANKLES, min_conf)
        conf = sum(keypoints[i].conf for i in _BODY) / len(_BODY)
    angle = length = thigh = legs = None
    if shoulder is not None and hip is not None:
        dx = shoulder[0] - hip[0]
        dy = shoulder[1] - hip[1]
        length = math.hypot(dx, dy)
        if length >= 0.04 * height:
            angle = math.degrees(math.atan2(abs(dx), -dy))
            if knee is not None:
                thigh = (knee[1] - hip[1]) / length
                if ankle is not None and ankle[1] - knee[1] > 0.2 * length:
                    legs = (knee[1] - hip[1]) / (ankle[1] - knee[1])
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
        leg_ratio=legs,
        keypoint_conf=conf,
        cut=frame_height is not None and box.y2 >= frame_height - 2.0,
    )


def classify(m: BodyMeasure, tuning: PostureTuning | None = None) -> tuple[Posture, float]:
    """The raw posture of one frame and how sure it is (0..1), from :func:`measure`."""
    t = tuning if tuning is not None else DEFAULT_TUNING
    lying_angle, upright_angle, sitting_angle = t.lying_angle, t.upright_angle, t.sitting_angle
    standing_thigh, standing_legs = t.standing_thigh, t.standing_legs
    slim_aspect, lying_aspect = t.slim_aspect, t.lying_aspect
    angle = m.torso_angle
    thigh = m.thigh_drop
    kp = min(1.0, 0.3 + m.keypoint_conf)
    if angle is not None:
        if angle >= lying_angle and (thigh is None or thigh < standing_thigh):
            return Posture.LYING, kp
        if thigh is not None:
            # straight legs; in the doubtful band only with a slim box
            straight = (
                thigh >= standing_thigh
                and (m.leg_ratio is None or m.leg_ratio >= standing_legs)
                and (thigh >= standing_thigh + 0.07 or m.aspect <= slim_aspect or m.cut)
            )
            if angle <= upright_angle and straight:
                return Posture.STANDING, kp
            if angle <= sitting_angle and not straight:
                return Posture.SITTING, kp
        elif angle <= upright_angle and m.aspect <= slim_aspect:
            return Posture.STANDING, 0.5 * kp
    if m.aspect >= lying_aspect:
        return Posture.LYING, 0.6
    return Posture.UNKNOWN, 0.0


class _Sample:
    __slots__ = ("box", "descent", "down", "hip_y", "raw", "t", "top", "trusted")

    def __init__(
        self,
        t: float,
        box: Box,
        top: float,
        hip_y: float | None,
        raw: Posture,
        trusted: bool = True,
    ) -> None:
        self.t = t
        #: the box scored at least ``upright_score``: its top is a level to measure from
        self.trusted = trusted
        self.box = box
        self.top = top
        self.hip_y = hip_y
        self.raw = raw
        self.down = False
        #: the steepest descent (upright heights / s) ending at this sample
        self.descent = 0.0


class _Reference:
    """The person's upright size and level, from recent STANDING frames (or, ``seated``,
    their size and level sitting still, from recent SITTING frames)."""

    __slots__ = ("height", "hip_y", "seated", "t", "top")

    def __init__(
        self, t: float, height: float, top: float, hip_y: float | None, seated: bool = False
    ) -> None:
        self.t = t
        self.height = height
        self.top = top
        self.hip_y = hip_y
        self.seated = seated


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
        "listed",
        "pending",
        "posture",
        "reading",
        "ref",
        "samples",
        "scores",
        "seat",
        "since",
    )

    def __init__(self) -> None:
        self.samples: deque[_Sample] = deque(maxlen=_MAX_SAMPLES)
        self.ref: _Reference | None = None
        self.seat: _Reference | None = None
        self.scores = [0.0, 0.0, 0.0]
        self.posture = Posture.UNKNOWN
        self.since = 0.0
        self.fall_at: float | None = None
        self.pending: _Pending | None = None
        self.fall_ref: _Reference | None = None
        self.last_seen = -math.inf
        self.listed = -math.inf
        self.reading: PostureReading | None = None

    def falling(self, fall_speed: float) -> bool:
        """True when the last sample shows a fall under way (worth handing on)."""
        if self.pending is not None or self.fall_at is not None:
            return True
        return bool(self.samples) and self.samples[-1].descent >= fall_speed


class PostureTracker:
    """One camera. ``update()`` once per processed frame with that frame's tracks.

    All times are seconds and all sizes are fractions of the person's own upright box
    height, so the thresholds hold at any distance and frame rate (``tuning``; see the
    module docstring for what each one does).

    ``update()`` is built from the per-track steps :meth:`start`, :meth:`observe`,
    :meth:`lost`, :meth:`forget` and :meth:`sweep`, which a model on top (the learned
    fall classifier) calls itself, in the same order, to add its own work per track.
    """

    def __init__(self, tuning: PostureTuning = DEFAULT_TUNING) -> None:
        self.tuning = tuning
        self._states: dict[int, _TrackState] = {}

    def reset(self) -> None:
        """Forget every track."""
        self._states.clear()

    def tracked_ids(self) -> tuple[int, ...]:
        """The ids of the tracks with a state kept (for tests and diagnostics)."""
        return tuple(self._states)

    def knows(self, track_id: int) -> bool:
        """True when a state is kept for the track."""
        return track_id in self._states

    def update(
        self, tracks: Sequence[Track], timestamp: float, width: int, height: int
    ) -> tuple[PostureReading, ...]:
        """Readings for the TRACKED and LOST tracks of one frame, in the tracks' order."""
        now = float(timestamp)
        out: list[PostureReading] = []
        for track in tracks:
            if track.state is TrackState.REMOVED:
                self.forget(track.track_id)
            elif track.state is TrackState.LOST:
                out.append(self.lost(track, now))
            elif track.state is not TrackState.TENTATIVE:
                out.append(self.observe(track, now, height))
        self.sweep(now)
        return tuple(out)

    def start(self, track: Track, now: float) -> int | None:
        """Begin the state of a track seen for the first time (TRACKED).

        Returns the id of the track lost here while falling whose history it took over
        (None: a fresh start).
        """
        best_id: int | None = None
        best: _TrackState | None = None
        best_iou = 0.1
        for key, state in self._states.items():
            if (
                not state.samples
                or now - state.last_seen > self.tuning.handoff_time
                or state.last_seen >= now
                or not state.falling(self.tuning.fall_speed)
            ):
                continue
            iou = overlap(state.samples[-1].box, track.box)
            if iou > best_iou:
                best_id, best, best_iou = key, state, iou
        fresh = _TrackState()
        fresh.since = now
        if best is not None:
            fresh.samples = deque(best.samples, maxlen=_MAX_SAMPLES)
            fresh.ref = best.ref
            fresh.pending = best.pending
            fresh.posture = best.posture
            fresh.since = best.since
            fresh.scores = list(best.scores)
            fresh.fall_at = best.fall_at
            fresh.fall_ref = best.fall_ref
            best.pending = None  # one fall, one owner
        self._states[track.track_id] = fresh
        return best_id

    def observe(self, track: Track, now: float, frame_height: int) -> PostureReading:
        """The reading of a track seen in this frame (TRACKED); starts it when new."""
        state = self._states.get(track.track_id)
        if state is None:
            self.start(track, now)
            state = self._states[track.track_id]
        state.listed = now
        return self._observe(state, track, now, frame_height)

    def lost(self, track: Track, now: float) -> PostureReading:
        """The reading of a LOST track: its last one, unless it was lost going down."""
        state = self._states.get(track.track_id)
        if state is None:
            state = self._states[track.track_id] = _TrackState()
        state.listed = now
        if state.reading is None:  # lost before we ever saw it
            state.reading = PostureReading(track.track_id, Posture.UNKNOWN, now, 0.0)
        else:
            state.reading = self._lost(state, track, now)
        return state.reading

    def hold(self, track_id: int, reading: PostureReading) -> None:
        """Make ``reading`` the one the track repeats while LOST (a model on top decided
        it)."""
        state = self._states.get(track_id)
        if state is not None:
            state.reading = reading

    def fall_at(self, track_id: int) -> float | None:
        """The geometric fall the track's person is in (None: none, or no such track)."""
        state = self._states.get(track_id)
        return state.fall_at if state is not None else None

    def forget(self, track_id: int) -> None:
        """Drop a REMOVED track."""
        self._states.pop(track_id, None)

    def sweep(self, now: float) -> None:
        """Drop the states of tracks not passed for a long time (a caller that drops
        tracks without REMOVED must not make the states pile up)."""
        stale = [k for k, st in self._states.items() if now - st.listed > _FORGET_AFTER]
        for k in stale:
            del self._states[k]

    # ------------------------------------------------------------------ internals

    def _observe(self, s: _TrackState, track: Track, now: float, frame_h: int) -> PostureReading:
        m = measure(track.box, track.keypoints, self.tuning.keypoint_conf, frame_h)
        raw, raw_conf = classify(m, self.tuning)
        if raw is Posture.STANDING and self._too_low(s, m, now):
            raw = Posture.SITTING  # upright torso and legs, but far too low: kneeling
        if raw is Posture.STANDING and track.score < self.tuning.upright_score:
            raw = Posture.UNKNOWN  # a doubtful box (low score) is no upright reference
        sample = _Sample(
            now, track.box, m.top, m.hip_y, raw, track.score >= self.tuning.upright_score
        )
        samples = s.samples
        while samples and now - samples[0].t > self.tuning.memory:
            samples.popleft()
        prev_raw = samples[-1].raw if samples else None
        dt = now - s.last_seen if samples else math.inf
        s.last_seen = now

        # reference: the person's own upright size, from recent standing frames
        if raw is Posture.STANDING:
            self._update_reference(s, sample, m)
        ref = s.ref
        if raw is Posture.SITTING and sample.trusted and m.hip_y is not None:
            self._update_seat(s, sample, m)
        seat = s.seat if s.seat is not None and now - s.seat.t <= self.tuning.fall_window else None
        if ref is not None and now - ref.t <= self.tuning.memory:
            sample.descent = self._descent(samples, sample, ref)
        elif seat is not None:
            sample.descent = self._descent(samples, sample, seat)
        samples.append(sample)

        # smoothed posture
        self._smooth(s, raw, raw_conf, prev_raw, dt, now)

        # falls
        fresh_ref = ref is not None and now - ref.t <= self.tuning.fall_window
        if s.fall_at is None:
            check = s.pending.ref if s.pending is not None else (ref if fresh_ref else seat)
            sample.down = check is not None and self._is_down(sample, m, check)
            if sample.down and check is not None:
                if s.pending is None:
                    # a fall starts on a trusted box; low-score ones may only confirm it
                    if sample.trusted and self._fast_since(samples, check, self.tuning.fall_speed):
                        s.pending = _Pending(now, check)
                        if self._strong(samples, m, check):
                            s.pending.n = self.tuning.confirm_frames  # no need to wait
                elif now - s.pending.last <= self.tuning.fall_window:  # unseen meanwhile is fine
                    s.pending.n += 1
                    s.pending.last = now
                else:
                    s.pending = None
                if s.pending is not None and s.pending.n >= self.tuning.confirm_frames:
                    s.fall_at = s.pending.first
                    s.fall_ref = s.pending.ref
                    s.pending = None
                    self._force_down(s, raw)
            elif s.pending is not None and now - s.pending.last > self.tuning.grace:
                s.pending = None
        elif s.posture is Posture.STANDING and s.since > s.fall_at:
            # upright again since the fall: back up to the level before it, or long enough
            before = s.fall_ref
            level_ok = (
                before is not None and (m.top - before.top) < self.tuning.down_drop * before.height
            )
            if level_ok or now - s.since >= self.tuning.clear_after:
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

    def _lost(self, s: _TrackState, track: Track, now: float) -> PostureReading:
        """The reading of a LOST track: its last one, unless it was lost going down.

        A person lost by the model right after a fast drop (a fall seen starting, or the
        box top coming down at ``strong_speed`` already ``down_drop`` below upright) is
        not just gone: they are reported LYING from the drop on -- a "person down"
        candidate a ``posture: lying`` rule can time. The last box must be a trusted one
        (scored at least ``upright_score``): a fragment of someone leaving the picture,
        scored low, is no drop. A fall seen starting (standing →
        down, fast, one down frame) whose person then stays unseen for ``lost_fall`` s
        is confirmed, dated at its first down frame (0: never).
        """
        reading = s.reading
        assert reading is not None
        if s.fall_at is not None or not s.samples:
            return reading
        last = s.samples[-1]
        drop_at: float | None = None
        if s.pending is not None:
            drop_at = s.pending.first
        elif last.trusted and s.ref is not None and last.t - s.ref.t <= self.tuning.fall_window:
            h = s.ref.height
            if (
                last.descent >= self.tuning.strong_speed
                and last.top - s.ref.top >= self.tuning.down_drop * h
            ):
                drop_at = last.t
        if drop_at is None:
            return reading
        if (
            s.pending is not None
            and self.tuning.lost_fall > 0
            and now - s.last_seen >= self.tuning.lost_fall
            and now - s.pending.last <= self.tuning.fall_window + self.tuning.lost_fall
        ):
            s.fall_at = s.pending.first
            s.fall_ref = s.pending.ref
            s.pending = None
        if s.posture is not Posture.LYING:
            s.posture, s.since = Posture.LYING, drop_at
            i = _index(Posture.LYING)
            s.scores[i] = max(s.scores[i], 0.5)
        return PostureReading(
            track_id=track.track_id,
            posture=Posture.LYING,
            since=s.since,
            confidence=round(min(1.0, s.scores[_index(Posture.LYING)]), 3),
            fall_at=s.fall_at,
        )

    def _too_low(self, s: _TrackState, m: BodyMeasure, now: float) -> bool:
        """True when a body that looks upright is much lower and shorter than upright."""
        ref = s.fall_ref if s.fall_at is not None else s.ref
        if ref is None or (s.fall_at is None and now - ref.t > self.tuning.fall_window):
            return False
        h = ref.height
        return (
            m.top - ref.top >= self.tuning.down_drop * h
            and m.height < self.tuning.upright_height * h
        )

    def _update_seat(self, s: _TrackState, sample: _Sample, m: BodyMeasure) -> None:
        """The seated reference: sitting still (trusted SITTING frames, box top steady) for
        the last ``seat_hold`` s -- a chair, a bed edge; a squat on the way down is not."""
        horizon = sample.t - self.tuning.seat_hold
        tops = [m.top]
        heights = [m.height]
        hips = [m.hip_y] if m.hip_y is not None else []
        oldest = sample.t
        for old in reversed(s.samples):
            if old.t < horizon:
                break
            if old.raw is not Posture.SITTING or not old.trusted:
                return
            tops.append(old.top)
            heights.append(old.box.height)
            if old.hip_y is not None:
                hips.append(old.hip_y)
            oldest = old.t
        if sample.t - oldest < 0.9 * self.tuning.seat_hold or not hips:
            return
        height = sum(heights) / len(heights)
        if max(tops) - min(tops) > 0.15 * height:
            return
        s.seat = _Reference(sample.t, height, min(tops), min(hips), seated=True)

    def _update_reference(self, s: _TrackState, sample: _Sample, m: BodyMeasure) -> None:
        horizon = sample.t - self.tuning.reference_span
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
            if not old.trusted:
                continue  # a low-score box: its top is no level to measure a drop from
            span = sample.t - old.t
            if span >= self.tuning.speed_span * 0.99:
                if span > 3.0 * self.tuning.speed_span:
                    return 0.0
                return max(0.0, (sample.top - old.top) / (ref.height * span))
        return 0.0

    def _fast_since(self, samples: deque[_Sample], ref: _Reference, speed: float) -> bool:
        """True when the box top came down at ``speed`` or faster since the reference."""
        start = ref.t - self.tuning.speed_span
        for old in reversed(samples):
            if old.t < start:
                break
            if old.descent >= speed:
                return True
        return False

    def _strong(self, samples: deque[_Sample], m: BodyMeasure, ref: _Reference) -> bool:
        """A drop so fast and so deep that one frame on the floor is enough (the model
        often loses a person right after such a fall), if the frame before it already
        showed the fall under way: one glitched frame is never a fall."""
        h = ref.height
        if m.top - ref.top < self.tuning.strong_drop * h or len(samples) < 2:
            return False
        before = samples[-2]
        if samples[-1].t - before.t > _STRONG_GAP or before.top - ref.top < _UNDER_WAY * h:
            return False
        if m.hip_y is None or ref.hip_y is None:
            return False
        if m.hip_y - ref.hip_y < 2.0 / 3.0 * self.tuning.strong_drop * h:
            return False
        return self._fast_since(samples, ref, self.tuning.strong_speed)

    def _is_down(self, sample: _Sample, m: BodyMeasure, ref: _Reference) -> bool:
        h = ref.height
        if ref.seated:  # off a seat: the hips must come down too (lying back on a bed: no)
            if sample.raw is Posture.STANDING or m.hip_y is None or ref.hip_y is None:
                return False
            return (
                m.hip_y - ref.hip_y >= self.tuning.seat_drop * h
                and m.top - ref.top >= self.tuning.down_drop * h
            )
        if sample.raw is Posture.LYING:
            return True
        if (m.top - ref.top) < self.tuning.down_drop * h:
            return False
        if m.hip_y is not None and ref.hip_y is not None:
            return (m.hip_y - ref.hip_y) >= self.tuning.down_hip_drop * h
        return m.height <= self.tuning.down_height * h

    def _force_down(self, s: _TrackState, raw: Posture) -> None:
        """A confirmed fall outweighs the smoothing: the person is on the ground now."""
        down = Posture.LYING if raw is Posture.LYING else Posture.SITTING
        if s.posture is not Posture.LYING and s.posture is not down:
            i = _index(down)
            s.scores[i] = max(s.scores[i], max(s.scores), 0.5)
            s.posture = down
            s.since = s.fall_at if s.fall_at is not None else s.since

    def _smooth(
        self,
        s: _TrackState,
        raw: Posture,
        raw_conf: float,
        prev_raw: Posture | None,
        dt: float,
        now: float,
    ) -> None:
        alpha = (
            1.0 if not math.isfinite(dt) else 1.0 - math.exp(-max(dt, 0.0) / self.tuning.smooth_tau)
        )
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


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (a box inside another counts as 1)."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    small = min(a.area, b.area)
    return ix * iy / small if small > 0 else 0.0
