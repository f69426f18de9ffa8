"""The site identity: per-camera tracks → global people with a role, a name, a flag.

Two halves, on two kinds of thread:

* :class:`CameraIdentity`, in each camera thread (it has the frame): for a track that is
  new and not identified yet, a few appearance samples (colours, proportions, an
  embedding) and role estimates, spaced in time; nothing at all for a track the site has
  settled. Samples go to the site's inbox.
* :class:`SiteIdentity`, on the single consumer thread: when a track has enough samples,
  the hand-off (:mod:`guardian.identity.handoff`) against the people on site the camera
  graph allows (:mod:`guardian.identity.graph`): the same person, a new person (named,
  when they match an enrolled one), or — when unsure — nobody: the track stays
  ``unknown``. Then every track of the observation gets its person id, role, name and
  ``responsible`` flag before the rules see it.

Roles stick to the person: the estimates of all their tracks, on every camera, are
combined (an enrolled person's role is the enrolled one).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from guardian.config.identity import IdentityConfig, MatchConfig
from guardian.identity import ANONYMOUS_PREFIX
from guardian.identity.appearance import Appearance, FloatArray, describe
from guardian.identity.gallery import EnrolledPerson, Gallery
from guardian.identity.graph import VISIBLE_WINDOW, CameraGraph, Whereabouts
from guardian.identity.handoff import Candidate, Decision, Verdict, decide, pair_cost
from guardian.identity.role import RoleEstimate, RoleEstimator
from guardian.records import Frame, Observation, Track, TrackState
from guardian.store import Store
from guardian.vocab import Role

if TYPE_CHECKING:
    from guardian.identity.embedder import AppearanceEmbedder

log = logging.getLogger("guardian.identity")

Key = tuple[str, int]

#: appearance samples kept per person (their tracks' first samples, most recent last)
PERSON_SAMPLES = 24
#: role estimates kept per person
PERSON_ROLES = 12
#: a settled track whose person's role is still unknown gets this many more role-only
#: sightings (no appearance), this far apart: a role is worth a few more looks
ROLE_SAMPLES = 8
ROLE_INTERVAL = 1.0
#: keypoints needed for a sample: shoulders, hips, knees (at least this many seen)
_BODY = (5, 6, 11, 12, 13, 14)
_MIN_BODY = 4
_TORSO = frozenset({5, 6, 11, 12})
_MIN_HEIGHT = 48.0
#: a box closer than this share of the width to the left/right edge is cut: no sample
_EDGE = 0.01


@dataclass(frozen=True, slots=True)
class Sighting:
    """One sample of a track, taken in the camera thread: its appearance (None for a
    role-only look at a track already settled) and a role estimate."""

    camera: str
    track_id: int
    timestamp: float
    appearance: Appearance | None
    role: RoleEstimate | None = None


@dataclass(frozen=True, slots=True)
class PersonInfo:
    """A person on site, as seen from outside."""

    person_id: str
    enrolled_id: str | None
    role: str
    role_confidence: float
    responsible: bool
    tracks: tuple[Key, ...]
    last_seen: float


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    """A decision the site took about a track (for logs and the benchmark)."""

    timestamp: float
    camera: str
    track_id: int
    verdict: Verdict
    person_id: str | None
    cost: float
    second: float
    confidence: float


@dataclass
class _Person:
    person_id: str
    enrolled_id: str | None = None
    enrolled_role: str | None = None
    responsible: bool = False
    samples: deque[Appearance] = field(default_factory=lambda: deque(maxlen=PERSON_SAMPLES))
    roles: deque[RoleEstimate] = field(default_factory=lambda: deque(maxlen=PERSON_ROLES))
    tracks: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    role_cache: tuple[Role, float] | None = None


@dataclass
class _TrackState:
    camera: str
    track_id: int
    first_seen: float
    samples: list[Appearance] = field(default_factory=list)
    roles: list[RoleEstimate] = field(default_factory=list)
    person: str | None = None
    done: bool = False
    fresh: bool = False
    role_cache: tuple[Role, float] | None = None


def _good_for_sample(track: Track, width: int) -> bool:
    """Big enough, and enough of the body seen: the whole torso (shoulders and hips), or —
    away from the image's sides, where people are cut — four of shoulders, hips, knees."""
    box = track.box
    if box.height < _MIN_HEIGHT:
        return False
    seen = {i for i in _BODY if i < len(track.keypoints) and track.keypoints[i].conf >= 0.4}
    if seen >= _TORSO:
        return True
    at_side = box.x1 < _EDGE * width or box.x2 > (1 - _EDGE) * width
    return not at_side and len(seen) >= _MIN_BODY


class CameraIdentity:
    """One camera's half: samples new, unidentified tracks a few times (camera thread)."""

    def __init__(
        self,
        camera: str,
        site: SiteIdentity,
        *,
        embedder: AppearanceEmbedder | None,
        roles: RoleEstimator | None,
        match: MatchConfig,
        embeddings: int = 1,
    ) -> None:
        self.camera = camera
        self.site = site
        self.embedder = embedder
        self.embeddings = embeddings
        self.roles = roles
        self.match = match
        self._count: dict[int, int] = {}
        self._last: dict[int, float] = {}
        self._role_count: dict[int, int] = {}
        self._role_last: dict[int, float] = {}

    def sample(self, frame: Frame, tracks: Sequence[Track]) -> tuple[Sighting, ...]:
        """Samples of this frame's tracks that still need one; handed to the site."""
        chosen: list[Track] = []
        role_only: list[Track] = []
        for track in tracks:
            tid = track.track_id
            if track.state is TrackState.REMOVED:
                for memo in (self._count, self._last, self._role_count, self._role_last):
                    memo.pop(tid, None)
                continue
            if track.state is not TrackState.TRACKED:
                continue
            if self._count.get(tid, 0) >= self.match.max_samples or self.site.settled(
                self.camera, tid
            ):
                if self._wants_role(track, frame.timestamp):
                    role_only.append(track)
                continue
            if frame.timestamp - self._last.get(tid, -1e18) < self.match.interval:
                continue
            if not _good_for_sample(track, frame.width):
                continue
            chosen.append(track)
        if not chosen and not role_only:
            return ()
        # embeddings for a track's first few samples only (they cost the most)
        to_embed = [t for t in chosen if self._count.get(t.track_id, 0) < self.embeddings]
        vectors: dict[int, FloatArray] = {}
        if self.embedder is not None and to_embed:
            rows = self.embedder.embed(frame.image, [t.box for t in to_embed])
            vectors = {t.track_id: rows[i] for i, t in enumerate(to_embed)}
        out = []
        for track in chosen:
            tid = track.track_id
            self._count[tid] = self._count.get(tid, 0) + 1
            self._last[tid] = frame.timestamp
            looks = describe(frame.image, track.box, track.keypoints, vectors.get(tid))
            role = None
            if self.roles is not None:
                with self.site.roles_lock:  # one face model shared by the camera threads
                    role = self.roles.estimate(frame.image, track.box, track.keypoints)
            out.append(Sighting(self.camera, tid, frame.timestamp, looks, role))
        for track in role_only:
            tid = track.track_id
            self._role_count[tid] = self._role_count.get(tid, 0) + 1
            self._role_last[tid] = frame.timestamp
            assert self.roles is not None
            with self.site.roles_lock:
                role = self.roles.estimate(frame.image, track.box, track.keypoints)
            out.append(Sighting(self.camera, tid, frame.timestamp, None, role))
        sightings = tuple(out)
        self.site.submit(sightings)
        return sightings

    def _wants_role(self, track: Track, now: float) -> bool:
        """A settled track whose person's role is still unknown: a few more looks."""
        tid = track.track_id
        return (
            self.roles is not None
            and self._role_count.get(tid, 0) < ROLE_SAMPLES
            and now - self._role_last.get(tid, -1e18) >= ROLE_INTERVAL
            and self.site.needs_role(self.camera, tid)
        )


class SiteIdentity:
    """The site's half: hand-off decisions and the people on site (consumer thread)."""

    def __init__(
        self,
        config: IdentityConfig,
        cameras: Sequence[str],
        *,
        enrolled: Sequence[EnrolledPerson] = (),
        embedder: AppearanceEmbedder | None = None,
        roles: RoleEstimator | None = None,
    ) -> None:
        self.config = config
        self.match = config.match
        self.graph = CameraGraph(config, cameras)
        self.enrolled = {p.person_id: p for p in enrolled if p.samples}
        self.embedder = embedder
        self.roles = roles
        self._people: dict[str, _Person] = {}
        self._tracks: dict[Key, _TrackState] = {}
        self._settled: set[Key] = set()
        #: settled tracks whose person (or the track alone) has no role yet
        self._role_pending: set[Key] = set()
        self._inbox: list[Sighting] = []
        self._lock = threading.Lock()
        #: held by a camera thread while it estimates a role (the models are shared)
        self.roles_lock = threading.Lock()
        self._ids = itertools.count(1)
        #: every decision taken, oldest first (bounded)
        self.decisions: deque[HandoffRecord] = deque(maxlen=10000)
        self._cameras: dict[str, CameraIdentity] = {}

    # -- camera side ------------------------------------------------------------
    def camera(self, camera: str) -> CameraIdentity:
        """The camera thread's half for ``camera`` (one per camera)."""
        if camera not in self._cameras:
            self._cameras[camera] = CameraIdentity(
                camera,
                self,
                embedder=self.embedder,
                roles=self.roles,
                match=self.match,
                embeddings=self.config.embeddings_per_track,
            )
        return self._cameras[camera]

    def settled(self, camera: str, track_id: int) -> bool:
        """True when the track needs no more samples (any thread)."""
        return (camera, track_id) in self._settled

    def needs_role(self, camera: str, track_id: int) -> bool:
        """True when a settled track's person has no role yet (any thread)."""
        return (camera, track_id) in self._role_pending

    def submit(self, sightings: Sequence[Sighting]) -> None:
        """Samples from a camera thread, picked up by the next :meth:`update`."""
        if sightings:
            with self._lock:
                self._inbox.extend(sightings)

    # -- site side --------------------------------------------------------------
    def update(self, obs: Observation) -> Observation:
        """The observation with its tracks' person id, role, name and flag filled in."""
        with self._lock:
            inbox, self._inbox = self._inbox, []
        now = obs.timestamp
        for s in inbox:
            st = self._state(s.camera, s.track_id, s.timestamp)
            if s.appearance is not None:
                st.samples.append(s.appearance)
                st.fresh = not st.done
            if s.role is not None:
                st.roles.append(s.role)
                st.role_cache = None
                if st.person is not None and st.person in self._people:
                    self._people[st.person].roles.append(s.role)
                    self._people[st.person].role_cache = None
        for track in obs.tracks:
            st = self._state(obs.camera, track.track_id, track.first_seen)
            person = self._people.get(st.person) if st.person is not None else None
            if track.state is TrackState.REMOVED:
                if person is not None and person.tracks.get(obs.camera) == track.track_id:
                    del person.tracks[obs.camera]
                continue
            if person is not None and track.state is TrackState.TRACKED:
                person.last_seen[obs.camera] = now
        ready = {
            key: st
            for key, st in self._tracks.items()
            if st.fresh and not st.done and len(st.samples) >= self.match.samples
        }
        if ready:
            self._resolve(ready, now)
        out = tuple(self._fill(obs.camera, t) for t in obs.tracks)
        for track in out:
            key = (obs.camera, track.track_id)
            if track.state is TrackState.REMOVED:
                self._tracks.pop(key, None)
                self._settled.discard(key)
                self._role_pending.discard(key)
            elif key in self._settled and track.role == Role.UNKNOWN:
                self._role_pending.add(key)
            else:
                self._role_pending.discard(key)
        self._expire(now)
        return dataclasses.replace(obs, tracks=out)

    def people(self) -> list[PersonInfo]:
        """Everyone on site now."""
        return [self._info(p) for p in self._people.values()]

    def person_of(self, camera: str, track_id: int) -> str | None:
        st = self._tracks.get((camera, track_id))
        return st.person if st is not None else None

    # -- internals --------------------------------------------------------------
    def _state(self, camera: str, track_id: int, first_seen: float) -> _TrackState:
        key = (camera, track_id)
        st = self._tracks.get(key)
        if st is None:
            st = self._tracks[key] = _TrackState(camera, track_id, first_seen)
        return st

    def _whereabouts(self, person: _Person, now: float) -> Whereabouts:
        holding = frozenset(
            cam for cam in person.tracks if now - person.last_seen.get(cam, -1e18) <= VISIBLE_WINDOW
        )
        return Whereabouts(dict(person.last_seen), holding)

    def _candidates(self, st: _TrackState, now: float) -> list[Candidate]:
        out = []
        for person in self._people.values():
            if not person.samples:
                continue
            cost = self.graph.time_cost(st.camera, now, self._whereabouts(person, now))
            if cost is not None:
                out.append(Candidate(person.person_id, tuple(person.samples), cost))
        return out

    def _resolve(self, ready: dict[Key, _TrackState], now: float) -> None:
        for st in ready.values():
            st.fresh = False
        pending = dict(ready)
        # first against the people on site; tracks that are nobody become new people one
        # at a time, so two cameras seeing a newcomer at once agree on one person
        while pending:
            decisions = decide(
                {k: st.samples for k, st in pending.items()},
                {k: self._candidates(st, now) for k, st in pending.items()},
                self.match,
            )
            new: list[Decision] = []
            for d in decisions:
                st = pending[d.key]
                if d.verdict is Verdict.MATCH:
                    assert d.person_id is not None
                    self._bind(st, d.person_id, now)
                    self._record(now, st, d)
                    del pending[d.key]
                elif d.verdict is Verdict.NEW:
                    new.append(d)
                else:
                    if len(st.samples) >= self.match.max_samples:  # still unsure: unknown
                        st.done = True
                        self._settled.add(d.key)
                    self._record(now, st, d)
                    del pending[d.key]
            if not new:
                break
            first = min(new, key=lambda d: pending[d.key].first_seen)
            st = pending.pop(first.key)
            person_id = self._new_person(st, now)
            # how sure it is nobody on site: the best cost (1 when there was no candidate)
            sure = min(1.0, max(0.0, first.cost))
            self._record(now, st, dataclasses.replace(first, person_id=person_id, confidence=sure))

    def _new_person(self, st: _TrackState, now: float) -> str:
        enrolled = self._recognise(st.samples)
        if enrolled is not None:
            person = _Person(
                enrolled.person_id,
                enrolled_id=enrolled.person_id,
                enrolled_role=enrolled.role,
                responsible=enrolled.responsible,
            )
            person.samples.extend(enrolled.samples)
        else:
            person = _Person(f"{ANONYMOUS_PREFIX}{next(self._ids)}")
        self._people[person.person_id] = person
        self._bind(st, person.person_id, now)
        log.info(
            "%s track %d: new person %s%s",
            st.camera,
            st.track_id,
            person.person_id,
            " (enrolled)" if enrolled is not None else "",
        )
        return person.person_id

    def _recognise(self, samples: Sequence[Appearance]) -> EnrolledPerson | None:
        """The enrolled person (not on site already) these samples clearly are, if any."""
        costs = sorted(
            (pair_cost(samples, p.samples), p.person_id)
            for p in self.enrolled.values()
            if p.person_id not in self._people
        )
        if not costs or costs[0][0] > self.match.gallery:
            return None
        if len(costs) > 1 and costs[1][0] - costs[0][0] < self.match.margin:
            return None
        return self.enrolled[costs[0][1]]

    def _bind(self, st: _TrackState, person_id: str, now: float) -> None:
        person = self._people[person_id]
        old = person.tracks.get(st.camera)
        if old is not None and old != st.track_id:  # their lost track here is not them now
            previous = self._tracks.get((st.camera, old))
            if previous is not None:
                previous.person = None
        person.tracks[st.camera] = st.track_id
        person.last_seen[st.camera] = now
        person.samples.extend(st.samples)
        person.roles.extend(st.roles)
        person.role_cache = None
        st.person = person_id
        st.done = True
        self._settled.add((st.camera, st.track_id))

    def _record(self, now: float, st: _TrackState, d: Decision) -> None:
        self.decisions.append(
            HandoffRecord(
                now,
                st.camera,
                st.track_id,
                d.verdict,
                d.person_id,
                d.cost,
                d.second,
                d.confidence,
            )
        )
        log.debug("%s track %d: %s", st.camera, st.track_id, d)

    def _role(self, person: _Person | None, st: _TrackState | None) -> tuple[Role, float]:
        """(role, how sure): the enrolled role, else the person's (or the lone track's)
        estimates combined."""
        if person is not None and person.enrolled_role is not None:
            return Role(person.enrolled_role), 1.0
        holder: _Person | _TrackState | None = person if person is not None else st
        if holder is None or not holder.roles:
            return Role.UNKNOWN, 0.0
        if holder.role_cache is None:  # combined once per new estimate, not per frame
            combined = RoleEstimator.combine(list(holder.roles))
            holder.role_cache = (Role(combined.role), combined.confidence)
        return holder.role_cache

    def _fill(self, camera: str, track: Track) -> Track:
        st = self._tracks.get((camera, track.track_id))
        person = self._people.get(st.person) if st is not None and st.person else None
        role, _ = self._role(person, st)
        return dataclasses.replace(
            track,
            person_id=person.person_id if person is not None else None,
            role=role,
            responsible=person.responsible if person is not None else False,
            enrolled_id=person.enrolled_id if person is not None else None,
        )

    def _info(self, person: _Person) -> PersonInfo:
        role, sure = self._role(person, None)
        return PersonInfo(
            person.person_id,
            person.enrolled_id,
            role,
            sure,
            person.responsible,
            tuple(sorted(person.tracks.items())),
            max(person.last_seen.values(), default=0.0),
        )

    def _expire(self, now: float) -> None:
        gone = [
            pid
            for pid, p in self._people.items()
            if not p.tracks
            and now - max(p.last_seen.values(), default=now) > self.config.on_site_for
        ]
        for pid in gone:
            del self._people[pid]


def load_enrolled(database: Path) -> list[EnrolledPerson]:
    """The enrolled people of a site's database (none when the file does not exist)."""
    if not database.is_file():
        return []
    with Store(database) as store:
        return Gallery(store).people()


__all__ = [
    "CameraIdentity",
    "HandoffRecord",
    "PersonInfo",
    "Sighting",
    "SiteIdentity",
    "load_enrolled",
]
