"""Tests for guardian.config: YAML positions, site and zone files, friendly problems."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from guardian.config import (
    CameraConfig,
    ConfigError,
    Problem,
    SiteBundle,
    SiteConfig,
    ZoneConfig,
    load_site,
    load_yaml,
    load_zone_file,
    position_of,
    problems_from_validation,
)

REPO = Path(__file__).resolve().parent.parent

MINIMAL_SITE = """\
cameras:
  - id: pool
    source: 0
  - id: gate
    source: rtsp://10.0.0.2/stream
zones: [zones/z.yaml]
"""

GOOD_ZONE = """\
zones:
  - name: water
    camera: pool
    kind: water
    polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def site_problems(tmp_path: Path, site: str, zone: str = GOOD_ZONE) -> list[Problem]:
    """Write a site file and zones/z.yaml, load, and return the problems (must fail)."""
    write(tmp_path / "zones" / "z.yaml", zone)
    with pytest.raises(ConfigError) as info:
        load_site(write(tmp_path / "guardian.yaml", site))
    return list(info.value.problems)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


# --------------------------------------------------------------------------- examples


def test_shipped_site_example_loads() -> None:
    bundle = load_site(REPO / "guardian.yaml")
    site, zones = bundle.site, list(bundle.zones)
    assert {c.id for c in site.cameras} == {"pool", "gate", "elevator"}
    assert {z.name for z in zones} >= {"water", "pool_area", "fence", "cabin"}
    assert site.contacts[0].phone_env == "GUARDIAN_OWNER_PHONE"
    names = [d.path.name for d in bundle.rule_documents]
    assert names == ["pool.yaml", "boundary.yaml", "elevator.yaml"]
    assert [e.mode for e in site.modes.schedule] == ["supervised"]


@pytest.mark.parametrize(
    ("name", "camera"),
    [("pool", "pool"), ("boundary", "gate"), ("elevator", "elevator"), ("demo", "demo")],
)
def test_shipped_zone_examples_load(name: str, camera: str) -> None:
    zones, problems = load_zone_file(REPO / "zones" / f"{name}.yaml", {camera})
    assert problems == []
    assert zones
    assert all(z.camera == camera for z in zones)


# --------------------------------------------------------------------------- happy path


def test_minimal_site_defaults_and_resolved_paths(tmp_path: Path) -> None:
    write(tmp_path / "videos" / "pool.mp4", "not really a video")
    (tmp_path / "frames").mkdir()
    write(
        tmp_path / "guardian.yaml",
        """\
        cameras:
          - id: a
            source: videos/pool.mp4
          - id: b
            source: frames
          - id: c
            source: "1"
          - id: d
            source: https://example.org/cam.mjpg
        """,
    )
    bundle = load_site(tmp_path / "guardian.yaml")
    assert isinstance(bundle, SiteBundle)
    site = bundle.site
    assert site.site.timezone == "UTC"
    assert site.detection.backend == "onnx"
    assert site.tracking.min_hits == 2
    kinds = {c.id: c.source_kind for c in site.cameras}
    assert kinds == {"a": "file", "b": "folder", "c": "usb", "d": "url"}
    assert site.camera("a").source == str(tmp_path / "videos" / "pool.mp4")
    assert site.camera("c").usb_index == 1
    assert bundle.database_path == tmp_path / "guardian.db"
    assert bundle.clips_dir == tmp_path / "clips"
    assert bundle.models_dir == tmp_path / "models"
    assert bundle.zones == ()
    assert bundle.rule_documents == ()


def test_minimal_site_validates_without_loader() -> None:
    site = SiteConfig.model_validate({"cameras": [{"id": "a", "source": "x.mp4"}]})
    assert site.cameras[0].fps == 10
    assert site.cameras[0].source_kind == "file"
    assert CameraConfig(id="u", source=0).source_kind == "usb"


def test_zones_and_rule_documents_are_loaded(tmp_path: Path) -> None:
    write(tmp_path / "rules" / "r.yaml", "rules:\n  - kind: anything\n")
    write(tmp_path / "zones" / "z.yaml", GOOD_ZONE)
    bundle = load_site(write(tmp_path / "guardian.yaml", MINIMAL_SITE + "rules: [rules/r.yaml]\n"))
    assert [z.name for z in bundle.zones] == ["water"]
    assert bundle.zones_for("pool")[0].kind == "water"
    doc = bundle.rule_documents[0]
    assert doc.data == {"rules": [{"kind": "anything"}]}
    assert position_of(doc, ("rules", 0, "kind")) == (2, 5)


def test_polygon_px() -> None:
    zone = ZoneConfig.model_validate(
        {"name": "z", "camera": "c", "kind": "room", "polygon": [[0, 0], [0.5, 0], [0.5, 1]]}
    )
    assert zone.polygon_px(640, 480) == [(0, 0), (320, 0), (320, 480)]
    px = zone.model_copy(update={"units": "px"})
    assert px.polygon_px(640, 480) == [(0, 0), (0.5, 0), (0.5, 1)]


# --------------------------------------------------------------------------- YAML layer


def test_positions_point_at_keys_and_items(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path / "a.yaml", "a:\n  b: [1, 2]\n  c:\n    - x: 1\n"))
    assert doc.positions[()] == (1, 1)
    assert doc.positions[("a",)] == (1, 1)
    assert doc.positions[("a", "b")] == (2, 3)
    assert doc.positions[("a", "b", 1)] == (2, 10)
    assert doc.positions[("a", "c", 0, "x")] == (4, 7)
    assert position_of(doc, ("a", "c", 0, "nope")) == (4, 7)
    assert position_of(doc, ("zzz",)) == (1, 1)
    assert position_of(doc, ("a", "b"), value=True) == (2, 6)


def test_times_stay_text_and_empty_file_is_none(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path / "t.yaml", "from: 22:30\nday: 2024-06-01\nn: 3\n"))
    assert doc.data == {"from": "22:30", "day": "2024-06-01", "n": 3}
    assert load_yaml(write(tmp_path / "e.yaml", "")).data is None


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        ("cameras:\n  - id: a\n   source: 0\n", 3, 4, "check indentation"),
        ('cameras:\n  - id: "a\n', 3, 1, "quoted scalar"),
        ("cameras:\n  - id: a\n\tsource: 0\n", 3, 1, "tabs"),
        ("cameras: [a, b\n", 2, 1, "flow sequence"),
    ],
)
def test_yaml_syntax_error(tmp_path: Path, text: str, line: int, col: int, words: str) -> None:
    path = tmp_path / "guardian.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_site(path)
    problem = only(list(info.value.problems))
    assert (problem.file, problem.line, problem.col) == (path, line, col)
    assert problem.message.startswith("YAML syntax error:")
    assert words in problem.message


def test_duplicate_key(tmp_path: Path) -> None:
    site = "cameras:\n  - id: a\n    source: 0\n    fps: 3\n    fps: 4\n"
    path = tmp_path / "guardian.yaml"
    path.write_text(site)
    with pytest.raises(ConfigError) as info:
        load_site(path)
    problem = only(list(info.value.problems))
    assert (problem.file, problem.line, problem.col) == (path, 5, 5)
    assert "duplicate key 'fps'" in problem.message
    assert "line 4" in problem.message


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(tmp_path / "nope.yaml")
    assert "file not found" in str(info.value)


# --------------------------------------------------------------------------- site file


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    site = "cameras:\n  - id: pool\n    sorce: 0\nstorage:\n  databse: x.db\n"
    problems = site_problems(tmp_path, site.replace("zones", ""))
    path = tmp_path / "guardian.yaml"
    by_line = {p.line: p for p in problems}
    assert by_line[3].file == path and by_line[3].col == 5
    assert "unknown key 'sorce' in camera 'pool' — did you mean 'source'?" in by_line[3].message
    assert (
        "(allowed: id, source, fps, loop, enabled, imgsz, width, height, reference, record, motion, worker)"
        in by_line[3].message
    )
    assert by_line[5].col == 3
    assert "unknown key 'databse' in 'storage' — did you mean 'database'?" in by_line[5].message
    # the missing source is reported too, at the camera entry
    assert by_line[2].message.startswith("missing required key 'source' in camera 'pool'")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("    fps: abc", "'abc' is not a valid number for 'fps' in camera 'pool'"),
        ("    loop: maybe", "'maybe' is not a valid true/false value for 'loop'"),
        ("    imgsz: 600", "must be a multiple of 32 between 320 and 1280"),
        ("    fps: 0", "0 is not allowed for 'fps' in camera 'pool' — it should be greater"),
        ("    source: [1, 2]", "a list is not valid for 'source' in camera 'pool' — expected"),
    ],
)
def test_wrong_type_or_value(tmp_path: Path, line: str, words: str) -> None:
    site = "cameras:\n  - id: pool\n    source: 0\n".replace("    source: 0\n", "")
    site += ("" if "source" in line else "    source: 0\n") + line + "\n"
    problem = only(site_problems(tmp_path, site))
    assert problem.file == tmp_path / "guardian.yaml"
    assert problem.line == (3 if "source" in line else 4)
    assert problem.col == line.index(":") + 3
    assert words in problem.message


def test_wrong_literal_suggests(tmp_path: Path) -> None:
    site = "cameras: [{id: a, source: 0}]\ndetection:\n  backend: onx\n"
    problem = only(site_problems(tmp_path, site))
    assert (problem.line, problem.col) == (3, 12)
    assert "'onx' is not a valid value for 'backend'" in problem.message
    assert "expected 'onnx' or 'pt' (did you mean 'onnx'?)" in problem.message


def test_unknown_timezone(tmp_path: Path) -> None:
    site = "site:\n  timezone: Europe/Pari\ncameras: [{id: a, source: 0}]\n"
    problem = only(site_problems(tmp_path, site))
    assert (problem.line, problem.col) == (2, 13)
    assert "did you mean 'Europe/Paris'?" in problem.message


@pytest.mark.parametrize("section", ["cameras", "contacts"])
def test_duplicate_ids(tmp_path: Path, section: str) -> None:
    if section == "cameras":
        site = "cameras:\n  - id: pool\n    source: 0\n  - id: pool\n    source: 1\n"
    else:
        site = (
            "cameras: [{id: a, source: 0}]\ncontacts:\n  - id: owner\n  - id: owner\n"
            "    name: Bob\n"
        )
    problem = only(site_problems(tmp_path, site))
    assert problem.file == tmp_path / "guardian.yaml"
    assert (problem.line, problem.col) == (4, 9)
    what = section[:-1]
    assert f"{what} id '{'pool' if what == 'camera' else 'owner'}' is used twice" in (
        problem.message
    )
    assert "#1 and #2" in problem.message


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("phone_env", "'+33 6 12 34 56 78'", "looks like a phone number"),
        ("phone_env", "0612345678", "looks like a phone number"),
        ("push_env", "https://ntfy.sh/my-secret-topic", "looks like a token or URL"),
        ("push_env", "tk_8f3a9b2c1d4e5f6a7b8c", "looks like a token or URL"),
        ("phone_env", "owner_phone", "capital letters"),
    ],
)
def test_secret_where_env_name_belongs(tmp_path: Path, key: str, value: str, words: str) -> None:
    site = f"cameras: [{{id: a, source: 0}}]\ncontacts:\n  - id: owner\n    {key}: {value}\n"
    problem = only(site_problems(tmp_path, site))
    assert (problem.file, problem.line) == (tmp_path / "guardian.yaml", 4)
    assert problem.col == 6 + len(key) + 1
    assert words in problem.message
    assert "NAME of an environment variable" in problem.message
    assert value.strip("'") not in problem.message  # never echo a secret


def test_sms_channel_needs_phone_env(tmp_path: Path) -> None:
    site = "cameras: [{id: a, source: 0}]\ncontacts:\n  - id: owner\n    channels: [sms]\n"
    problem = only(site_problems(tmp_path, site))
    assert (problem.line, problem.col) == (4, 15)
    assert "no 'phone_env'" in problem.message


def test_missing_camera_file_source(tmp_path: Path) -> None:
    problem = only(site_problems(tmp_path, "cameras:\n  - id: pool\n    source: videos/pool.mp4\n"))
    assert (problem.file, problem.line, problem.col) == (tmp_path / "guardian.yaml", 3, 13)
    assert "camera 'pool' source 'videos/pool.mp4' does not exist" in problem.message
    assert str(tmp_path / "videos" / "pool.mp4") in problem.message


@pytest.mark.parametrize("kind", ["zone", "rule"])
def test_missing_listed_file(tmp_path: Path, kind: str) -> None:
    site = f"cameras: [{{id: pool, source: 0}}]\n{kind}s:\n  - {kind}s/absent.yaml\n"
    problem = only(site_problems(tmp_path, site))
    assert (problem.file, problem.line, problem.col) == (tmp_path / "guardian.yaml", 3, 5)
    assert f"{kind} file '{kind}s/absent.yaml' does not exist" in problem.message
    assert str(tmp_path / f"{kind}s" / "absent.yaml") in problem.message


def test_rule_file_syntax_error_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "rules" / "r.yaml", "rules:\n  - kind: [oops\n")
    site = "cameras: [{id: pool, source: 0}]\nrules: [rules/r.yaml]\n"
    problem = only(site_problems(tmp_path, site))
    assert problem.file == tmp_path / "rules" / "r.yaml"
    assert problem.message.startswith("YAML syntax error")


def test_all_problems_are_collected(tmp_path: Path) -> None:
    site = "cameras:\n  - id: pool\n    fps: abc\n    source: 0\nzones: [zones/z.yaml]\n"
    zone = GOOD_ZONE.replace("camera: pool", "camera: pol").replace("kind: water", "kind: wat")
    problems = site_problems(tmp_path, site, zone)
    files = [p.file.name for p in problems]
    assert files == ["guardian.yaml", "z.yaml", "z.yaml"]  # the zone's kind and its camera


# --------------------------------------------------------------------------- zone files


def zone_problem(tmp_path: Path, zone: str) -> Problem:
    zones, problems = load_zone_file(write(tmp_path / "z.yaml", zone), {"pool", "gate"})
    assert zones == []
    problem = only(problems)
    assert problem.file == tmp_path / "z.yaml"
    return problem


@pytest.mark.parametrize(
    ("polygon", "words"),
    [
        ("[[0.1, 0.5], [0.9, 0.5]]", "has 2 point(s) — it needs at least 3"),
        ("[]", "has 0 point(s) — it needs at least 3"),
    ],
)
def test_polygon_too_few_points(tmp_path: Path, polygon: str, words: str) -> None:
    problem = zone_problem(tmp_path, GOOD_ZONE.replace(GOOD_ZONE.splitlines()[4][13:], polygon))
    assert (problem.line, problem.col) == (5, 14)
    assert f"polygon of zone 'water' {words}" in problem.message


def test_polygon_point_with_three_numbers(tmp_path: Path) -> None:
    zone = GOOD_ZONE.replace("[0.9, 0.5]", "[0.9, 0.5, 1]")
    problem = zone_problem(tmp_path, zone)
    assert (problem.line, problem.col) == (5, 27)
    assert "point #2 of zone 'water' must be exactly 2 numbers" in problem.message


def test_self_intersecting_polygon(tmp_path: Path) -> None:
    zone = GOOD_ZONE.replace(
        "[[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]]",
        "[[0, 0], [1, 1], [1, 0], [0, 1]]",
    )
    problem = zone_problem(tmp_path, zone)
    assert (problem.line, problem.col) == (5, 14)
    assert "polygon of zone 'water' is not valid: Self-intersection at (0.5, 0.5)" in (
        problem.message
    )
    assert "reorder the points so the edges do not cross" in problem.message


def test_polygon_on_one_line(tmp_path: Path) -> None:
    zone = GOOD_ZONE.replace(
        "[[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]]", "[[0, 0], [0.5, 0.5], [1, 1]]"
    )
    assert "has zero area" in zone_problem(tmp_path, zone).message


def test_fraction_out_of_range(tmp_path: Path) -> None:
    zone = GOOD_ZONE.replace("[0.9, 0.95]", "[1.5, 0.95]")
    problem = zone_problem(tmp_path, zone)
    assert (problem.line, problem.col) == (5, 39)
    assert "point #3 [1.5, 0.95] of zone 'water' is outside 0..1" in problem.message
    assert "units: px" in problem.message
    ok, problems = load_zone_file(
        write(tmp_path / "px.yaml", zone.replace("kind: water", "kind: water\n    units: px")),
        None,
    )
    assert problems == [] and len(ok) == 1


def test_zone_unknown_key_and_kind(tmp_path: Path) -> None:
    zone = GOOD_ZONE.replace("polygon:", "polygn:").replace("kind: water", "kind: watr")
    zones, problems = load_zone_file(write(tmp_path / "z.yaml", zone), {"pool"})
    assert zones == []
    messages = {(p.line, p.col): p.message for p in problems}
    assert messages[(2, 5)].startswith("missing required key 'polygon' in zone 'water'")
    assert messages[(4, 11)].startswith("'watr' is not a valid value for 'kind' in zone 'water'")
    assert "did you mean 'water'?" in messages[(4, 11)]
    assert messages[(5, 5)].startswith(
        "unknown key 'polygn' in zone 'water' — did you mean 'polygon'? (allowed: name, camera,"
    )


def test_unknown_camera_in_zone(tmp_path: Path) -> None:
    problems = site_problems(tmp_path, MINIMAL_SITE, GOOD_ZONE.replace("pool", "pol"))
    problem = only(problems)
    assert (problem.file, problem.line, problem.col) == (tmp_path / "zones" / "z.yaml", 3, 13)
    assert problem.message == (
        "zone 'water' names camera 'pol', which is not in guardian.yaml — known cameras: "
        "gate, pool (did you mean 'pool'?)"
    )


def test_a_zone_with_another_problem_still_has_its_camera_checked(tmp_path: Path) -> None:
    """One pass: a zone missing its kind that also names a wrong camera says both."""
    zone = GOOD_ZONE.replace("pool", "pol").replace("    kind: water\n", "")
    problems = site_problems(tmp_path, MINIMAL_SITE, zone)
    messages = {(p.line, p.col): p.message for p in problems}
    assert messages[(2, 5)].startswith("missing required key 'kind' in zone 'water'")
    assert messages[(3, 13)].startswith("zone 'water' names camera 'pol', which is not in")
    assert len(problems) == 2


def test_duplicate_zone_names_across_files(tmp_path: Path) -> None:
    write(tmp_path / "zones" / "y.yaml", "# another file\n" + GOOD_ZONE)
    site = MINIMAL_SITE.replace("[zones/z.yaml]", "[zones/z.yaml, zones/y.yaml]")
    problem = only(site_problems(tmp_path, site))
    assert (problem.file, problem.line) == (tmp_path / "zones" / "y.yaml", 3)
    assert "zone 'water' is defined twice for camera 'pool'" in problem.message


def test_duplicate_zone_names_in_one_file(tmp_path: Path) -> None:
    zone = GOOD_ZONE + GOOD_ZONE.split("\n", 1)[1]
    zones, problems = load_zone_file(write(tmp_path / "z.yaml", zone), {"pool"})
    assert len(zones) == 1
    assert (only(problems).line, only(problems).col) == (6, 11)
    assert "defined twice" in only(problems).message


def test_zone_file_without_zones_key(tmp_path: Path) -> None:
    problem = zone_problem(tmp_path, "- name: water\n")
    assert "must start with 'zones:'" in problem.message


# --------------------------------------------------------------------------- discriminated unions


class _EnterRule(BaseModel):
    model_config = ConfigDict(extra="forbid", title="rule")
    id: str
    kind: Literal["zone_enter"]
    zone: str = Field(description="zone to watch")


class _CountRule(BaseModel):
    model_config = ConfigDict(extra="forbid", title="rule")
    id: str
    kind: Literal["zone_count"]
    max: int = Field(description="most people allowed")


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Annotated[_EnterRule | _CountRule, Field(discriminator="kind")]]


def rule_problems(tmp_path: Path, text: str) -> list[Problem]:
    doc = load_yaml(write(tmp_path / "r.yaml", text))
    with pytest.raises(ValidationError) as info:
        _RuleFile.model_validate(doc.data)
    return problems_from_validation(doc, info.value, _RuleFile)


def test_union_member_errors_drop_the_tag(tmp_path: Path) -> None:
    text = "rules:\n  - id: a\n    kind: zone_count\n    max: lots\n    zon: x\n"
    problems = rule_problems(tmp_path, text)
    assert [(p.line, p.col) for p in problems] == [(4, 10), (5, 5)]
    assert "'lots' is not a valid whole number for 'max' in rule 'a'" in problems[0].message
    assert "(allowed: id, kind, max)" in problems[1].message


def test_union_unknown_kind(tmp_path: Path) -> None:
    problem = only(rule_problems(tmp_path, "rules:\n  - id: a\n    kind: zone_entr\n"))
    assert (problem.line, problem.col) == (3, 11)
    assert problem.message == (
        "unknown kind 'zone_entr' in rule 'a' — expected one of: 'zone_enter', 'zone_count' "
        "(did you mean 'zone_enter'?)"
    )


def test_union_missing_kind(tmp_path: Path) -> None:
    problem = only(rule_problems(tmp_path, "rules:\n  - id: a\n"))
    assert (problem.line, problem.col) == (2, 5)
    assert "missing required key 'kind'" in problem.message
    assert "'zone_enter', 'zone_count'" in problem.message


def test_union_validated_alone_with_prefix(tmp_path: Path) -> None:
    from pydantic import TypeAdapter

    union = Annotated[_EnterRule | _CountRule, Field(discriminator="kind")]
    doc = load_yaml(write(tmp_path / "r.yaml", "rules:\n  - id: a\n    kind: zone_enter\n"))
    with pytest.raises(ValidationError) as info:
        TypeAdapter(union).validate_python(doc.get(("rules", 0)))
    problem = only(problems_from_validation(doc, info.value, union, ("rules", 0)))
    assert (problem.line, problem.col) == (2, 5)
    assert problem.message == ("missing required key 'zone' in rule 'a' — add it (zone to watch)")
