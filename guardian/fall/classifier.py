"""Posture and falls per track: the geometric estimator plus the learned fall model.

:class:`FallClassifier` is a drop-in for :class:`guardian.pose.PostureTracker` (both are
a :class:`~guardian.pose.PostureEstimator`: same ``update(tracks, timestamp, width,
height)``, same :class:`~guardian.records.PostureReading` per TRACKED or LOST track, same
hand-off of a person lost while falling and found again as a new track). It holds a
:class:`~guardian.pose.PostureTracker` (the geometric estimator, with its
:class:`~guardian.pose.PostureTuning`) and drives it track by track through its public
steps (``start`` / ``observe`` / ``lost`` / ``forget`` / ``sweep``). What it adds:

* per person, a :class:`~guardian.fall.features.FeatureTrack` (normalised, camera-free
  features of every observed frame) and a window of *ticks*: the features sampled every
  ``1 / rate`` s of track time (10 per second for the shipped model; at 30 fps every
  third frame makes a tick, at 5 fps every frame makes two, holding the frame's
  features), so the model sees the same time scale at any frame rate;
* on every tick the :class:`~guardian.fall.model.FallNet` gives P(fallen) for the window;
  ``confirm`` ticks in a row at or above ``threshold`` confirm a fall, dated
  (``fall_at``) at the first of them. A tick only counts when the geometry agrees that
  this is "upright → down": the person was seen upright (STANDING) in the last few
  seconds (the features' upright reference, kept 4 s; so a person first seen lying, or
  a track taken over by a body already on the floor, never "falls"), and the frame's
  raw posture is LYING or its box top or hips are at least ``down_guard`` (0.3) upright
  heights below their upright level (a kneeling body looks upright but is low). Without that guard the
  network, trained on few activities, called some walking (people leaving the picture
  at its edge) and standing frames falls when those activities were held out of its
  training (``bench/falls.py``, leave-one-out).

How the fall is decided (``mode``):

* ``learned``: the network alone;
* ``hybrid``: the geometric estimator's fall (see :mod:`guardian.pose`), kept only when
  the network agrees (P ≥ threshold on some tick from ``agree_before`` s before the
  geometric ``fall_at`` up to now); what the network adds is fewer false falls.

The posture is the geometric estimator's (smoothed STANDING / SITTING / LYING /
UNKNOWN). While a confirmed fall is kept and the person is not upright, the posture is
LYING (since the fall), so a ``posture`` rule with ``state: lying, for: N s`` also gives
"person down" after a fall seen as sitting on the floor; a person lying down without a
fall is LYING through the geometric posture alone. ``fall_at`` is cleared once the
person has been STANDING for ``clear_after`` s after the fall.

Cost: the geometric part (tens of µs) plus, per tick, one window through the network
(tens of µs; ``bench/falls.py`` measures it).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from guardian.fall.features import FEATURES, FeatureTrack, SkeletonKind, skeleton_kind
from guardian.fall.model import FallNet, shipped_weights
from guardian.pose import PostureTracker, overlap
from guardian.records import Box, Posture, PostureReading, Track, TrackState

__all__ = ["FallClassifier", "FallMode", "TickRecorder"]

FallMode = Literal["learned", "hybrid"]
#: called on every tick with (person id, tick time, features, box) — for building
#: training data with exactly the run-time feature path
TickRecorder = Callable[[int, float, npt.NDArray[np.float32], Box], None]

#: at most this many ticks are replayed after a gap in a track (a full window)
_MAX_CATCH_UP = 64
_person_ids = itertools.count(1)
#: the feature saying the person was seen upright in the last few seconds
_HAS_REF = FEATURES.index("has_ref")
_TOP_DROP = FEATURES.index("top_drop")
_HIP_DROP = FEATURES.index("hip_drop")


class _Person:
    """The learned model's state of one person (kept across a track hand-off)."""

    __slots__ = (
        "box",
        "feats",
        "first_hit",
        "hits",
        "last_t",
        "next_tick",
        "probs",
        "uid",
        "window",
    )

    def __init__(self, window: int, skeleton: SkeletonKind) -> None:
        self.uid = next(_person_ids)
        self.feats = FeatureTrack(skeleton=skeleton)
        n = len(self.feats.names)
        self.window: deque[npt.NDArray[np.float32]] = deque(
            [np.zeros(n, dtype=np.float32)] * window, maxlen=window
        )
        self.next_tick: float | None = None
        self.last_t = -np.inf
        self.box: Box | None = None
        self.hits = 0
        self.first_hit: float | None = None
        #: (tick time, P(fallen)) of the last few seconds
        self.probs: deque[tuple[float, float]] = deque(maxlen=64)

    def copy(self) -> _Person:
        out = _Person.__new__(_Person)
        out.uid = self.uid
        out.feats = self.feats.copy()
        out.window = deque(self.window, maxlen=self.window.maxlen)
        out.next_tick = self.next_tick
        out.last_t = self.last_t
        out.box = self.box
        out.hits = self.hits
        out.first_hit = self.first_hit
        out.probs = deque(self.probs, maxlen=self.probs.maxlen)
        return out

    def recent_max(self, since: float) -> float:
        return max((p for t, p in self.probs if t >= since), default=0.0)


class FallClassifier:
    """One camera: geometric posture + learned falls (see the module docstring).

    ``net`` None records ticks only (``recorder``), for building training data.
    ``threshold`` None: the one stored with the weights; ``down_guard`` 0 turns the
    "well below the upright level" part of the guard off; ``skeleton`` (with no net): which
    skeleton features to record (a net brings its own). ``postures``: the geometric
    estimator it holds (None: one with the default tuning); give each classifier its own.
    """

    def __init__(
        self,
        net: FallNet | None,
        *,
        mode: FallMode = "learned",
        threshold: float | None = None,
        confirm: int = 2,
        agree_before: float = 1.0,
        down_guard: float = 0.3,
        window: int = 20,
        rate: float = 10.0,
        recorder: TickRecorder | None = None,
        skeleton: SkeletonKind = "none",
        postures: PostureTracker | None = None,
    ) -> None:
        if confirm < 1:
            raise ValueError("confirm must be >= 1")
        self.net = net
        self.mode: FallMode = mode
        self.window = net.window if net is not None else window
        self.rate = net.rate if net is not None else rate
        self.skeleton: SkeletonKind = skeleton_kind(net.features) if net is not None else skeleton
        self.threshold = (
            threshold if threshold is not None else (net.threshold if net is not None else 0.5)
        )
        self.confirm = confirm
        self.agree_before = agree_before
        self.down_guard = down_guard
        self.recorder = recorder
        self.postures = postures if postures is not None else PostureTracker()
        self._people: dict[int, _Person] = {}
        #: fall_at of each person (by uid) with a confirmed fall
        self._falls: dict[int, float] = {}

    @classmethod
    def load(cls, weights: Path | None = None, **kwargs: Any) -> FallClassifier:
        """The classifier with ``weights`` (None: the weights shipped in the package)."""
        return cls(FallNet.load(weights if weights is not None else shipped_weights()), **kwargs)

    def reset(self) -> None:
        """Forget every track."""
        self.postures.reset()
        self._people.clear()
        self._falls.clear()

    def update(
        self, tracks: Sequence[Track], timestamp: float, width: int, height: int
    ) -> tuple[PostureReading, ...]:
        """Readings for the TRACKED and LOST tracks of one frame, in the tracks' order."""
        now = float(timestamp)
        geometric = self.postures
        out: list[PostureReading] = []
        for track in tracks:
            if track.state is TrackState.REMOVED:
                geometric.forget(track.track_id)
                continue
            if track.state is TrackState.TENTATIVE:
                continue
            if track.state is TrackState.LOST:
                reading = self._lost(track, now)
            else:
                if not geometric.knows(track.track_id):
                    self._start(track, now)
                reading = self._observe(track, now, height)
            geometric.hold(track.track_id, reading)
            out.append(reading)
        geometric.sweep(now)
        gone = [k for k in self._people if not geometric.knows(k)]
        if gone:  # removed tracks (and those forgotten by the geometric part)
            for key in gone:
                del self._people[key]
            alive = {p.uid for p in self._people.values()}
            for uid in [u for u in self._falls if u not in alive]:
                del self._falls[uid]
        return tuple(out)

    # ------------------------------------------------------------------ internals

    def _start(self, track: Track, now: float) -> None:
        """A new track: the geometric state (perhaps handed on) and its person."""
        handed_from = self.postures.start(track, now)
        # the geometric estimator handed a falling track on: its person comes along
        source = self._people.get(handed_from) if handed_from is not None else None
        if source is None:
            source = self._learned_handoff(track, now)
        person = source.copy() if source is not None else _Person(self.window, self.skeleton)
        if source is not None:
            source.hits, source.first_hit = 0, None  # one fall, one owner
        self._people[track.track_id] = person

    def _learned_handoff(self, track: Track, now: float) -> _Person | None:
        """A person lost here while the network saw a fall (or was confirming one)."""
        best: _Person | None = None
        best_iou = 0.1
        for key, person in self._people.items():
            if not self.postures.knows(key) or person.box is None:
                continue
            if now - person.last_t > self.postures.tuning.handoff_time or person.last_t >= now:
                continue
            falling = person.uid in self._falls or person.hits > 0
            falling = falling or person.recent_max(person.last_t - 0.5) >= 0.5 * self.threshold
            if not falling:
                continue
            iou = overlap(person.box, track.box)
            if iou > best_iou:
                best, best_iou = person, iou
        return best

    def _observe(self, track: Track, now: float, frame_h: int) -> PostureReading:
        geo = self.postures.observe(track, now, frame_h)
        person = self._people.get(track.track_id)
        if person is None:
            person = self._people[track.track_id] = _Person(self.window, self.skeleton)
        f = person.feats.observe(now, track.box, track.keypoints, frame_h)
        step = 1.0 / self.rate
        if person.next_tick is None or now - person.next_tick > _MAX_CATCH_UP * step:
            person.next_tick = now
        while person.next_tick <= now + 1e-6:
            self._tick(person, person.next_tick, f, track.box)
            person.next_tick += step
        person.last_t = now
        person.box = track.box
        return self._decide(track.track_id, person, geo, now)

    def _lost(self, track: Track, now: float) -> PostureReading:
        """A LOST track: the geometric candidate, its fall kept only as ``_decide`` says."""
        geo = self.postures.lost(track, now)
        person = self._people.get(track.track_id)
        if person is None:
            return geo if self.net is None else dataclasses.replace(geo, fall_at=None)
        return self._decide(track.track_id, person, geo, now)

    def _tick(self, person: _Person, t: float, f: npt.NDArray[np.float32], box: Box) -> None:
        person.window.append(f)
        if self.recorder is not None:
            self.recorder(person.uid, t, f, box)
        if self.net is None:
            return
        p = self.net.probability(np.stack(person.window))
        person.probs.append((t, p))
        if person.uid in self._falls:
            return
        if p >= self.threshold and self._down(person, f):
            person.hits += 1
            if person.first_hit is None:
                person.first_hit = t
            if person.hits >= self.confirm and self.mode == "learned":
                self._falls[person.uid] = person.first_hit
        else:
            person.hits, person.first_hit = 0, None

    def _down(self, person: _Person, f: npt.NDArray[np.float32]) -> bool:
        """The geometric sanity check of a learned fall: seen upright lately (a fall
        starts from upright) and now lying, or well below the upright level."""
        if f[_HAS_REF] <= 0:
            return False
        if self.down_guard <= 0 or person.feats.raw is Posture.LYING:
            return True
        return bool(f[_TOP_DROP] >= self.down_guard or f[_HIP_DROP] >= self.down_guard)

    def _decide(
        self, track_id: int, person: _Person, geo: PostureReading, now: float
    ) -> PostureReading:
        uid = person.uid
        geo_fall = self.postures.fall_at(track_id)
        if (
            self.mode == "hybrid"
            and uid not in self._falls
            and geo_fall is not None
            and person.recent_max(geo_fall - self.agree_before) >= self.threshold
        ):
            self._falls[uid] = geo_fall
        fall_at = self._falls.get(uid)
        posture, since = geo.posture, geo.since
        if fall_at is not None:
            if posture is Posture.STANDING and since > fall_at:
                if now - since >= self.postures.tuning.clear_after:
                    del self._falls[uid]
                    person.hits, person.first_hit = 0, None
                    fall_at = None
            else:  # down after a fall: LYING since the fall, whatever it looks like
                posture, since = Posture.LYING, min(since, fall_at)
        if self.net is None:
            fall_at = geo_fall
        return dataclasses.replace(
            geo, posture=posture, since=since, fall_at=fall_at, confidence=geo.confidence
        )
