"""The zone editor: a camera's latest snapshot with its zones as SVG polygons whose
points are dragged in the browser (``static/zones.js``) and saved back to the zone file
they came from (:class:`guardian.zone_editor.ZoneEditor`: comments kept, checked first).

    GET  /zones                    the first camera's zones
    GET  /zones/<camera>           the editor
    GET  /zones/<camera>/picture   the snapshot it draws on (JPEG)
    POST /zones/<camera>           {"zone": name, "points": [[x, y], …], "width": W,
                                    "height": H} in the picture's pixels; the session's
                                    CSRF token in X-CSRF-Token
"""

from __future__ import annotations

import json
import logging
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from guardian.review import pages
from guardian.review.access import Access
from guardian.review.http import Call, Threads, endpoint, html, message, redirect
from guardian.review.site import not_found, page_context
from guardian.review.state import ReviewApp
from guardian.snapshots import grab
from guardian.zone_editor import ZoneEditError, ZoneEditor, site_zone_files
from guardian.zone_preview import hex_color

log = logging.getLogger("guardian.review")

#: the editor's page may run its own script and fetch from this site, nothing else
ZONES_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: the picture drawn on when a camera has no snapshot yet
_BLANK = (1280, 720)


class SaveBody(BaseModel):
    """A zone's new points, in pixels of the picture the editor showed."""

    model_config = ConfigDict(extra="forbid")

    zone: str = Field(min_length=1, max_length=64, description="the zone's name")
    points: list[tuple[float, float]] = Field(
        min_length=3, max_length=200, description="the polygon's points, [x, y] in pixels"
    )
    width: int = Field(gt=0, le=100_000, description="the picture's width in pixels")
    height: int = Field(gt=0, le=100_000, description="the picture's height in pixels")


class ZonePages:
    """The zone editor's routes over one :class:`ReviewApp`."""

    def __init__(self, app: ReviewApp, access: Access) -> None:
        self.app = app
        self.access = access
        self.editor = ZoneEditor(site_zone_files(app.bundle), app.site.camera_ids)

    def routes(self, threads: Threads) -> list[BaseRoute]:
        return [
            Route("/zones", endpoint(threads, self.first), methods=["GET"]),
            Route("/zones/{camera}", endpoint(threads, self.page), methods=["GET"]),
            Route("/zones/{camera}/picture", endpoint(threads, self.picture), methods=["GET"]),
            Route(
                "/zones/{camera}",
                endpoint(threads, self.save, body="raw", api=True),
                methods=["POST"],
            ),
        ]

    def _camera(self, call: Call) -> str:
        camera = call.params["camera"]
        if camera not in self.app.site.camera_ids:
            raise not_found("No such camera")
        return camera

    def _picture(self, camera: str) -> bytes | None:
        """The camera's snapshot; for a file or folder source, one frame read now."""
        data = self.app.snapshots.latest_jpeg(camera)
        if data is not None:
            return data
        cam = self.app.site.camera(camera)
        if cam.source_kind in ("file", "folder"):
            frame = grab(camera, cam.source, timeout=5.0)
            if frame is not None:
                self.app.snapshots.save(camera, frame, self.app.clock())
                return self.app.snapshots.latest_jpeg(camera)
        return None

    def first(self, call: Call) -> Response:
        self.access.require_login(call)
        cameras = self.app.site.camera_ids
        if not cameras:
            raise not_found("No camera")
        return redirect(f"/zones/{cameras[0]}", "GET")

    def page(self, call: Call) -> Response:
        session = self.access.require_login(call)
        camera = self._camera(call)
        data = self._picture(camera)
        width, height = _BLANK
        if data is not None:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
            if image is not None:
                height, width = int(image.shape[0]), int(image.shape[1])
        elif (cam := self.app.site.camera(camera)).width and cam.height:
            width, height = cam.width, cam.height
        zones = [
            pages.ZoneView(
                name=p.zone.name,
                kind=p.zone.kind,
                color=hex_color(p.zone.kind),
                units=p.zone.units,
                points=tuple(
                    (round(x, 1), round(y, 1)) for x, y in p.zone.polygon_px(width, height)
                ),
            )
            for p in self.editor.zones(camera)
        ]
        text = pages.zones_page(
            page_context(self.app, session),
            camera=camera,
            cameras=self.app.site.camera_ids,
            width=width,
            height=height,
            has_picture=data is not None,
            zones=zones,
            back=f"/zones/{camera}",
        )
        return html(200, text, {"Content-Security-Policy": ZONES_CSP})

    def picture(self, call: Call) -> Response:
        self.access.require_login(call)
        data = self._picture(self._camera(call))
        if data is None:
            raise not_found("No snapshot of this camera yet")
        return Response(data, 200, media_type="image/jpeg")

    def save(self, call: Call) -> Response:
        session = self.access.state_change(call, token=call.header("x-csrf-token") or "")
        camera = self._camera(call)
        try:
            body = SaveBody.model_validate(json.loads(call.body or b"null"))
        except ValidationError as exc:
            text = "; ".join(str(e["msg"]) for e in exc.errors())
            raise message(422, "Bad request", f"the zone could not be read: {text}") from None
        except ValueError:
            raise message(400, "Bad request", "the body is not JSON") from None
        try:
            placed = self.editor.move(camera, body.zone, body.points, body.width, body.height)
        except ZoneEditError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        log.info("zone %s/%s moved on the review page by %s", camera, body.zone, session.user)
        result: dict[str, Any] = {
            "zone": placed.zone.name,
            "file": placed.file.name,
            "units": placed.zone.units,
            "polygon": [list(p) for p in placed.zone.polygon],
        }
        return JSONResponse(result)
