"""Guardian's schema, as named steps applied with sqlite-utils' migration sets (recorded
in ``_sqlite_migrations``); running them on an existing file applies only the new ones.

Never edit a step that has shipped: add one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlite_utils
from sqlite_utils.migrations import Migrations

from guardian.store.outbox import delivery_ref

Migration = Callable[[sqlite_utils.Database], None]


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("events").create(
        {
            "id": str,
            "rule_id": str,
            "rule_alias": str,
            "camera": str,
            "zone": str,
            "track_id": int,
            "person_id": str,
            "severity": str,
            "status": str,
            "started_at": float,
            "ended_at": float,
            "message": str,
            "frame_index": int,
            "created_at": float,
            "acknowledged_at": float,
            "acknowledged_by": str,
            "reviewed_at": float,
        },
        pk="id",
        not_null={"rule_id", "camera", "severity", "status", "started_at", "created_at"},
    )
    db.table("events").create_index(["started_at"])
    db.table("events").create_index(["rule_id", "started_at"])
    db.table("clips").create(
        {
            "id": str,
            "event_id": str,
            "camera": str,
            "path": str,
            "thumbnail_path": str,
            "snapshot_path": str,
            "start": float,
            "end": float,
            "size_bytes": int,
            "status": str,  # pending | written | skipped | deleted
            "reason": str,
            "created_at": float,
        },
        pk="id",
        foreign_keys=[("event_id", "events", "id")],
    )
    db.table("clips").create_index(["event_id"])
    db.table("mode_changes").create(
        {
            "id": int,
            "mode": str,
            "previous": str,
            "changed_at": float,
            "until": float,
            "by": str,  # who: user name, contact id, "schedule", "rule:<id>"
            "reason": str,  # why
            "source": str,  # cli | web | sms | schedule | prompt | expiry
        },
        pk="id",
    )
    db.table("alert_deliveries").create(
        {
            "id": int,
            "dedup_key": str,
            "event_id": str,
            "rule_id": str,
            "kind": str,  # alert | prompt | escalation | digest
            "severity": str,
            "channel": str,
            "contact": str,
            "message": str,
            "status": str,  # pending | sending | sent | failed
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "provider_id": str,
            "created_at": float,
            "sent_at": float,
        },
        pk="id",
        not_null={"dedup_key", "severity", "channel", "status", "created_at"},
    )
    db.table("alert_deliveries").create_index(["dedup_key"], unique=True)
    db.table("alert_deliveries").create_index(["status", "next_attempt_at"])
    db.table("rule_state").create(
        {"rule_id": str, "key": str, "value": str, "updated_at": float},
        pk=("rule_id", "key"),
    )


def _m002_prompts_escalations(db: sqlite_utils.Database) -> None:
    db.table("prompts").create(
        {
            "id": str,
            "event_id": str,
            "rule_id": str,
            "question": str,
            "contacts": str,  # JSON list of contact ids
            "channels": str,  # JSON list
            "on_yes": str,  # JSON ModeRequest, or null
            "status": str,  # pending | accepted | declined | expired
            "created_at": float,
            "expires_at": float,
            "answered_at": float,
            "answered_by": str,
        },
        pk="id",
        not_null={"question", "status", "created_at", "expires_at"},
    )
    db.table("prompts").create_index(["status", "expires_at"])
    db.table("escalations").create(
        {
            "id": int,
            "event_id": str,
            "rule_id": str,
            "severity": str,
            "contacts": str,  # JSON list, in the order they are tried
            "channels": str,  # JSON list
            "message": str,
            "after": float,  # seconds between steps
            "repeat": int,  # how many times the whole chain is tried again
            "step": int,  # steps already sent
            "due_at": float,  # when the next step is due
            "status": str,  # pending | acknowledged | exhausted
            "created_at": float,
        },
        pk="id",
        not_null={"event_id", "status", "due_at", "created_at"},
    )
    db.table("escalations").create_index(["status", "due_at"])
    db.table("mode_changes").create_index(["changed_at"])


def _m005_review(db: sqlite_utils.Database) -> None:
    """The review page: who marked an event reviewed, and failed logins (throttling)."""
    db.table("events").add_column("reviewed_by", str)
    db.table("login_failures").create(
        {"key": str, "failures": int, "last_at": float, "locked_until": float},
        pk="key",
    )


def _m004_outbox(db: sqlite_utils.Database) -> None:
    """The outbox's exactly-once columns: the short reference carried in a message
    (``[G…]``), who claimed a send and when (a crash leaves ``sending``), and why a
    delivery was held back (quiet hours)."""
    table = db.table("alert_deliveries")
    table.add_column("ref", str)
    table.add_column("sending_at", float)
    table.add_column("claimed_by", str)
    table.add_column("reason", str)
    for row in list(table.rows_where(select="id, dedup_key")):
        table.update(row["id"], {"ref": delivery_ref(row["dedup_key"])})
    table.create_index(["ref"])
    table.create_index(["contact", "created_at"])


def _m003_clips(db: sqlite_utils.Database) -> None:
    """Clips on disk: frames, duration, when the row last changed, the event's time."""
    table = db.table("clips")
    table.add_column("frames", int)
    table.add_column("duration", float)
    table.add_column("updated_at", float)
    table.create_index(["status"])
    table.create_index(["path"])


def _m006_people(db: sqlite_utils.Database) -> None:
    """Enrolled people (``guardian enroll``) and their appearance samples: embeddings and
    colour histograms as float32 blobs; the photo itself only when asked to keep it."""
    db.table("people").create(
        {
            "id": str,
            "name": str,
            "role": str,
            "responsible": int,
            "enrolled_at": float,
        },
        pk="id",
    )
    db.table("person_samples").create(
        {
            "id": int,
            "person_id": str,
            "source": str,
            "embedding": bytes,
            "torso": bytes,
            "legs": bytes,
            "proportions": bytes,
            "photo": bytes,
        },
        pk="id",
        foreign_keys=[("person_id", "people", "id")],
    )
    db.table("person_samples").create_index(["person_id"])


def _m007_camera_health(db: sqlite_utils.Database) -> None:
    """What watched when: one row per (run, camera) with a heartbeat, and the cameras'
    problems (offline, stalled, obstructed, too dark, moved) as spans."""
    db.table("watch").create(
        {
            "run_id": str,
            "camera": str,
            "started": float,
            "last_beat": float,
            "ended": float,
            "last_frame": float,
            "frames": int,
            "fps": float,
            "problems": str,
        },
        pk=("run_id", "camera"),
        not_null={"run_id", "camera", "started", "last_beat"},
    )
    db.table("watch").create_index(["last_beat"])
    db.table("camera_health").create(
        {
            "id": int,
            "camera": str,
            "problem": str,
            "started": float,
            "ended": float,
            "detail": str,
            "run_id": str,
        },
        pk="id",
        not_null={"camera", "problem", "started"},
    )
    db.table("camera_health").create_index(["camera", "started"])


def _m008_review_hardening(db: sqlite_utils.Database) -> None:
    """The review page under hostile requests: login attempts being checked (so concurrent
    guesses cannot pass the lockout), revocable sessions (logout ends them on the server),
    and the Twilio MessageSids already handled (a replayed SMS reply does nothing)."""
    db.table("login_failures").add_column("pending", int)
    db.table("login_failures").add_column("reserved_at", float)
    db.table("review_sessions").create(
        {"id": str, "user": str, "created_at": float, "expires_at": float, "revoked_at": float},
        pk="id",
        not_null={"id", "user", "created_at", "expires_at"},
    )
    db.table("review_sessions").create_index(["expires_at"])
    db.table("inbound_messages").create(
        {"sid": str, "received_at": float, "sender": str},
        pk="sid",
        not_null={"sid", "received_at"},
    )


#: Guardian's schema steps, oldest first. Never edit a step that has shipped: add one.
MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("001_initial", _m001_initial),
    ("002_prompts_escalations", _m002_prompts_escalations),
    ("003_clips", _m003_clips),
    ("004_outbox", _m004_outbox),
    ("005_review", _m005_review),
    ("006_people", _m006_people),
    ("007_camera_health", _m007_camera_health),
    ("008_review_hardening", _m008_review_hardening),
)


def migrate(
    db: sqlite_utils.Database, steps: Sequence[tuple[str, Migration]] = MIGRATIONS
) -> list[str]:
    """Apply the steps not yet applied to ``db``; return their names.

    Uses sqlite-utils' migration sets: each step and the record of it run in one
    transaction, so a step that fails leaves nothing behind and stays pending.
    """
    migrations = Migrations("guardian")
    for name, step in steps:
        migrations(name=name)(step)
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
