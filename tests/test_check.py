"""`guardian check`: every problem of every file in one pass, and warnings on what loads
but can never work (role counts without identity, alerts nobody gets, unset environment
variables, a review url serve is not reached at, pixel zones outside the frame, cameras
that cannot be opened with --probe). Tiny fixture files; real HTTP servers on 127.0.0.1,
a real closed port and a real video file for the probe."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from guardian.cli import main

REPO = Path(__file__).resolve().parent.parent

ZONES = """\
zones:
  - name: water
    camera: pool
    kind: water
    polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]]
"""
ENTRY = """\
rules:
  - id: water_entry
    triggers: [{kind: zone_enter, zones: water}]
    actions: [{kind: alert, channels: [console]}]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def site(
    tmp_path: Path,
    extra: str = "",
    *,
    zones: str = ZONES,
    rules: str = ENTRY,
    camera: str = "    source: 0\n",
) -> Path:
    """A one-camera site ('pool') with a zone file and a rule file, plus ``extra`` YAML."""
    write(tmp_path / "zones.yaml", zones)
    write(tmp_path / "rules.yaml", rules)
    return write(
        tmp_path / "site.yaml",
        "cameras:\n  - id: pool\n"
        + camera
        + "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        + textwrap.dedent(extra),
    )


def check(
    capsys: pytest.CaptureFixture[str], config: Path, *flags: str
) -> tuple[int, list[str], str]:
    """Exit code, the stderr lines, and stdout of `guardian check`."""
    code = main(["check", "--config", str(config), *flags])
    out, err = capsys.readouterr()
    return code, err.splitlines(), out


def warnings_in(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("warning: ")]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("GUARDIAN_", "TWILIO_", "CHECK_")):
            monkeypatch.delenv(name)


# --------------------------------------------------------------------------- one pass


def test_every_problem_of_every_file_in_one_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken site file, a zone with two problems, a rule file that is not YAML and a
    rule naming an unknown zone: all listed at once, with the warnings of what did load."""
    write(
        tmp_path / "site.yaml",
        """\
        cameras:
          - id: pool
            source: 0
            fps: 0
        zones: [zones.yaml, more.yaml]
        rules: [broken.yaml, rules.yaml]
        review:
          password_hash_env: CHECK_REVIEW_HASH
        """,
    )
    write(tmp_path / "zones.yaml", ZONES)
    write(
        tmp_path / "more.yaml",
        "zones:\n  - name: deck\n    camera: pol\n    polygon: [[0, 0], [1, 0], [1, 1]]\n",
    )
    write(tmp_path / "broken.yaml", "rules:\n  - id: x\n    triggers: [{kind: zone_enter\n")
    write(
        tmp_path / "rules.yaml",
        "rules:\n  - id: y\n    triggers: [{kind: zone_enter, zones: nowhere}]\n",
    )
    code, lines, _ = check(capsys, tmp_path / "site.yaml")
    assert code == 1
    text = "\n".join(lines)
    where = {line.split(": ", 1)[0].removeprefix("warning: ") for line in lines[:-1]}
    site_file, more, broken, rules = (
        str(tmp_path / name) for name in ("site.yaml", "more.yaml", "broken.yaml", "rules.yaml")
    )
    assert f"{site_file}:4:10: 0 is not allowed for 'fps'" in text
    assert f"{more}:2:5: missing required key 'kind' in zone 'deck'" in text
    assert f"{more}:3:13: zone 'deck' names camera 'pol'" in text  # was hidden by 'kind'
    assert f"{broken}:4:1: YAML syntax error" in text
    assert f"{rules}:3:42: rule 'y': unknown zone 'nowhere'" in text  # was hidden by fps
    assert f"warning: {site_file}:8:22: 'review.password_hash_env' names" in text
    assert len(where) == len(lines) - 1  # one line per problem, nothing said twice
    assert lines[-1] == "5 problem(s) and 1 warning(s) found"


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("test", "words"),
    [
        ("children: '>= 1'", "(everybody counts as 'adult') — it can never fire"),
        ("adults: '>= 1'", "everybody counts as an adult, a lone child too"),
        ("children: '>= 1', unknown_as: child", "everybody counts as a child"),
    ],
)
def test_role_counts_without_identity_are_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], test: str, words: str
) -> None:
    rules = (
        f"rules:\n  - id: lone_child\n    triggers: [{{kind: occupancy, zones: water, {test}}}]\n"
    )
    config = site(tmp_path, rules=rules)
    code, lines, out = check(capsys, config)
    assert code == 0 and out.startswith(f"ok: {config}: ") and "1 warning(s)" in out
    (warning,) = warnings_in(lines)
    assert warning.startswith(f"warning: {tmp_path / 'rules.yaml'}:3:16: rule 'lone_child': ")
    assert "no 'identity:' section" in warning and words in warning
    # with an identity section roles are known: nothing to say
    site(tmp_path, "identity: {}\n", rules=rules)
    assert check(capsys, config)[:2] == (0, [])


def test_role_condition_and_people_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = """\
    rules:
      - id: crowd
        triggers: [{kind: occupancy, zones: water, people: '> 3'}]
      - id: child_enters
        triggers: [{kind: zone_enter, zones: water}]
        conditions: [{kind: role, roles: [child]}]
      - id: anyone
        triggers: [{kind: zone_enter, zones: water}]
        conditions: [{kind: role, roles: [child, unknown]}]
    """
    code, lines, _ = check(capsys, site(tmp_path, rules=rules))
    assert code == 0
    (warning,) = warnings_in(lines)
    assert f"{tmp_path / 'rules.yaml'}:6:18: rule 'child_enters': condition 'role: [child]'" in (
        warning
    )
    assert "never fire" in warning


def test_built_in_prompts_of_a_pool_area_point_at_the_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zones = ZONES + (
        "  - name: pool_area\n    camera: pool\n    kind: pool_area\n"
        "    polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]\n"
    )
    code, lines, _ = check(capsys, site(tmp_path, zones=zones))
    assert code == 0
    found = warnings_in(lines)
    assert found and all(
        w.startswith(f"warning: {tmp_path / 'zones.yaml'}:6:11: the built-in supervision prompt ")
        for w in found
    )
    assert "adult_arrival_prompt' of pool area 'pool_area'" in "\n".join(found)


# --------------------------------------------------------------------------- channels


def test_an_alert_nobody_receives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = ENTRY.replace("[console]", "[console, sms]")
    config = site(tmp_path, rules=rules)
    _, lines, _ = check(capsys, config)
    (warning,) = warnings_in(lines)
    assert f"{tmp_path / 'rules.yaml'}:4:49: rule 'water_entry': alert on sms, but the site" in (
        warning
    )
    assert "has no contacts — nobody gets it" in warning
    site(tmp_path, "contacts:\n  - {id: owner, channels: [console]}\n", rules=rules)
    _, lines, _ = check(capsys, config)
    (warning,) = warnings_in(lines)
    assert "none of its contacts (owner) has sms in its channels — nobody gets it" in warning


def test_a_contact_without_a_number_or_a_push_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = """\
    contacts:
      - id: owner
        phone_env: CHECK_OWNER_PHONE
        push_env: CHECK_OWNER_PUSH
        channels: [sms, push]
    """
    rules = ENTRY.replace("[console]", "[sms, push]")
    config = site(tmp_path, contacts, rules=rules)
    code, lines, _ = check(capsys, config, "--strict")
    assert code == 1
    found = warnings_in(lines)
    text = "\n".join(found)
    site_file = tmp_path / "site.yaml"
    assert f"{site_file}:8:16: contact 'owner' gets sms, but CHECK_OWNER_PHONE" in text
    assert "it has no phone number" in text
    assert f"{site_file}:9:15: contact 'owner' gets push, but CHECK_OWNER_PUSH" in text
    assert "it has no push URL" in text
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        assert f"{site_file}:10:15: contact 'owner' gets sms, but Twilio's {name}" in text
    assert len(found) == 5 and lines[-1].startswith("5 warning(s) found (--strict)")
    for name in ("CHECK_OWNER_PHONE", "CHECK_OWNER_PUSH", "TWILIO_ACCOUNT_SID"):
        monkeypatch.setenv(name, "set")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "set")
    monkeypatch.setenv("TWILIO_FROM_NUMBER", " ")  # blank is not set
    _, lines, _ = check(capsys, config)
    (warning,) = warnings_in(lines)
    assert "TWILIO_FROM_NUMBER" in warning
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15550001111")
    assert check(capsys, config, "--strict")[:2] == (0, [])


def test_every_environment_variable_the_site_names_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = """\
    alerts:
      twilio: {account_sid_env: CHECK_SID}
    review:
      secret_env: CHECK_SECRET
    """
    config = site(tmp_path, extra)
    _, lines, _ = check(capsys, config)
    text = "\n".join(warnings_in(lines))
    assert f"{tmp_path / 'site.yaml'}:7:29: CHECK_SID (alerts.twilio.account_sid_env)" in text
    assert f"{tmp_path / 'site.yaml'}:9:15: 'review.secret_env' names the environment " in text
    assert "TWILIO_AUTH_TOKEN" not in text  # no contact gets sms: Twilio is not needed
    monkeypatch.setenv("CHECK_SID", "AC123")
    monkeypatch.setenv("CHECK_SECRET", "x" * 40)
    assert check(capsys, config)[:2] == (0, [])


# --------------------------------------------------------------------------- review url


@pytest.mark.parametrize(
    ("review", "words"),
    [
        ("url: http://127.0.0.1:9000", "reaches port 9000, but guardian serve listens on "),
        ("{url: 'http://localhost:8081', port: 8080}", "reaches port 8081"),
        ("url: https://127.0.0.1:8080", "speaks plain http"),
        ("{url: 'http://192.168.1.5:8080', host: 127.0.0.1}", "listens only on 127.0.0.1"),
        ("{url: 'http://127.0.0.1:8080', host: 192.168.1.5}", "listens only on 192.168.1.5"),
        ("url: http://127.0.0.1:8080", "this machine's own address"),  # sms gets the link
    ],
)
def test_a_review_url_that_does_not_reach_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], review: str, words: str
) -> None:
    if review.startswith("{"):
        review = review[1:-1].replace(", ", "\n  ")
    extra = (
        f"review:\n  {review}\n"
        "contacts:\n  - {id: owner, phone_env: CHECK_PHONE, channels: [console, sms]}\n"
    )
    config = site(tmp_path, extra)
    _, lines, _ = check(capsys, config)
    found = [w for w in warnings_in(lines) if "review url" in w]
    assert len(found) == 1, lines
    assert found[0].startswith(f"warning: {tmp_path / 'site.yaml'}:7:8: ") and words in found[0]


@pytest.mark.parametrize(
    "review",
    [
        "url: https://guardian.example.org",
        "{url: 'http://127.0.0.1:9000', port: 9000}",
        "{url: 'http://192.168.1.5:8080', host: 0.0.0.0}",
    ],
)
def test_a_review_url_that_reaches_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], review: str
) -> None:
    if review.startswith("{"):
        review = review[1:-1].replace(", ", "\n  ")
    config = site(tmp_path, f"review:\n  {review}\n")
    assert check(capsys, config, "--strict")[:2] == (0, [])


# --------------------------------------------------------------------------- pixel zones

PX_ZONE = """\
zones:
  - name: water
    camera: pool
    kind: water
    units: px
    polygon: [[10, 240], [630, 240], [700, 470], [10, 470]]
"""


def test_a_pixel_zone_outside_the_configured_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(
        tmp_path, zones=PX_ZONE, camera="    source: 0\n    width: 640\n    height: 480\n"
    )
    code, lines, _ = check(capsys, config, "--strict")
    assert code == 1
    (warning,) = warnings_in(lines)
    assert warning.startswith(f"warning: {tmp_path / 'zones.yaml'}:6:38: point #3 [700, 470]")
    assert "outside camera 'pool''s 640x480 frame (its width and height)" in warning
    site(tmp_path, zones=PX_ZONE, camera="    source: 0\n    width: 800\n    height: 600\n")
    assert check(capsys, config, "--strict")[:2] == (0, [])
    # no frame size known: said as a note, not checked, not a warning
    site(tmp_path, zones=PX_ZONE)
    code, lines, _ = check(capsys, config, "--strict")
    assert code == 0 and not warnings_in(lines)
    (note,) = lines
    assert note.startswith(f"note: {tmp_path / 'site.yaml'}:2:5: zone(s) 'water' of camera ")
    assert "--probe" in note


def test_width_needs_height(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = site(tmp_path, camera="    source: 0\n    width: 640\n")
    code, lines, _ = check(capsys, config)
    assert code == 1
    assert (
        f"{tmp_path / 'site.yaml'}:4:12: camera 'pool' gives only one of width and height"
        in lines[0]
    )


# --------------------------------------------------------------------------- --probe


def tiny_video(path: Path, width: int = 640, height: int = 480, frames: int = 5) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (width, height))
    for i in range(frames):
        writer.write(np.full((height, width, 3), 20 * i, np.uint8))
    writer.release()
    return path


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(403, "no stream for you")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers every request with 403."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_opens_every_camera_with_the_real_source_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refusing_server: str
) -> None:
    video = tiny_video(tmp_path / "pool.avi")
    port = closed_port()
    write(
        tmp_path / "site.yaml",
        f"""\
        cameras:
          - id: pool
            source: pool.avi
          - id: gate
            source: {refusing_server}
          - id: road
            source: rtsp://viewer:hunter2@127.0.0.1:{port}/live
          - id: shed
            source: rtsp://127.0.0.1:{port}/off
            enabled: false
        zones: [zones.yaml]
        """,
    )
    write(tmp_path / "zones.yaml", PX_ZONE)
    assert video.is_file()
    # without --probe nothing is opened: the pixel zone is only noted
    code, lines, _ = check(capsys, tmp_path / "site.yaml", "--strict")
    assert code == 0 and [line.split(":")[0] for line in lines] == ["note"]
    code, lines, _ = check(capsys, tmp_path / "site.yaml", "--probe")
    assert code == 0
    found = warnings_in(lines)
    site_file = tmp_path / "site.yaml"
    assert len(found) == 3, lines
    gate, road, water = found
    assert gate.startswith(f"warning: {site_file}:5:13: camera 'gate': its source ")
    assert "cannot be opened — is the camera on and reachable from here" in gate
    assert road.startswith(f"warning: {site_file}:7:13: camera 'road': its source ")
    assert "viewer:***@127.0.0.1" in road and "hunter2" not in "\n".join(lines)
    assert water.startswith(f"warning: {tmp_path / 'zones.yaml'}:6:38: point #3 [700, 470]")
    assert "640x480 frame (a frame probed from its source)" in water
    assert "shed" not in "\n".join(lines)  # a disabled camera is not opened


def test_probe_opens_the_record_stream_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refusing_server: str
) -> None:
    """A camera's record stream (clips come from it) is probed beside its source; a
    record file that does not exist is an error of the site file."""
    tiny_video(tmp_path / "pool.avi")
    write(
        tmp_path / "site.yaml",
        f"""\
        cameras:
          - id: pool
            source: pool.avi
            record: {refusing_server}
        """,
    )
    code, lines, _ = check(capsys, tmp_path / "site.yaml", "--probe")
    assert code == 0, lines
    (found,) = warnings_in(lines)
    assert found.startswith(f"warning: {tmp_path / 'site.yaml'}:4:13: camera 'pool': its source ")
    assert "cannot be opened" in found and "its record stream" in found
    write(
        tmp_path / "site.yaml",
        """\
        cameras:
          - id: pool
            source: pool.avi
            record: main.mp4
        """,
    )
    code, lines, _ = check(capsys, tmp_path / "site.yaml")
    assert code != 0
    assert any(
        f"{tmp_path / 'site.yaml'}:4:13" in line and "record 'main.mp4' does not exist" in line
        for line in lines
    ), lines


def test_probe_leaves_a_worker_camera_to_its_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A camera run by `guardian worker` elsewhere is not opened from the site machine."""
    port = closed_port()
    write(
        tmp_path / "site.yaml",
        f"""\
        cameras:
          - id: road
            source: rtsp://127.0.0.1:{port}/live
          - id: pool
            source: rtsp://127.0.0.1:{port}/pool
            worker: poolside
        mqtt:
          url: mqtt://127.0.0.1:{port}
        """,
    )
    code, lines, _ = check(capsys, tmp_path / "site.yaml", "--probe")
    assert code == 0, lines
    found = warnings_in(lines)
    assert len(found) == 1 and "camera 'road': its source " in found[0], lines
    assert "camera 'pool'" not in "\n".join(lines)


def test_probe_of_a_configured_size_that_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_video(tmp_path / "pool.avi", 320, 240)
    config = site(tmp_path, camera="    source: pool.avi\n    width: 640\n    height: 480\n")
    code, lines, _ = check(capsys, config, "--probe", "--strict")
    assert code == 1
    (warning,) = warnings_in(lines)
    assert warning.startswith(f"warning: {tmp_path / 'site.yaml'}:4:12: camera 'pool' says its ")
    assert "640x480, but its source gives 320x240" in warning


# --------------------------------------------------------------------------- the command


def test_the_command_exits_0_on_warnings_and_1_with_strict(tmp_path: Path) -> None:
    """The real command in a child process, with its own environment."""
    config = site(tmp_path, "review:\n  password_hash_env: CHECK_HASH\n")
    env = {k: v for k, v in os.environ.items() if k != "CHECK_HASH"}
    run = [sys.executable, "-m", "guardian", "check", "--config", str(config)]
    done = subprocess.run(run, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"ok: {config}: 1 camera(s), 1 zone(s), 2 rule(s); 1 warning(s)\n"
    assert done.stderr.startswith(f"warning: {config}:7:22: 'review.password_hash_env' names ")
    strict = subprocess.run([*run, "--strict"], capture_output=True, text=True, env=env)
    assert strict.returncode == 1 and strict.stdout == ""
    assert strict.stderr.endswith(
        "1 warning(s) found (--strict); loaded 1 camera(s), 1 zone(s), 2 rule(s)\n"
    )
    env["CHECK_HASH"] = "scrypt$n=16384,r=8,p=1$c2FsdA$aGFzaA"
    ok = subprocess.run([*run, "--strict"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and ok.stderr == ""


def test_readme_documents_strict_and_probe() -> None:
    readme = (REPO / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("| `guardian check"))
    assert "--strict" in line and "--probe" in line
