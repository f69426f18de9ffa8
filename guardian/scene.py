"""Scene changes: "something new in a watched zone", found by background change (no model).

One :class:`SceneWatcher` per camera watches some zones. :meth:`SceneWatcher.update` takes
each processed frame with the person tracks of that frame and returns the
:class:`~guardian.records.SceneChange` s present in it: regions of a zone that differ from
the learned background, are not a person, and have stayed put for at least ``settle``
seconds (a gate left open, a bin moved onto the lawn, a parked bike, an animal lying down).

How it works, per zone, on the zone's bounding box in a downscaled copy of the frame
(``width`` px wide; only the part the zones cover is converted; luma, plus with
``colour`` the two chroma planes of YCrCb):

* **Background.** For the first ``learn`` seconds every pixel averages what it sees; then
  it follows slow drift with an exponential update (time constant ``drift``) only where
  nothing has changed and no person is, so people and objects never pollute it. Each
  pixel also learns how noisy it is (variance of its residual, time constant 10 s).
  Pixels that were under a person all through the learning take the first view without
  one.
* **Lighting.** Each frame the zone's luma is fitted as ``gain × background + offset`` by
  least squares on a grid of pixels that agree with the previous fit (so an object or a
  person does not drag it; clipped pixels are left out) and compared after that
  correction: a cloud, an exposure step or +25 % brightness leaves no residual. Chroma is
  compared about grey with the same gain. If more than ``relearn`` of the zone still
  differs at once (lights switched, camera turned), the zone re-learns from this frame.
* **Changed pixels.** A pixel differs when its residual (luma or chroma distance) exceeds
  ``max(min_contrast, sensitivity × its noise)``; isolated pixels go with a 3×3 opening.
  Person boxes (every track but REMOVED ones, enlarged by ``person_margin`` on each side)
  are masked out.
* **Persistence.** Each pixel keeps an occupancy (exponential average of "differs", time
  constant ``settle / 4``) and when its current run of differing started (the run ends
  when occupancy falls below 0.1). A pixel is *settled* when its occupancy is at least
  0.5 and its run is ``settle`` seconds old, so a one-frame flicker, noise, something that
  leaves again quickly or something moving past never settles. Under a person box a
  pixel's state is frozen (someone walking in front of a parked bike does not end it).
* **Changes.** Settled pixels (3×3 closing) form connected regions; a region of at least
  ``min_area`` of the zone is a change. A change keeps its ``change_id`` and
  ``first_seen`` (the median start of its pixels' runs) while its region overlaps the
  previous one; it ends when the region is gone (the background is back) or shrinks
  below half of ``min_area``. It is returned in the frames where at least half of its
  visible pixels differ (so it stops at once when the thing is taken away). A new region
  touching a person box is held back until the person has moved away (likely their
  shadow or a limb outside the box); once returned, a change is not held back again.
* **Not news.** A new region is first checked: (1) the view moved (phase correlation of
  the zone with its background finds a shift of a working pixel or more) → re-learn;
  (2) a hole: along its outline the background has edges at least twice as strong as
  the frame (something that was there while learning has gone) → folded into the
  background; (3) light or shadow: on textured ground its luma correlates with the
  background's in 7×7 windows (median NCC >= 0.75) and its colour is the background's
  under one gain → folded into the background.
* **Absorb.** A change older than ``absorb`` seconds (and any stray pixel changed that
  long) is folded into the background and never returned again. The background it
  covered is remembered, so taking the absorbed thing away later restores it at once.

Known limits: something with the luma and colour of the ground behind it is not seen
(with ``colour=False``, the luma alone); something covering more than ``relearn`` of a
zone at once is taken for a lighting change; a person the tracker misses who stays
still for ``settle`` seconds, a shadow or light patch on flat untextured ground and a
low-contrast hole left by something taken away are reported (until ``absorb``); the hole
test can take an untracked person standing in front of strong background edges for a
hole and fold them into the background (they then leave a hole when they go).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from guardian.records import Box, SceneChange, Track, TrackState
from guardian.zones import Zone

__all__ = ["SceneWatcher"]

_F32 = npt.NDArray[np.float32]
_Bool = npt.NDArray[np.bool_]
_U8 = npt.NDArray[np.uint8]
_I32 = npt.NDArray[np.int32]

_KERNEL = np.ones((3, 3), np.uint8)
#: a pixel is "changed now" while its occupancy is at least this
_OCC_ON = 0.5
#: a changed pixel's run is over once its occupancy falls below this
_OCC_OFF = 0.1
#: the time base of the per-pixel run starts moves forward after this many seconds
_REBASE = 3600.0
#: time constant (s) of the per-pixel noise estimate
_VAR_TAU = 10.0
#: a frame gap longer than this (s) counts as this much for the learning rates
_MAX_DT = 1.0
#: a clock going back by more than this (s) restarts the watcher
_BACKWARD_RESET = 1.0
#: least-squares lighting fit: residual band (× min_contrast) of the pixels it keeps
_FIT_BAND = 2.0
#: ... the share of samples that must agree with the previous fit to use only those
_FIT_AGREE = 0.3
#: ... about this many samples (pixels on a grid) per zone
_FIT_SAMPLES = 4000
#: ... fewer samples than this keep the previous fit
_FIT_MIN_SAMPLES = 64
#: ... background luma variance below this is "flat": offset only, no gain
_FIT_FLAT_VAR = 25.0
#: ... the gain is clamped to this range
_GAIN_RANGE = (1.0 / 3.0, 3.0)
#: luma values this close to 0 or 255 are clipped and not used for the fit
_SATURATED = 4.0
#: zones re-learn only when at least this share of their pixels is visible (not people)
_RELEARN_MIN_VISIBLE = 0.1
#: a reported change stays while its area is at least this share of min_area
_KEEP_AREA = 0.5
#: fewest pixels (working resolution) a change can have
_MIN_PIXELS = 4
#: lighting test of a new region: normalised cross-correlation with the background
_NCC_LIGHT = 0.75
#: ... in windows of this many pixels (working image) a side
_NCC_WINDOW = 7
#: ... where background and frame both have at least this much texture (luma std)
_MIN_TEXTURE = 4.0
#: ... on at least this share of the region's interior
_TEXTURED_SHARE = 0.5
#: a new region is first checked for a shifted view: phase-correlation shift (working
#: pixels) and peak response that mean the camera moved
_SHIFT_PX = 1.0
_SHIFT_RESPONSE = 0.1
#: ghost test of a new region: the background's mean edge strength along its outline
#: (grey levels per pixel) must be at least this ...
_GHOST_MIN_EDGE = 3.0
#: ... and this many times the frame's
_GHOST_EDGE_RATIO = 2.0
#: the people mask used to hold back regions touching a person: extra margin in pixels
#: of the working image, beyond ``person_margin``
_NEAR_PX = 2


def _window(comp: _Bool, bbox: tuple[int, int, int, int], pad: int) -> tuple[slice, slice, _U8]:
    """The rows and columns of ``bbox`` (x, y, w, h) grown by ``pad``, and ``comp`` there."""
    bx, by, bw, bh = bbox
    hh, ww = comp.shape
    rows = slice(max(0, by - pad), min(hh, by + bh + pad))
    cols = slice(max(0, bx - pad), min(ww, bx + bw + pad))
    return rows, cols, np.ascontiguousarray(comp[rows, cols]).view(np.uint8)


def _gradient(image: _F32) -> _F32:
    """Gradient magnitude (grey levels per pixel), 3×3 Sobel."""
    gx = np.asarray(cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3), np.float32)
    gy = np.asarray(cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3), np.float32)
    return np.sqrt(gx * gx + gy * gy) * np.float32(0.125)


def _downscale(image: _U8, size: tuple[int, int]) -> _U8:
    """Area-average ``image`` down to ``size`` (w, h); by more than 2×, first bilinear to 2×."""
    w, h = size
    if image.shape[1] > 2 * w + 1 and image.shape[0] > 2 * h + 1:
        # INTER_AREA is slow on large frames: bilinear to twice the size, then exact 2×2 means
        image = np.asarray(cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR))
    return np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), np.uint8)


class _Change:
    """A changed region being followed in one zone (internal, mutable)."""

    __slots__ = ("area", "box", "change_id", "first_seen", "mask", "reported")

    def __init__(self, change_id: int, first_seen: float, mask: _Bool, box: Box, area: float):
        self.change_id = change_id
        self.first_seen = first_seen
        self.mask = mask
        self.box = box
        self.area = area
        self.reported = False


class _ZoneModel:
    """Background, noise and persistence state of one zone, on its bounding box."""

    def __init__(self, zone: Zone, small: tuple[int, int], scale: tuple[float, float]) -> None:
        h, w = small
        sx, sy = scale
        canvas = np.zeros((h, w), np.uint8)
        # fillPoly fills pixel centres at integer coordinates; shift=4 keeps 1/16 px
        exterior = np.asarray(zone.polygon.exterior.coords, np.float64)
        pts = np.round((exterior * (sx, sy) - 0.5) * 16.0).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=4)
        x, y, cw, ch = cv2.boundingRect(canvas)
        self.name = zone.name
        self.scale = scale
        self.origin = (x, y)
        self.rows = slice(y, y + ch)
        self.cols = slice(x, x + cw)
        self.mask: _Bool = canvas[self.rows, self.cols].astype(bool)
        self.n_px = int(np.count_nonzero(self.mask))
        #: the lighting fit samples every fit_step-th pixel (some thousands in all)
        self.fit_step = max(1, round(math.sqrt(self.n_px / _FIT_SAMPLES)))
        shape = (ch, cw)
        self.bg_y: _F32 = np.zeros(shape, np.float32)
        self.bg_cr: _F32 = np.full(shape, 128.0, np.float32)
        self.bg_cb: _F32 = np.full(shape, 128.0, np.float32)
        self.var: _F32 = np.zeros(shape, np.float32)
        self.occ: _F32 = np.zeros(shape, np.float32)
        #: when each pixel's current run of "differs" started, in seconds after ``epoch``
        #: (float32, so ``epoch`` moves forward now and then); inf when not differing
        self.since: _F32 = np.full(shape, np.inf, np.float32)
        self.epoch: float | None = None
        #: seen at least once without a person on it (True outside the zone)
        self.known: _Bool = ~self.mask
        self.all_known = self.n_px == 0
        self.prior: tuple[_F32, _F32, _F32] | None = None
        self.prior_valid: _Bool = np.zeros(shape, bool)
        self.prior_any = False
        self.gain = 1.0
        self.offset = 0.0
        self.learned_frames = 0
        self.changes: list[_Change] = []
        #: Hanning window for the phase correlation (made when first needed)
        self.window: _F32 | None = None

    @property
    def active(self) -> bool:
        return self.n_px > 0


class SceneWatcher:
    """One camera; watches the given zones. :meth:`update` once per processed frame.

    Parameters (seconds unless said): ``width`` of the working image in pixels; ``learn``
    seconds of frames before anything is reported; ``min_area`` smallest change as a share
    of the zone; ``settle`` how long a region must persist before it is reported;
    ``absorb`` after how long a change becomes background; ``drift`` time constant of the
    background's slow update; ``sensitivity`` threshold in noise standard deviations;
    ``min_contrast`` smallest luma/chroma difference (grey levels, 0..255) that counts;
    ``relearn`` share of a zone changing at once that makes it re-learn instead of
    reporting; ``person_margin`` how much each person box is enlarged on each side, as a
    share of its width/height; ``colour`` also compare chroma (finds a red toy on green
    grass of the same brightness), else luma only.
    """

    def __init__(
        self,
        zones: Sequence[Zone],
        *,
        width: int = 320,
        learn: float = 2.0,
        min_area: float = 0.01,
        settle: float = 1.0,
        absorb: float = 600.0,
        drift: float = 30.0,
        sensitivity: float = 4.0,
        min_contrast: float = 12.0,
        relearn: float = 0.5,
        person_margin: float = 0.15,
        colour: bool = True,
    ) -> None:
        names = [z.name for z in zones]
        if len(set(names)) != len(names):
            raise ValueError(f"zone names must be unique, got {names}")
        if width < 16:
            raise ValueError("width must be at least 16 pixels")
        if not 0.0 < min_area < 1.0:
            raise ValueError("min_area must be in (0, 1)")
        if not 0.0 < relearn <= 1.0:
            raise ValueError("relearn must be in (0, 1]")
        if learn < 0 or settle < 0 or person_margin < 0:
            raise ValueError("learn, settle and person_margin must be >= 0")
        if absorb <= settle or drift <= 0 or sensitivity <= 0 or min_contrast <= 0:
            raise ValueError("need absorb > settle and drift, sensitivity, min_contrast > 0")
        self._zones = tuple(zones)
        self._width = int(width)
        self._learn = float(learn)
        self._min_area = float(min_area)
        self._settle = float(settle)
        self._absorb_after = float(absorb)
        self._drift = float(drift)
        self._k2 = float(sensitivity) ** 2
        self._tmin = float(min_contrast)
        self._tmin2 = self._tmin**2
        self._relearn = float(relearn)
        self._margin = float(person_margin)
        self._colour = bool(colour)
        self._occ_tau = max(0.05, self._settle / 4.0)
        self._next_id = 1
        self._frame_shape: tuple[int, int] | None = None
        self._small: tuple[int, int] = (0, 0)
        self._scale: tuple[float, float] = (1.0, 1.0)
        self._models: list[_ZoneModel] = []
        #: the working image covers only the zones: its origin and size in working pixels,
        #: and the frame region (x0, y0, x1, y1, full pixels) it is taken from
        self._roi_small: tuple[int, int] = (0, 0)
        self._roi_shape: tuple[int, int] = (0, 0)
        self._roi_full: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._t0: float | None = None
        self._last_t: float | None = None

    def reset(self) -> None:
        """Forget the background and all changes; learn again from the next frame."""
        self._frame_shape = None
        self._models = []
        self._t0 = None
        self._last_t = None

    # ------------------------------------------------------------------ per frame

    def update(
        self, image: npt.NDArray[np.uint8], tracks: Sequence[Track], timestamp: float
    ) -> tuple[SceneChange, ...]:
        """The changes present in this frame that have persisted at least ``settle``."""
        if image.ndim == 2:
            image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), np.uint8)
        shape = (int(image.shape[0]), int(image.shape[1]))
        now = float(timestamp)
        if shape != self._frame_shape or (
            self._last_t is not None and now < self._last_t - _BACKWARD_RESET
        ):
            self._setup(shape)
        if self._t0 is None:
            self._t0 = now
        dt = 0.0 if self._last_t is None else min(max(now - self._last_t, 0.0), _MAX_DT)
        self._last_t = max(now, self._last_t if self._last_t is not None else now)
        if not self._models:
            return ()
        # only the part of the frame the zones cover, downscaled
        x0, y0, x1, y1 = self._roi_full
        small = image[y0:y1, x0:x1]
        h, w = self._roi_shape
        if small.shape[:2] != (h, w):
            small = _downscale(small, (w, h))
        if self._colour:
            ycc = np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2YCrCb), np.uint8)
            planes = [np.asarray(p, np.uint8) for p in cv2.split(ycc)]
            luma, cr, cb = planes[0], planes[1], planes[2]
        else:
            luma = np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), np.uint8)
            cr = cb = luma
        luma = np.asarray(cv2.GaussianBlur(luma, (3, 3), 0), np.uint8)
        people, near = self._people_masks(tracks)
        learning = now - self._t0 < self._learn
        out: list[SceneChange] = []
        for model in self._models:
            rs, cs = model.rows, model.cols
            out.extend(
                self._step(
                    model,
                    luma[rs, cs],
                    cr[rs, cs],
                    cb[rs, cs],
                    people[rs, cs],
                    near[rs, cs],
                    now,
                    dt,
                    learning,
                )
            )
        return tuple(out)

    # ------------------------------------------------------------------ set-up

    def _setup(self, shape: tuple[int, int]) -> None:
        height, width = shape
        w = min(self._width, width)
        h = max(1, round(height * w / width))
        self._frame_shape = shape
        self._small = (h, w)
        self._scale = (w / width, h / height)
        models = [_ZoneModel(z, self._small, self._scale) for z in self._zones]
        self._models = [m for m in models if m.active]
        if self._models:
            x0 = min(m.cols.start for m in self._models)
            y0 = min(m.rows.start for m in self._models)
            x1 = max(m.cols.stop for m in self._models)
            y1 = max(m.rows.stop for m in self._models)
            for m in self._models:
                m.rows = slice(m.rows.start - y0, m.rows.stop - y0)
                m.cols = slice(m.cols.start - x0, m.cols.stop - x0)
            sx, sy = self._scale
            self._roi_small = (x0, y0)
            self._roi_shape = (y1 - y0, x1 - x0)
            self._roi_full = (
                math.floor(x0 / sx),
                math.floor(y0 / sy),
                min(width, math.ceil(x1 / sx)),
                min(height, math.ceil(y1 / sy)),
            )
        self._t0 = None
        self._last_t = None

    def _people_masks(self, tracks: Sequence[Track]) -> tuple[_Bool, _Bool]:
        """Person boxes (enlarged) on the working image, and the same a little wider."""
        h, w = self._roi_shape
        sx, sy = self._scale
        ox, oy = self._roi_small
        people = np.zeros((h, w), bool)
        near = np.zeros((h, w), bool)
        for track in tracks:
            if track.state is TrackState.REMOVED:
                continue
            b = track.box
            mx, my = b.width * self._margin, b.height * self._margin
            x1, y1 = (b.x1 - mx) * sx - ox, (b.y1 - my) * sy - oy
            x2, y2 = (b.x2 + mx) * sx - ox, (b.y2 + my) * sy - oy
            ix1, iy1 = max(0, math.floor(x1)), max(0, math.floor(y1))
            ix2, iy2 = min(w, math.ceil(x2)), min(h, math.ceil(y2))
            if ix2 <= ix1 or iy2 <= iy1:
                continue
            people[iy1:iy2, ix1:ix2] = True
            near[
                max(0, iy1 - _NEAR_PX) : min(h, iy2 + _NEAR_PX),
                max(0, ix1 - _NEAR_PX) : min(w, ix2 + _NEAR_PX),
            ] = True
        return people, near

    # ------------------------------------------------------------------ one zone

    def _step(
        self,
        m: _ZoneModel,
        luma: _U8,
        cr_u8: _U8,
        cb_u8: _U8,
        people: _Bool,
        near: _Bool,
        now: float,
        dt: float,
        learning: bool,
    ) -> list[SceneChange]:
        g: _F32 = luma.astype(np.float32)
        cr: _F32 = cr_u8.astype(np.float32) if self._colour else g
        cb: _F32 = cb_u8.astype(np.float32) if self._colour else g
        # most frames have nobody in the zone: then the masks are the zone's own
        clear_u8: _U8 | None = None
        vis = m.mask
        if people.any():
            clear = ~people
            clear_u8 = clear.view(np.uint8)
            vis = m.mask & clear
        if not m.all_known:
            fresh = vis & ~m.known
            if fresh.any():
                m.bg_y[fresh] = g[fresh]
                if self._colour:
                    m.bg_cr[fresh] = cr[fresh]
                    m.bg_cb[fresh] = cb[fresh]
                m.known |= fresh
                m.all_known = bool(m.known.all())
        if learning:
            m.learned_frames += 1
            alpha = max(1.0 / m.learned_frames, 1.0 - math.exp(-dt / self._drift))
            vis_u8 = vis.view(np.uint8)
            res = g - m.bg_y
            cv2.accumulateWeighted(res * res, m.var, alpha, mask=vis_u8)
            cv2.accumulateWeighted(g, m.bg_y, alpha, mask=vis_u8)
            if self._colour:
                cv2.accumulateWeighted(cr, m.bg_cr, alpha, mask=vis_u8)
                cv2.accumulateWeighted(cb, m.bg_cb, alpha, mask=vis_u8)
            return []

        seen = vis if m.all_known else vis & m.known
        self._fit(m, g, seen)
        a, b = m.gain, m.offset
        pred = m.bg_y * np.float32(a)
        pred += np.float32(b)
        np.clip(pred, 0.0, 255.0, out=pred)
        res = g - pred
        r2: _F32 = res * res
        thr2: _F32 = m.var * np.float32(self._k2)
        np.maximum(thr2, np.float32(self._tmin2), out=thr2)
        fg = r2 > thr2
        if self._colour:
            fg |= self._chroma_r2(m, cr, cb, a) > thr2
        fg &= seen

        if m.prior_any:
            self._restore_prior(m, g, fg, thr2, a, b)

        n_seen = int(np.count_nonzero(seen))
        if (
            n_seen >= _RELEARN_MIN_VISIBLE * m.n_px
            and np.count_nonzero(fg) > self._relearn * n_seen
        ):
            self._relearn_zone(m, g, cr, cb, vis)
            return []

        opened = np.asarray(cv2.morphologyEx(fg.view(np.uint8), cv2.MORPH_OPEN, _KERNEL), np.uint8)
        beta = 1.0 - math.exp(-dt / self._occ_tau)
        cv2.accumulateWeighted(opened, m.occ, beta, mask=clear_u8)
        on = opened.view(bool)
        if m.epoch is None:
            m.epoch = now
        elif now - m.epoch > _REBASE:
            m.since -= np.float32(now - m.epoch)
            m.epoch = now
        rel = np.float32(now - m.epoch)
        np.fmin(m.since, rel, out=m.since, where=on)  # a new run starts now
        over = m.occ < _OCC_OFF
        over &= opened == 0
        np.copyto(m.since, np.inf, where=over)

        quiet_u8 = (seen & (m.occ < _OCC_ON)).view(np.uint8)
        alpha = 1.0 - math.exp(-dt / self._drift)
        cv2.accumulateWeighted(g, m.bg_y, alpha, mask=quiet_u8)
        if self._colour:
            cv2.accumulateWeighted(cr, m.bg_cr, alpha, mask=quiet_u8)
            cv2.accumulateWeighted(cb, m.bg_cb, alpha, mask=quiet_u8)
        np.minimum(r2, thr2 * np.float32(2.25), out=r2)
        cv2.accumulateWeighted(r2, m.var, 1.0 - math.exp(-dt / _VAR_TAU), mask=quiet_u8)

        # (occupancy is 0 outside the zone)
        settled = m.occ >= _OCC_ON
        settled &= m.since <= rel - np.float32(self._settle)
        if not settled.any():
            m.changes = []
            return []
        return self._regions(m, settled, on, g, cr, cb, vis, near, now)

    def _fit(self, m: _ZoneModel, g: _F32, seen: _Bool) -> None:
        """Least-squares ``luma ≈ gain × background + offset`` on agreeing pixels.

        Sampled on a grid (every ``fit_step`` pixel), on seen pixels not currently changed.
        """
        k = m.fit_step
        valid = seen[::k, ::k] & (m.occ[::k, ::k] < _OCC_ON)
        x = m.bg_y[::k, ::k][valid]
        y = g[::k, ::k][valid]
        unclipped = (y > _SATURATED) & (y < 255.0 - _SATURATED)
        x, y = x[unclipped], y[unclipped]
        if x.size < _FIT_MIN_SAMPLES:
            return
        a, b = m.gain, m.offset
        band = _FIT_BAND * self._tmin
        for _ in range(2):
            keep = np.abs(y - (x * np.float32(a) + np.float32(b))) < band
            n_keep = int(np.count_nonzero(keep))
            xs, ys = (x[keep], y[keep]) if n_keep >= _FIT_AGREE * x.size else (x, y)
            if xs.size < _FIT_MIN_SAMPLES:
                xs, ys = x, y
            mx, my = float(xs.mean()), float(ys.mean())
            dx = xs - np.float32(mx)
            vx = float(np.dot(dx, dx)) / xs.size
            if vx < _FIT_FLAT_VAR:
                a = 1.0
            else:
                a = float(np.dot(dx, ys - np.float32(my))) / xs.size / vx
                a = min(max(a, _GAIN_RANGE[0]), _GAIN_RANGE[1])
            b = my - a * mx
        m.gain, m.offset = a, b

    def _chroma_r2(self, m: _ZoneModel, cr: _F32, cb: _F32, gain: float) -> _F32:
        """Squared chroma distance to the background, chroma scaled about grey by ``gain``."""
        base = np.float32(128.0 * (1.0 - gain))
        dcr = m.bg_cr * np.float32(gain)
        dcr += base
        np.subtract(cr, dcr, out=dcr)
        dcb = m.bg_cb * np.float32(gain)
        dcb += base
        np.subtract(cb, dcb, out=dcb)
        dcr *= dcr
        dcb *= dcb
        dcr += dcb
        return dcr

    def _restore_prior(
        self, m: _ZoneModel, g: _F32, fg: _Bool, thr2: _F32, a: float, b: float
    ) -> None:
        """Where an absorbed object was taken away, put the remembered background back."""
        assert m.prior is not None
        cand = fg & m.prior_valid
        if not cand.any():
            return
        py, pcr, pcb = m.prior
        rows, cols = np.nonzero(cand)
        expect = np.clip(py[rows, cols] * a + b, 0.0, 255.0)
        back = (g[rows, cols] - expect) ** 2 <= thr2[rows, cols]
        rows, cols = rows[back], cols[back]
        m.bg_y[rows, cols] = py[rows, cols]
        m.bg_cr[rows, cols] = pcr[rows, cols]
        m.bg_cb[rows, cols] = pcb[rows, cols]
        m.prior_valid[rows, cols] = False
        fg[rows, cols] = False
        m.prior_any = bool(m.prior_valid.any())

    def _relearn_zone(self, m: _ZoneModel, g: _F32, cr: _F32, cb: _F32, vis: _Bool) -> None:
        """Most of the zone changed at once: take the current view as the background."""
        m.bg_y[vis] = g[vis]
        if self._colour:
            m.bg_cr[vis] = cr[vis]
            m.bg_cb[vis] = cb[vis]
        # what a person hides now is learned when they move away
        m.known = ~m.mask | vis
        m.all_known = bool(m.known.all())
        m.occ.fill(0.0)
        m.since.fill(np.inf)
        m.prior_valid.fill(False)
        m.prior_any = False
        m.gain, m.offset = 1.0, 0.0
        m.changes = []

    def _absorb(
        self, m: _ZoneModel, region: _Bool, g: _F32, cr: _F32, cb: _F32, remember: bool
    ) -> None:
        """Fold ``region`` of the current frame into the background."""
        if remember:
            if m.prior is None:
                m.prior = (m.bg_y.copy(), m.bg_cr.copy(), m.bg_cb.copy())
            else:
                for mine, cur in zip(m.prior, (m.bg_y, m.bg_cr, m.bg_cb), strict=True):
                    mine[region] = cur[region]
            m.prior_valid |= region
            m.prior_any = True
        a, b = m.gain, m.offset
        m.bg_y[region] = (g[region] - b) / a
        if self._colour:
            base = 128.0 * (1.0 - a)
            m.bg_cr[region] = (cr[region] - base) / a
            m.bg_cb[region] = (cb[region] - base) / a
        m.occ[region] = 0.0
        m.since[region] = np.inf

    @staticmethod
    def _grown(m: _ZoneModel, comp: _Bool) -> _Bool:
        """``comp`` and its changed neighbours (one pixel around), inside the zone."""
        grown = np.asarray(cv2.dilate(comp.view(np.uint8), _KERNEL), np.uint8).view(bool)
        return grown & m.mask & (m.since < np.inf)

    def _moved(self, m: _ZoneModel, g: _F32) -> bool:
        """True when the view of the zone has shifted (camera knocked or turned).

        Phase correlation of the frame with the background over the zone's box: a shift of
        a pixel or more with a clear peak means everything moved, not that something came.
        """
        h, w = g.shape
        if h < 8 or w < 8:
            return False
        if m.window is None:
            m.window = np.asarray(cv2.createHanningWindow((w, h), cv2.CV_32F), np.float32)
        # (copies: with a window, this OpenCV build writes the windowed inputs back)
        (dx, dy), response = cv2.phaseCorrelate(m.bg_y.copy(), g.copy(), m.window)
        return math.hypot(dx, dy) >= _SHIFT_PX and response >= _SHIFT_RESPONSE

    def _ghost_like(
        self, m: _ZoneModel, comp: _Bool, bbox: tuple[int, int, int, int], g: _F32
    ) -> bool:
        """True when a new region is a hole: something in the background has gone away.

        Along the region's outline the background has much stronger edges than the frame
        (the edges of the thing that left), while an object brings its own edges. This
        catches what stood in the zone while it learned and was then taken away.
        """
        rows, cols, sub = _window(comp, bbox, 2)
        outer = np.asarray(cv2.dilate(sub, _KERNEL), np.uint8)
        inner = np.asarray(cv2.erode(sub, _KERNEL), np.uint8)
        ring = (outer ^ inner).view(bool)
        if np.count_nonzero(ring) < 16:
            return False
        expected = np.ascontiguousarray(m.bg_y[rows, cols]) * np.float32(m.gain)
        e_bg = float(np.mean(_gradient(expected)[ring]))
        e_now = float(np.mean(_gradient(np.ascontiguousarray(g[rows, cols]))[ring]))
        return e_bg >= _GHOST_MIN_EDGE and e_bg > _GHOST_EDGE_RATIO * e_now

    def _lighting_like(
        self,
        m: _ZoneModel,
        comp: _Bool,
        bbox: tuple[int, int, int, int],
        g: _F32,
        cr: _F32,
        cb: _F32,
    ) -> bool:
        """True when a new region is the background's own texture, only lit differently.

        Luma: normalised cross-correlation with the background in 7×7 windows (so a gain
        that varies smoothly across a soft shadow still correlates) over the region's
        interior, on textured ground: most of the interior must be textured in both and
        the median correlation high. Colour: the background's chroma under one brightness
        gain. A shadow or a light patch on untextured ground cannot be told from a flat
        object this way and is reported.
        """
        rows, cols, sub = _window(comp, bbox, _NCC_WINDOW // 2 + 1)
        interior = np.asarray(cv2.erode(sub, _KERNEL), np.uint8).view(bool)
        n_inside = int(np.count_nonzero(interior))
        if n_inside < 16:
            return False
        x = np.ascontiguousarray(m.bg_y[rows, cols])
        y = np.ascontiguousarray(g[rows, cols])
        win = (_NCC_WINDOW, _NCC_WINDOW)

        def box(a: _F32) -> _F32:
            return np.asarray(cv2.blur(a, win), np.float32)

        mx, my = box(x), box(y)
        vx = box(x * x) - mx * mx
        vy = box(y * y) - my * my
        cxy = box(x * y) - mx * my
        t2 = np.float32(_MIN_TEXTURE**2)
        textured = interior & (vx >= t2) & (vy >= t2)
        n_textured = int(np.count_nonzero(textured))
        if n_textured < _TEXTURED_SHARE * n_inside or n_textured < 16:
            return False
        ncc = cxy[textured] / np.sqrt(vx[textured] * vy[textured])
        if float(np.median(ncc)) < _NCC_LIGHT:
            return False
        if not self._colour:
            return True
        inside = np.zeros_like(comp)
        inside[rows, cols] = interior
        xs, ys = m.bg_y[inside], g[inside]
        gain = min(max(float(ys.mean()) / max(float(xs.mean()), 1.0), 0.2), 5.0)
        base = 128.0 * (1.0 - gain)
        dcr = cr[inside] - (m.bg_cr[inside] * gain + base)
        dcb = cb[inside] - (m.bg_cb[inside] * gain + base)
        return float(np.median(dcr * dcr + dcb * dcb)) <= self._tmin2

    def _regions(
        self,
        m: _ZoneModel,
        settled: _Bool,
        on: _Bool,
        g: _F32,
        cr: _F32,
        cb: _F32,
        vis: _Bool,
        near: _Bool,
        now: float,
    ) -> list[SceneChange]:
        """Connected settled regions → followed changes → the ones to report.

        Works on the bounding box of the settled pixels (grown by 2 for the closing).
        """
        assert m.epoch is not None
        epoch = m.epoch
        hh, ww = settled.shape
        bx, by, bw, bh = cv2.boundingRect(settled.view(np.uint8))
        wr = slice(max(0, by - 2), min(hh, by + bh + 2))
        wc = slice(max(0, bx - 2), min(ww, bx + bw + 2))
        ox, oy = wc.start, wr.start  # window origin in the zone crop
        closed = np.asarray(
            cv2.morphologyEx(
                np.ascontiguousarray(settled[wr, wc]).view(np.uint8), cv2.MORPH_CLOSE, _KERNEL
            ),
            np.uint8,
        )
        closed &= m.mask[wr, wc].view(np.uint8)
        n, labels_raw, stats_raw, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
        labels: _I32 = np.asarray(labels_raw, np.int32)
        stats: _I32 = np.asarray(stats_raw, np.int32)
        areas = stats[:, cv2.CC_STAT_AREA]
        min_px = max(float(_MIN_PIXELS), self._min_area * m.n_px)
        near_w = near[wr, wc]
        touch = np.bincount(labels[near_w], minlength=n) if near_w.any() else np.zeros(n, np.int64)
        # present in this frame: at least half of its visible pixels differ now (a region
        # fully hidden by a person is taken as present)
        present = np.bincount(labels[on[wr, wc]], minlength=n) * 2 >= np.bincount(
            labels[vis[wr, wc]], minlength=n
        )

        def region(lab: int) -> _Bool:
            """Label ``lab`` as a mask of the whole zone crop."""
            full = np.zeros((hh, ww), bool)
            full[wr, wc] = labels == lab
            return full

        def bbox(lab: int) -> tuple[int, int, int, int]:
            x, y, w, h = (int(v) for v in stats[lab, :4])
            return (x + ox, y + oy, w, h)

        # follow: greedy by overlap with each change's previous region
        pairs: list[tuple[int, int, int]] = []
        for ci, change in enumerate(m.changes):
            overlap = np.bincount(labels[change.mask[wr, wc]], minlength=n)
            overlap[0] = 0
            pairs.extend((int(overlap[lab]), ci, int(lab)) for lab in np.flatnonzero(overlap))
        pairs.sort(key=lambda p: (-p[0], m.changes[p[1]].change_id))
        taken_c: set[int] = set()
        taken_l: set[int] = set()
        kept: list[tuple[_Change, int]] = []
        for _, ci, lab in pairs:
            if ci in taken_c or lab in taken_l:
                continue
            change = m.changes[ci]
            need = _KEEP_AREA * min_px if change.reported else min_px
            if areas[lab] < need:
                continue
            taken_c.add(ci)
            taken_l.add(lab)
            kept.append((change, lab))
        fresh = [lab for lab in range(1, n) if lab not in taken_l and areas[lab] >= min_px]
        if fresh and self._moved(m, g):
            self._relearn_zone(m, g, cr, cb, vis)
            return []
        for lab in fresh:
            comp = region(lab)
            box = bbox(lab)
            if self._ghost_like(m, comp, box, g) or self._lighting_like(m, comp, box, g, cr, cb):
                self._absorb(m, self._grown(m, comp), g, cr, cb, remember=False)
                continue
            first = epoch + float(np.median(m.since[comp & (m.since < np.inf)]))
            change = _Change(self._next_id, first, comp, Box(0.0, 0.0, 0.0, 0.0), 0.0)
            self._next_id += 1
            kept.append((change, lab))

        out: list[SceneChange] = []
        alive: list[_Change] = []
        covered = np.zeros_like(labels, dtype=bool)
        zx, zy = m.origin
        sx, sy = m.scale
        for change, lab in kept:
            comp = region(lab)
            if now - change.first_seen >= self._absorb_after:
                self._absorb(m, self._grown(m, comp), g, cr, cb, remember=True)
                continue
            x, y, w, h = bbox(lab)
            change.mask = comp
            change.box = Box((zx + x) / sx, (zy + y) / sy, (zx + x + w) / sx, (zy + y + h) / sy)
            change.area = float(areas[lab]) / m.n_px
            covered |= labels == lab
            alive.append(change)
            if not present[lab]:
                continue
            if not change.reported and touch[lab] == 0:
                change.reported = True
            if change.reported:
                out.append(
                    SceneChange(
                        m.name, change.change_id, change.box, change.area, change.first_seen, now
                    )
                )
        m.changes = alive
        # stray pixels changed for longer than absorb (too small to be a change)
        limit = np.float32(now - epoch - self._absorb_after)
        stale_w = settled[wr, wc] & ~covered & (m.since[wr, wc] <= limit)
        if stale_w.any():
            stale = np.zeros((hh, ww), bool)
            stale[wr, wc] = stale_w
            self._absorb(m, stale, g, cr, cb, remember=True)
        out.sort(key=lambda c: c.change_id)
        return out
