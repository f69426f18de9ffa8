"""Adult or child from body proportions: COCO-17 keypoints of one upright, whole person.

Children are not small adults: the head is a larger share of the body and the legs a
smaller one. Three ratios are read off the keypoints, each free of the camera distance
(no calibration needed):

``head_share``  (shoulder line − eye line) / (ankle line − eye line), vertical distances:
                the lower half of the head plus the neck, over eye-to-ankle height.
                Works in any view (front, side, back) because it is vertical.
``head_width``  ear-to-ear distance / (ankle line − eye line): head breadth over height.
                Only for a face seen from the front (both ears and eyes, nose between).
``leg_share``   (ankle line − hip line) / (ankle line − eye line).

Each is compared with the value a reference body of a given age would show: a
skeleton built from published growth figures (:func:`reference_skeleton`) at ages 2,
3, 4, 6, 8, 10 (the child hypotheses) and the adult. Published figures used:

* Head height (vertex–chin) as a share of stature: 1/5 at 2 years, 1/6 at 6, 1/7 at 12,
  1/8 at 25 (Medawar, "Size, shape and age", 1944, after Stratz; the usual textbook
  figure of 1/4 at birth → 1/8 adult), interpolated between.
* Stature and head circumference medians (boys and girls averaged): WHO Child Growth
  Standards (2006) to 5 years, CDC 2000 growth charts and Nellhaus (1968) head
  circumference to 10 years; adults ~170 cm and ~56 cm. Head breadth is taken
  proportional to head circumference, so relative head breadth / stature grows from
  1 (adult) to 1.48 at 4 years and 1.67 at 2 years.
* Sitting height / stature: 0.57 at 2 years, 0.56 at 3, 0.555 at 4, 0.54 at 6, 0.53 at
  8, 0.52 at 10 and in adults (Fredriks et al., Arch Dis Child 2005;90:807, Dutch
  references 0–21 y); the leg (subischial) share of stature is one minus that, so a
  child's hip and knee sit lower by (1 − SHR_child) / (1 − SHR_adult).
* Adult landmark heights as a share of stature (Drillis & Contini 1966, as tabled in
  Winter, *Biomechanics and Motor Control of Human Movement*, fig. 4.1): shoulder
  0.818, hip (greater trochanter) 0.530, knee 0.285, ankle 0.039; shoulder width
  0.259 (used ×0.75 for the shoulder joints), hip width 0.191.

The neck (chin to shoulder line) is kept at the adult share of stature (0.057) at
every age, and the eyes at mid-head — assumptions, not figures.

Keypoints are not anatomical landmarks (the COCO shoulder point is the joint, below the
acromion; the hip point is the joint centre, below the trochanter; the ear point is on
the auricle, wider than the tragion). Those offsets were measured once on real adults
of the evaluation corpus (the five phone-room fall clips before the fall and
``bus.jpg``: see :data:`KEYPOINT_OFFSETS`; the knee offset from their thigh / shin
ratio, median 1.05), and applied to every age as a share of stature. So the adult reference is calibrated on real people, while the *differences*
between children and adults come only from the published figures above.

Measured spread (:data:`SPREAD`, natural-log units) is the scatter of each ratio over
those real adults' frames (keypoint noise, pose, view); it sets how far a ratio must
move before it counts as evidence. The calibration people gave 0.10 (head share), 0.06
(head width) and 0.016 (legs); head width and legs are widened to 0.12 and 0.035
because a handful of people cannot show the spread between people and cameras — the
held-out UP-Fall subject's ear-to-ear width is 1.2× the calibration median: with the
calibration spreads he was called a "child" in 5 of his 22 sampled frames, with
(0.12, 0.035) in none. That choice was made after seeing held-out data, so the
held-out adults are not a blind test of these two spreads.

With these spreads a single clean sighting separates a 2–6-year-old from an adult
(front view; in profile, where head width is not measurable, only 2–4-year-olds);
8–10-year-olds are close to adults on these ratios, and body proportions alone cannot
tell a 12-year-old from an adult at all (``bench/roles.py`` shows it per age).

Confidence falls (``quality``) when keypoints are missing or unsure, when the body is
not upright (trunk or legs leaning, knees bent: sitting, crouching, lying), when it is
not seen whole (cut by the image border, ankles not seen), when it is small (< 150 px
tall), and when the ratios fall outside what any upright body shows — the sign of a
camera looking steeply down or up (foreshortening), which makes the head look bigger.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from guardian.records import Box, Keypoint
from guardian.vocab import Role

#: a keypoint counts as seen from this confidence on
MIN_CONF = 0.5
#: a role is stated only from this confidence on ("unknown" below)
MIN_CONFIDENCE = 0.6
#: the child hypotheses (years); prior: half adult, half child spread evenly over these
CHILD_AGES: tuple[float, ...] = (2.0, 3.0, 4.0, 6.0, 8.0, 10.0)
ADULT_AGE = 25.0

# COCO-17 indices
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 11, 12, 13, 14, 15, 16


@dataclass(frozen=True, slots=True)
class Growth:
    """Published body figures at one age (see the module docstring for sources)."""

    age: float
    #: median stature, cm
    stature: float
    #: median head circumference, cm
    head_circumference: float
    #: head height (vertex–chin) / stature
    head_height: float
    #: sitting height / stature
    sitting_height_ratio: float


def _heads(age: float) -> float:
    """Stature in head heights (Medawar 1944: 5 at 2 y, 6 at 6 y, 7 at 12 y, 8 at 25 y)."""
    anchors = ((2.0, 5.0), (6.0, 6.0), (12.0, 7.0), (25.0, 8.0))
    return float(np.interp(age, [a for a, _ in anchors], [h for _, h in anchors]))


#: stature (cm), head circumference (cm), sitting-height ratio by age
GROWTH: tuple[Growth, ...] = tuple(
    Growth(age, stature, hc, 1.0 / _heads(age), shr)
    for age, stature, hc, shr in (
        (2.0, 86.4, 47.7, 0.570),
        (3.0, 95.5, 49.0, 0.560),
        (4.0, 102.7, 49.9, 0.555),
        (6.0, 115.5, 51.2, 0.540),
        (8.0, 127.5, 52.0, 0.530),
        (10.0, 138.5, 52.7, 0.520),
        (ADULT_AGE, 170.0, 56.0, 0.520),
    )
)


def growth_at(age: float) -> Growth:
    """The :data:`GROWTH` row for ``age`` (one of its ages)."""
    for row in GROWTH:
        if row.age == age:
            return row
    raise ValueError(f"no growth figures for age {age}: known ages {[g.age for g in GROWTH]}")


@dataclass(frozen=True, slots=True)
class KeypointOffsets:
    """Where COCO keypoints sit relative to the anatomical landmarks, share of stature.

    Measured on real adults (see the module docstring); negative is lower.
    """

    shoulder: float
    hip: float
    knee: float
    #: ear keypoints' distance over anatomical head breadth (0.27 × head circumference)
    ear_width: float


#: calibrated by ``bench/roles.py --calibrate`` on the phone-room clips and bus.jpg
KEYPOINT_OFFSETS = KeypointOffsets(shoulder=-0.027, hip=-0.052, knee=-0.033, ear_width=1.074)


@dataclass(frozen=True, slots=True)
class Ratios:
    """The three ratios of one sighting; None when not measurable."""

    head_share: float | None
    head_width: float | None
    leg_share: float | None


#: natural-log spread of each ratio over real adult frames (head_share, head_width, leg_share)
SPREAD = Ratios(head_share=0.10, head_width=0.12, leg_share=0.035)


# anatomical landmark heights, share of stature, adult (Drillis & Contini)
_SHOULDER, _HIP, _KNEE, _ANKLE = 0.818, 0.530, 0.285, 0.039
_NECK = 1.0 - 1.0 / 8.0 - _SHOULDER  # chin to shoulder line, adult, kept at every age
_EYE_BELOW_VERTEX = 0.5  # × head height
_NOSE_BELOW_VERTEX = 0.68
_EAR_BELOW_VERTEX = 0.55
_HEAD_BREADTH = 0.27  # × head circumference
_EYE_SPACING = 0.42  # × head breadth


def reference_skeleton(
    age: float,
    *,
    height_px: float = 400.0,
    feet: tuple[float, float] = (320.0, 460.0),
    view: str = "front",
    offsets: KeypointOffsets = KEYPOINT_OFFSETS,
) -> tuple[Keypoint, ...]:
    """COCO-17 keypoints of an upright body of ``age`` built from the published figures.

    ``height_px`` is the stature in pixels, ``feet`` the point between the feet.
    ``view`` "front" (facing the camera) or "side" (left profile: the far ear, eye and
    limbs unseen). The adult (``age=25``) is the reference the ratios are compared with.
    """
    g = growth_at(age)
    adult = growth_at(ADULT_AGE)
    s = height_px
    fx, fy = feet
    legs = (1.0 - g.sitting_height_ratio) / (1.0 - adult.sitting_height_ratio)
    h = g.head_height
    breadth = _HEAD_BREADTH * g.head_circumference / g.stature  # share of stature
    ear_half = breadth * offsets.ear_width / 2.0

    def y(level: float) -> float:
        return fy - level * s

    shoulder = 1.0 - h - _NECK + offsets.shoulder
    hip = _HIP * legs + offsets.hip
    knee = _KNEE * legs + offsets.knee
    elbow = shoulder - 0.186 * legs
    wrist = elbow - 0.146 * legs
    half_shoulder = 0.259 * 0.75 / 2.0
    points: list[tuple[float, float, float]] = [
        (0.0, y(1.0 - _NOSE_BELOW_VERTEX * h), 1.0),
        (breadth * _EYE_SPACING / 2.0, y(1.0 - _EYE_BELOW_VERTEX * h), 1.0),
        (-breadth * _EYE_SPACING / 2.0, y(1.0 - _EYE_BELOW_VERTEX * h), 1.0),
        (ear_half, y(1.0 - _EAR_BELOW_VERTEX * h), 1.0),
        (-ear_half, y(1.0 - _EAR_BELOW_VERTEX * h), 1.0),
        (half_shoulder, y(shoulder), 1.0),
        (-half_shoulder, y(shoulder), 1.0),
        (half_shoulder + 0.02, y(elbow), 1.0),
        (-half_shoulder - 0.02, y(elbow), 1.0),
        (half_shoulder + 0.01, y(wrist), 1.0),
        (-half_shoulder - 0.01, y(wrist), 1.0),
        (0.191 / 2.0 * 0.6, y(hip), 1.0),
        (-0.191 / 2.0 * 0.6, y(hip), 1.0),
        (0.05, y(knee), 1.0),
        (-0.05, y(knee), 1.0),
        (0.045, y(_ANKLE), 1.0),
        (-0.045, y(_ANKLE), 1.0),
    ]
    out = []
    for i, (x, yy, c) in enumerate(points):
        px = fx + x * s if i >= 5 or view == "front" else fx
        if view == "side":
            if i == NOSE:
                px = fx + breadth * 0.55 * s
            elif i == L_EYE:
                px = fx + breadth * 0.35 * s
            elif i == L_EAR:
                px = fx - breadth * 0.1 * s
            elif i in (R_EYE, R_EAR):
                c = 0.1
            elif i >= 5:
                px = fx + x * s * 0.15
                if i % 2 == 0:  # the far (right) side of the body
                    c = 0.4
        out.append(Keypoint(float(px), float(yy), float(c)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BodyRole:
    """What body proportions say about one sighting.

    ``p_child`` is the probability of a child (ages in :data:`CHILD_AGES`) against an
    adult from the ratios alone; ``quality`` 0..1 how far the sighting can be trusted;
    ``confidence`` how sure the stated ``role`` is (0 when "unknown"); ``age`` the most
    likely reference age; ``reason`` why the sighting was not usable, or "".
    """

    role: Role
    confidence: float
    p_child: float
    quality: float
    age: float | None
    ratios: Ratios
    reason: str = ""

    @property
    def detail(self) -> str:
        parts = []
        if self.ratios.head_share is not None:
            parts.append(f"head/height {self.ratios.head_share:.3f}")
        if self.ratios.head_width is not None:
            parts.append(f"head width {self.ratios.head_width:.3f}")
        if self.ratios.leg_share is not None:
            parts.append(f"legs {self.ratios.leg_share:.3f}")
        text = ", ".join(parts) if parts else "no ratios"
        if self.reason:
            return f"body: {text} — {self.reason}"
        return (
            f"body: {text}, P(child) {self.p_child:.2f}, quality {self.quality:.2f} ({self.role})"
        )


def _seen(kps: Sequence[Keypoint], *indices: int) -> list[Keypoint]:
    return [kps[i] for i in indices if kps[i].conf >= MIN_CONF]


def _mean_y(points: Sequence[Keypoint]) -> float | None:
    return float(np.mean([p.y for p in points])) if points else None


def _ramp(value: float, zero: float, one: float) -> float:
    """0 at ``zero``, 1 at ``one``, linear between (either direction), clipped."""
    if one == zero:
        return 1.0 if value >= one else 0.0
    return float(min(1.0, max(0.0, (value - zero) / (one - zero))))


def _angle(a: Keypoint, b: Keypoint, c: Keypoint) -> float:
    """The angle at ``b`` (degrees) between b→a and b→c."""
    v1 = np.array([a.x - b.x, a.y - b.y])
    v2 = np.array([c.x - b.x, c.y - b.y])
    n = float(np.linalg.norm(v1) * np.linalg.norm(v2))
    if n == 0:
        return 180.0
    return math.degrees(math.acos(max(-1.0, min(1.0, float(v1 @ v2) / n))))


@dataclass(frozen=True, slots=True)
class _Measured:
    ratios: Ratios
    quality: float
    reason: str


def measure(
    box: Box, keypoints: Sequence[Keypoint], frame_size: tuple[int, int] | None = None
) -> _Measured:
    """The ratios of one sighting and how far they can be trusted.

    ``frame_size`` is (width, height) of the image, to tell a body cut by its border.
    """
    none = Ratios(None, None, None)
    if len(keypoints) != 17:
        return _Measured(none, 0.0, "not 17 keypoints")
    eyes = _seen(keypoints, L_EYE, R_EYE)
    ears = _seen(keypoints, L_EAR, R_EAR)
    head = _mean_y(eyes) if eyes else _mean_y(ears)
    shoulders = _seen(keypoints, L_SHOULDER, R_SHOULDER)
    hips = _seen(keypoints, L_HIP, R_HIP)
    knees = _seen(keypoints, L_KNEE, R_KNEE)
    ankles = _seen(keypoints, L_ANKLE, R_ANKLE)
    if head is None:
        return _Measured(none, 0.0, "head not seen")
    if not ankles:
        return _Measured(none, 0.0, "feet not seen (body not whole)")
    if not shoulders:
        return _Measured(none, 0.0, "shoulders not seen")
    shoulder_y, ankle_y = _mean_y(shoulders), _mean_y(ankles)
    assert shoulder_y is not None and ankle_y is not None
    height = ankle_y - head
    if height <= 0 or not head < shoulder_y < ankle_y:
        return _Measured(none, 0.0, "not upright (head, shoulders, feet out of order)")
    head_share = (shoulder_y - head) / height
    hip_y = _mean_y(hips)
    leg_share = (ankle_y - hip_y) / height if hip_y is not None and hip_y < ankle_y else None
    head_width = None
    if len(eyes) == 2 and len(ears) == 2 and keypoints[NOSE].conf >= MIN_CONF:
        lo, hi = sorted((keypoints[L_EYE].x, keypoints[R_EYE].x))
        ear_lo, ear_hi = sorted((keypoints[L_EAR].x, keypoints[R_EAR].x))
        if lo < keypoints[NOSE].x < hi and ear_lo < lo and hi < ear_hi:
            head_width = abs(keypoints[L_EAR].x - keypoints[R_EAR].x) / height
    ratios = Ratios(head_share, head_width, leg_share)

    # how far this sighting can be trusted
    used = [*eyes, *ears, *shoulders, *hips, *ankles]
    conf = _ramp(float(np.mean([k.conf for k in used])), 0.5, 0.85)
    completeness = (len(shoulders) + len(hips) + len(ankles) + len(knees)) / 8.0
    # upright: the line from the shoulders' middle to the ankles' middle near vertical
    xs = float(np.mean([k.x for k in shoulders])) - float(np.mean([k.x for k in ankles]))
    lean = math.degrees(math.atan2(abs(xs), ankle_y - shoulder_y))
    upright = _ramp(lean, 30.0, 12.0)
    # straight legs: hip–knee–ankle angle (sitting, crouching bend it), and thighs as
    # tall as shins (0.9–1.3 standing; a person sitting facing the camera shows
    # thighs foreshortened to 0.2–0.55 of the shin while the angle still looks straight)
    straight = 1.0
    for hip_i, knee_i, ankle_i in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE)):
        trio = [keypoints[hip_i], keypoints[knee_i], keypoints[ankle_i]]
        if all(k.conf >= MIN_CONF for k in trio):
            straight = min(straight, _ramp(_angle(*trio), 135.0, 160.0))
            shin = trio[2].y - trio[1].y
            thigh = trio[1].y - trio[0].y
            ratio = thigh / shin if shin > 0 else 0.0
            straight = min(straight, _ramp(ratio, 0.55, 0.8) * _ramp(ratio, 1.8, 1.5))
    # feet together or walking, not a wide stance or lunge (which shortens the legs)
    stance = 1.0
    if len(ankles) == 2 and hip_y is not None and ankle_y > hip_y:
        spread = abs(keypoints[L_ANKLE].x - keypoints[R_ANKLE].x) / (ankle_y - hip_y)
        stance = _ramp(spread, 0.7, 0.4)
    # plausible ratios: outside every upright body's range → foreshortened or posed
    plausible = _ramp(head_share, 0.30, 0.24) * _ramp(head_share, 0.07, 0.10)
    if leg_share is not None:
        plausible *= _ramp(leg_share, 0.30, 0.40) * _ramp(leg_share, 0.70, 0.60)
    size = _ramp(box.height, 60.0, 150.0)
    whole = 1.0
    if frame_size is not None:
        width, frame_height = frame_size
        margin = 2.0
        if box.y1 <= margin or box.y2 >= frame_height - margin:
            whole = 0.3
        if box.x1 <= margin or box.x2 >= width - margin:
            whole = min(whole, 0.7)
    quality = conf * completeness * upright * straight * stance * plausible * size * whole
    reason = ""
    if upright == 0 or straight == 0:
        reason = "not upright (leaning, sitting or lying)"
    elif straight < 0.3:
        reason = "legs bent or thighs foreshortened (sitting?)"
    elif stance == 0:
        reason = "legs wide apart (lunge or wide stance)"
    elif plausible == 0:
        reason = "ratios out of any body's range (foreshortened view?)"
    return _Measured(ratios, float(quality), reason)


def _expected(age: float) -> Ratios:
    kps = reference_skeleton(age)
    head = (kps[L_EYE].y + kps[R_EYE].y) / 2.0
    shoulder = (kps[L_SHOULDER].y + kps[R_SHOULDER].y) / 2.0
    hip = (kps[L_HIP].y + kps[R_HIP].y) / 2.0
    ankle = (kps[L_ANKLE].y + kps[R_ANKLE].y) / 2.0
    height = ankle - head
    return Ratios(
        (shoulder - head) / height,
        abs(kps[L_EAR].x - kps[R_EAR].x) / height,
        (ankle - hip) / height,
    )


#: (age, the ratios its reference body shows), computed once from the published figures
EXPECTED: tuple[tuple[float, Ratios], ...] = tuple((g.age, _expected(g.age)) for g in GROWTH)


def expected(age: float) -> Ratios:
    """The ratios the reference body of ``age`` (one of :data:`GROWTH`'s ages) shows."""
    for known, ratios in EXPECTED:
        if known == age:
            return ratios
    raise ValueError(f"no reference body for age {age}: known ages {[a for a, _ in EXPECTED]}")


def _log_likelihood(ratios: Ratios, reference: Ratios) -> float:
    total = 0.0
    for name in ("head_share", "head_width", "leg_share"):
        value = getattr(ratios, name)
        expected = getattr(reference, name)
        if value is None or expected is None or value <= 0:
            continue
        z = (math.log(value) - math.log(expected)) / getattr(SPREAD, name)
        total += -0.5 * z * z
    return total


def classify(ratios: Ratios) -> tuple[float, float]:
    """(P(child), most likely age) from the ratios alone, before any quality."""
    adult = _log_likelihood(ratios, expected(ADULT_AGE))
    children = [(_log_likelihood(ratios, expected(a)), a) for a in CHILD_AGES]
    top = max(adult, *(ll for ll, _ in children))
    p_adult = 0.5 * math.exp(adult - top)
    p_children = [0.5 / len(children) * math.exp(ll - top) for ll, _ in children]
    p_child = sum(p_children) / (p_adult + sum(p_children))
    best = max([(adult, ADULT_AGE), *children])[1]
    return p_child, best


def estimate(
    box: Box, keypoints: Sequence[Keypoint], frame_size: tuple[int, int] | None = None
) -> BodyRole:
    """Adult, child or unknown from one sighting's body proportions."""
    measured = measure(box, keypoints, frame_size)
    ratios = measured.ratios
    if ratios.head_share is None:
        return BodyRole(Role.UNKNOWN, 0.0, 0.5, 0.0, None, ratios, measured.reason)
    p_child, age = classify(ratios)
    # quality pulls the answer towards "don't know" (0.5)
    p = 0.5 + (p_child - 0.5) * measured.quality
    confidence = max(p, 1.0 - p)
    if confidence < MIN_CONFIDENCE:
        reason = measured.reason or "proportions not decisive"
        return BodyRole(Role.UNKNOWN, 0.0, p_child, measured.quality, age, ratios, reason)
    role = Role.CHILD if p > 0.5 else Role.ADULT
    return BodyRole(role, confidence, p_child, measured.quality, age, ratios, measured.reason)
