"""What the bench scripts share: the corpus, one fall scorer, the machine block, the report.

Scripts run as ``.venv/bin/python bench/NAME.py``, so this folder is on ``sys.path`` and
they import it as ``from benchkit import corpus, write_report, ...``.

* :func:`corpus`: where the evaluation corpus is;
* :class:`FallLog` and :func:`score_fall`: THE fall scorer of every bench script
  (``falls.py``, ``fallsets.py``, ``fall_model.py``, ``posture.py``);
* :func:`machine_info`: the machine block of every report (CPU model, cores, Python,
  torch / onnxruntime / ultralytics versions, git commit);
* :func:`write_report`: ``bench/results/<name>.json`` (machine block + figures), and
  :func:`table` to print the figures.

How a fall is scored
--------------------
An estimator reports a fall through a reading's ``fall_at`` (when the person went down).
A *fire* is one distinct ``fall_at``: a fall handed on from a lost track to a new one
keeps its ``fall_at``, so it is one fire, first *reported* at the first reading that
carried it. Against a clip's ground truth (the onset frame and the on-ground frame):

* a fire is *in the window* when its ``fall_at`` is no earlier than ``EARLY`` (0.5 s)
  before the onset (the labelled onset is ±3–5 frames) and it was reported no later than
  ``LATE`` (2 s) after the on-ground frame;
* the clip's fall is *detected* by the first-reported fire in the window; the delay is
  that report's time minus the on-ground time;
* every fire outside the window, and every fire on a clip without a fall, is a *false
  fall* (a late report is a miss and a false alarm: nobody can act on it as the alarm
  for that fall);
* further fires in the window of a detected fall are *repeats*: the same fall reported
  again (the estimator re-dated it), counted apart and not as false falls -- they raise
  no alarm about anything that did not happen. Before this kit, the scripts counted them
  as false falls; no published figure had one, so no figure changed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from guardian.fall.data import FallClip
from guardian.records import PostureReading

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"

#: a fall may be dated this much before the ground-truth onset (s)
EARLY = 0.5
#: ... and must be reported no later than this after the ground-truth on-ground frame (s)
LATE = 2.0


def corpus() -> Path:
    """``$GUARDIAN_CORPUS`` or ``../shared/corpus``; exits with a clear message when missing."""
    path = Path(os.environ.get("GUARDIAN_CORPUS", REPO.parent / "shared" / "corpus"))
    if not (path / "MANIFEST.md").is_file():
        sys.exit(f"corpus not found at {path}: set GUARDIAN_CORPUS")
    return path


# --------------------------------------------------------------------------- falls


@dataclass(frozen=True, slots=True)
class Fire:
    """One reported fall: its ``fall_at``, when it was first reported, on which tracks."""

    fall_at: float
    reported: float
    tracks: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the reports keep (times rounded to the ms)."""
        return {
            "fall_at": round(self.fall_at, 3),
            "reported": round(self.reported, 3),
            "tracks": list(self.tracks),
        }


@dataclass
class FallLog:
    """Collects the fires of one clip from the estimator's readings, frame by frame."""

    _fires: dict[float, tuple[float, list[int]]] = field(default_factory=dict)

    def add(self, readings: Iterable[PostureReading], now: float) -> None:
        """The readings of the frame at ``now``."""
        for r in readings:
            if r.fall_at is not None:
                _, ids = self._fires.setdefault(r.fall_at, (now, []))
                if r.track_id not in ids:
                    ids.append(r.track_id)

    def fires(self) -> tuple[Fire, ...]:
        """Every fire (times rounded to the ms), in the order they were first reported."""
        return tuple(
            Fire(round(at, 3), round(seen, 3), tuple(ids))
            for at, (seen, ids) in sorted(self._fires.items(), key=lambda kv: kv[1][0])
        )


@dataclass(frozen=True, slots=True)
class FallScore:
    """One clip scored (see the module docstring)."""

    detected: Fire | None
    false: tuple[Fire, ...]
    repeats: tuple[Fire, ...]
    #: the detecting report minus the on-ground time (s)
    delay_s: float | None
    #: the detecting fire's fall_at minus the on-ground time (s)
    fall_at_vs_ground_s: float | None


def score_fall(
    fires: Sequence[Fire],
    *,
    is_fall: bool,
    onset_s: float | None,
    on_ground_s: float | None,
    early: float = EARLY,
    late: float = LATE,
) -> FallScore:
    """Score a clip's fires against its ground truth (times in the same clock)."""
    ordered = sorted(fires, key=lambda f: f.reported)
    if not is_fall or onset_s is None or on_ground_s is None:
        return FallScore(None, tuple(ordered), (), None, None)
    inside = [
        f for f in ordered if f.fall_at >= onset_s - early and f.reported <= on_ground_s + late
    ]
    outside = tuple(f for f in ordered if f not in inside)
    if not inside:
        return FallScore(None, outside, (), None, None)
    hit = inside[0]
    return FallScore(
        detected=hit,
        false=outside,
        repeats=tuple(inside[1:]),
        delay_s=round(hit.reported - on_ground_s, 2),
        fall_at_vs_ground_s=round(hit.fall_at - on_ground_s, 2),
    )


def score_clip(log: FallLog, truth: FallClip, epoch: float) -> tuple[tuple[Fire, ...], FallScore]:
    """A clip's fires (times from ``epoch``, the clip's start) and their score against
    its ground truth (frames at the clip's own fps)."""
    fires = tuple(
        replace(f, fall_at=round(f.fall_at - epoch, 3), reported=round(f.reported - epoch, 3))
        for f in log.fires()
    )
    score = score_fall(
        fires,
        is_fall=truth.is_fall,
        onset_s=None if truth.onset is None else truth.onset / truth.fps,
        on_ground_s=None if truth.on_ground is None else truth.on_ground / truth.fps,
    )
    return fires, score


# --------------------------------------------------------------------------- reports


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}{'+dirty' if dirty else ''}"


def machine_info() -> dict[str, Any]:
    """The machine block of every report."""
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "ultralytics": _version("ultralytics"),
        "commit": _git_commit(),
    }


def describe(machine: dict[str, Any] | str) -> str:
    """One line for a machine block (old reports kept a string)."""
    if isinstance(machine, str):
        return machine
    keys = ("cpu", "cpus", "python", "torch", "onnxruntime", "ultralytics", "commit")
    return ", ".join(f"{k} {machine[k]}" for k in keys if machine.get(k) is not None)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in header]] + [["-" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    out = [line(cells[0]), "-" * len(line(cells[0]))] + [line(r) for r in cells[1:]]
    return "\n".join(out)


def write_report(
    name: str,
    figures: dict[str, Any],
    *,
    out: Path | None = None,
    show: Callable[[dict[str, Any]], None] | None = None,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write ``bench/results/<name>.json`` (or ``out``): the machine block, then ``figures``.

    ``show`` prints the report as tables (each script's own printer; it is given the
    report as written, so ``--show`` of a saved file prints the same). Returns the path.
    """
    report = {"machine": machine_info(), **{k: v for k, v in figures.items() if k != "machine"}}
    path = out if out is not None else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=default) + "\n")
    if show is not None:
        show(report)
    print(f"JSON: {path}")
    return path
