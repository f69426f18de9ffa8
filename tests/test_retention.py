"""Clip retention: by age and total size, unreviewed critical clips last; `guardian clips`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guardian.app import add_retention_job
from guardian.cli import main
from guardian.clips import clip_files, prune
from guardian.config import load_site
from guardian.config.clips import ClipsConfig, RetentionConfig, parse_size
from guardian.effects import ClipRequest, Effects
from guardian.records import Event, Severity
from guardian.scheduler import Scheduler
from guardian.store import Store, clip_row_id

T0 = 1_800_000_000.0
DAY = 86400.0


def add_clip(
    store: Store,
    root: Path,
    event_id: str,
    *,
    severity: Severity,
    age_days: float,
    reviewed: bool = False,
    acknowledged: bool = False,
    size: int = 1000,
    path: str | None = None,
) -> str:
    """An event and its written clip (a file of ``size`` bytes + a 100-byte thumbnail)."""
    when = T0 - age_days * DAY
    event = Event(event_id, "r", "r", "cam", None, 1, None, severity, when, None, "m", 0)
    effects = Effects()
    effects.record_clip(ClipRequest(event_id, "cam", when - 5, when + 10))
    store.commit([event], [], effects)
    rel = path or f"cam/2027-01-01/{event_id}.mp4"
    mp4 = root / rel
    mp4.parent.mkdir(parents=True, exist_ok=True)
    if not mp4.exists():
        mp4.write_bytes(b"\0" * size)
    thumb = f"cam/2027-01-01/{event_id}.jpg"
    (root / thumb).write_bytes(b"\0" * 100)
    store.clip_log.update(
        [clip_row_id(event_id, "cam")],
        status="written",
        path=rel,
        thumbnail_path=thumb,
        size_bytes=size,
    )
    if reviewed:
        store.event_log.mark_reviewed(event_id, by="test", now=T0)
    if acknowledged:
        store.event_log.acknowledge(event_id, by="test", now=T0)
    return rel


def status(store: Store, event_id: str) -> str:
    clip = store.clip_log.for_event(event_id)
    assert clip is not None
    return clip.status


@pytest.fixture
def world(tmp_path: Path) -> tuple[Store, Path]:
    store = Store(tmp_path / "g.db")
    root = tmp_path / "clips"
    add_clip(store, root, "crit_unrev", severity=Severity.CRITICAL, age_days=5)  # oldest
    add_clip(store, root, "warn_unrev", severity=Severity.WARNING, age_days=4)
    add_clip(store, root, "crit_acked", severity=Severity.CRITICAL, age_days=1, acknowledged=True)
    add_clip(store, root, "warn_rev", severity=Severity.WARNING, age_days=0.5, reviewed=True)
    return store, root


def test_size_limit_deletes_reviewed_non_critical_first_unreviewed_critical_last(
    world: tuple[Store, Path],
) -> None:
    store, root = world
    order = [c.path.split("/")[-1] for c in clip_files(store, root)]
    assert order == ["warn_rev.mp4", "warn_unrev.mp4", "crit_acked.mp4", "crit_unrev.mp4"]
    assert [c.size for c in clip_files(store, root)] == [1100] * 4

    result = prune(store, root, RetentionConfig(max_age=0, max_size=2500), now=T0)
    assert (result.files, result.freed, result.kept_size) == (2, 2200, 2200)
    assert [status(store, e) for e in ("warn_rev", "warn_unrev", "crit_acked", "crit_unrev")] == [
        "deleted",
        "deleted",
        "written",
        "written",
    ]
    assert not (root / "cam/2027-01-01/warn_rev.mp4").exists()
    assert not (root / "cam/2027-01-01/warn_rev.jpg").exists()
    clip = store.clip_log.for_event("warn_rev")
    assert clip is not None and clip.reason == "retention: clips over 2.5 KB"

    prune(store, root, RetentionConfig(max_age=0, max_size=1100), now=T0)
    assert status(store, "crit_acked") == "deleted" and status(store, "crit_unrev") == "written"
    # events are never deleted
    assert all(
        store.event_log.get(e) for e in ("warn_rev", "warn_unrev", "crit_acked", "crit_unrev")
    )


def test_age_limit_deletes_old_clips_and_empty_folders(world: tuple[Store, Path]) -> None:
    store, root = world
    result = prune(store, root, RetentionConfig(max_age="3d", max_size=0), now=T0)
    assert result.files == 2
    assert status(store, "crit_unrev") == status(store, "warn_unrev") == "deleted"
    assert status(store, "crit_acked") == status(store, "warn_rev") == "written"
    clip = store.clip_log.for_event("crit_unrev")
    assert clip is not None and clip.reason == "retention: older than 3 days"
    prune(store, root, RetentionConfig(max_age="1h", max_size=0), now=T0 + 10 * DAY)
    assert not (root / "cam").exists()  # emptied folders go too
    assert root.exists()


def test_a_shared_file_is_kept_while_any_of_its_events_is_unreviewed_critical(
    tmp_path: Path,
) -> None:
    store, root = Store(tmp_path / "g.db"), tmp_path / "clips"
    shared = add_clip(store, root, "first", severity=Severity.WARNING, age_days=2, reviewed=True)
    add_clip(store, root, "second", severity=Severity.CRITICAL, age_days=2, path=shared)
    add_clip(store, root, "other", severity=Severity.WARNING, age_days=0.1)
    (first, *_), *_ = [[c.path for c in clip_files(store, root)]]
    assert first == "cam/2027-01-01/other.mp4"  # the shared file ranks as critical
    prune(store, root, RetentionConfig(max_age=0, max_size=1500), now=T0)
    assert status(store, "other") == "deleted"
    assert status(store, "first") == status(store, "second") == "written"
    prune(store, root, RetentionConfig(max_age=0, max_size=100), now=T0)
    assert status(store, "first") == status(store, "second") == "deleted"
    assert not (root / shared).exists()


def test_config_sizes_durations_and_problems() -> None:
    assert parse_size("5GB") == 5_000_000_000 and parse_size("1.5 MiB") == 1_572_864
    config = ClipsConfig.model_validate(
        {"retention": {"max_age": "30d", "max_size": "5GB"}, "min_free": "500MB"}
    )
    assert (config.retention.max_age, config.min_free) == (30 * DAY, 500_000_000)
    with pytest.raises(ValueError, match="'5 gigs' is not a size"):
        ClipsConfig.model_validate({"min_free": "5 gigs"})
    with pytest.raises(ValueError, match="buffer 10s is too short for pre 20s"):
        ClipsConfig.model_validate({"pre": 20, "buffer": 10})
    with pytest.raises(ValueError, match="retention schedule"):
        RetentionConfig.model_validate({"schedule": "every hour"})


def _site(tmp_path: Path, retention: str = "") -> Path:
    (tmp_path / "cam.mp4").write_bytes(b"")
    site = tmp_path / "site.yaml"
    site.write_text(
        "site:\n  timezone: Europe/Paris\n"
        "cameras:\n  - id: cam\n    source: cam.mp4\n"
        "storage:\n  database: g.db\n  clips: clips\n"
        "clips:\n  pre: 3s\n  post: 7s\n  retention:\n"
        f"    max_age: 30d\n    schedule: '15 * * * *'\n{retention}"
    )
    return site


def test_the_site_file_schedules_retention_on_apscheduler(tmp_path: Path) -> None:
    bundle = load_site(_site(tmp_path))
    assert (bundle.site.clips.pre, bundle.site.clips.post) == (3.0, 7.0)
    scheduler = Scheduler("Europe/Paris")
    with Store(bundle.database_path) as store:
        add_retention_job(scheduler, bundle, store)
    assert "clips-retention" in scheduler.job_ids()
    runs = scheduler.next_runs(datetime(2027, 1, 15, 9, 20, tzinfo=ZoneInfo("Europe/Paris")), 2)
    assert [(when.hour, when.minute, name) for when, name in runs] == [
        (10, 15, "15 * * * *: clips retention"),
        (11, 15, "15 * * * *: clips retention"),
    ]


def test_guardian_clips_lists_and_prunes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(tmp_path, retention="    max_size: 1500\n")
    with Store(tmp_path / "g.db") as store:
        add_clip(store, tmp_path / "clips", "old", severity=Severity.WARNING, age_days=2)
        add_clip(store, tmp_path / "clips", "new", severity=Severity.CRITICAL, age_days=1)
    assert main(["clips", "--config", str(site)]) == 0
    out = capsys.readouterr().out
    assert "cam/2027-01-01/old.mp4" in out and "cam/2027-01-01/new.mp4" in out
    assert "2 clip(s), 2 written" in out

    assert main(["clips", "--config", str(site), "--prune"]) == 0
    assert "pruned 1 clip file(s)" in capsys.readouterr().out
    assert main(["clips", "--config", str(site), "--status", "deleted"]) == 0
    out = capsys.readouterr().out
    assert "old" in out and "retention: clips over 1.5 KB" in out and "new.mp4" not in out

    assert main(["clips", "--config", str(site), "--since", "not a time"]) == 2
    assert "is not a time" in capsys.readouterr().err
