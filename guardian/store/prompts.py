"""Questions to contacts and alert chains (tables ``prompts`` and ``escalations``):
what was asked or escalated, and what became of it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from guardian.effects import EscalationRequest, ModeRequest, PromptRequest
from guardian.store.database import Database
from guardian.store.modes import ModeLog, ModeState
from guardian.vocab import EscalationStatus, PromptStatus, Severity


@dataclass(frozen=True, slots=True)
class Prompt:
    """A yes/no question sent to contacts, and what became of it."""

    prompt_id: str
    event_id: str | None
    rule_id: str | None
    question: str
    contacts: tuple[str, ...]
    channels: tuple[str, ...]
    on_yes: ModeRequest | None
    status: PromptStatus
    created_at: float
    expires_at: float
    answered_at: float | None
    answered_by: str | None


@dataclass(frozen=True, slots=True)
class Escalation:
    """An alert chain waiting for an acknowledgement."""

    escalation_id: int
    event_id: str
    rule_id: str | None
    severity: Severity
    contacts: tuple[str, ...]
    channels: tuple[str, ...]
    message: str
    after: float
    repeat: int
    step: int
    due_at: float
    status: EscalationStatus


class PromptError(ValueError):
    """A prompt cannot be answered (unknown, already answered, or expired)."""


def _mode_json(request: ModeRequest | None) -> str | None:
    if request is None:
        return None
    return json.dumps(
        {
            "mode": str(request.mode),
            "until": request.until,
            "by": request.by,
            "reason": request.reason,
            "source": request.source,
            "duration": request.duration,
        }
    )


def prompt_from_row(r: dict[str, Any]) -> Prompt:
    on_yes = json.loads(r["on_yes"]) if r["on_yes"] else None
    return Prompt(
        prompt_id=r["id"],
        event_id=r["event_id"],
        rule_id=r["rule_id"],
        question=r["question"],
        contacts=tuple(json.loads(r["contacts"] or "[]")),
        channels=tuple(json.loads(r["channels"] or "[]")),
        on_yes=ModeRequest(**on_yes) if on_yes else None,
        status=PromptStatus(r["status"]),
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        answered_at=r["answered_at"],
        answered_by=r["answered_by"],
    )


def escalation_from_row(r: dict[str, Any]) -> Escalation:
    return Escalation(
        escalation_id=int(r["id"]),
        event_id=r["event_id"],
        rule_id=r["rule_id"],
        severity=Severity(r["severity"] or Severity.CRITICAL),
        contacts=tuple(json.loads(r["contacts"] or "[]")),
        channels=tuple(json.loads(r["channels"] or "[]")),
        message=r["message"] or "",
        after=float(r["after"] or 0.0),
        repeat=int(r["repeat"] or 0),
        step=int(r["step"] or 0),
        due_at=float(r["due_at"]),
        status=EscalationStatus(r["status"]),
    )


class PromptLog:
    """Prompts (a YES switches the mode, through ``modes``) and escalation chains."""

    def __init__(self, database: Database, modes: ModeLog) -> None:
        self._db = database
        self._modes = modes

    # -- prompts ------------------------------------------------------------------
    def add(self, request: PromptRequest, now: float) -> None:
        """Record a question as pending (the same prompt id twice is one prompt)."""
        with self._db.transaction():
            self._db.sqlite.table("prompts").insert(
                {
                    "id": request.prompt_id,
                    "event_id": request.event_id,
                    "rule_id": request.rule_id,
                    "question": request.question,
                    "contacts": json.dumps(list(request.contacts)),
                    "channels": json.dumps(list(request.channels)),
                    "on_yes": _mode_json(request.on_yes),
                    "status": PromptStatus.PENDING.value,
                    "created_at": now,
                    "expires_at": request.expires_at,
                },
                ignore=True,
            )

    def find(self, status: str | None = None) -> list[Prompt]:
        """Prompts (with ``status``, if given), oldest first."""
        rows = self._db.select("prompts", [("status = ?", status or None)], "created_at")
        return [prompt_from_row(r) for r in rows]

    def get(self, prompt_id: str) -> Prompt | None:
        row = self._db.row("prompts", prompt_id)
        return prompt_from_row(row) if row else None

    def answer(
        self, prompt_id: str, *, yes: bool, by: str, source: str, now: float | None = None
    ) -> tuple[Prompt, ModeState | None]:
        """Answer a pending prompt; a YES switches the mode in the same transaction."""
        now = time.time() if now is None else now
        with self._db.transaction():
            table = self._db.sqlite.table("prompts")
            rows = list(table.rows_where("id = ?", [prompt_id]))
            if not rows:
                raise PromptError(f"no prompt '{prompt_id}' — 'guardian prompts' lists them")
            prompt = prompt_from_row(rows[0])
            if prompt.status != PromptStatus.PENDING:
                raise PromptError(f"prompt '{prompt_id}' was already {prompt.status}")
            if now >= prompt.expires_at:
                table.update(prompt_id, {"status": PromptStatus.EXPIRED.value})
                raise PromptError(f"prompt '{prompt_id}' has expired")
            status = PromptStatus.ACCEPTED if yes else PromptStatus.DECLINED
            table.update(prompt_id, {"status": status.value, "answered_at": now, "answered_by": by})
            mode = None
            if yes and prompt.on_yes is not None:
                switch = prompt.on_yes
                until = switch.until
                if until is None and switch.duration is not None:
                    until = now + switch.duration
                request = ModeRequest(
                    switch.mode,
                    until,
                    by=by,
                    reason=f"answered yes to: {prompt.question}",
                    source=source,
                )
                mode = self._modes.add(request, now)
            rows = list(table.rows_where("id = ?", [prompt_id]))
        return prompt_from_row(rows[0]), mode

    def expire(self, now: float) -> int:
        """Pending prompts whose time is up become expired; returns how many."""
        with self._db.transaction():
            cursor = self._db.sqlite.execute(
                "update prompts set status = 'expired' where status = 'pending' and expires_at <= ?",
                [now],
            )
            return int(cursor.rowcount)

    # -- escalations ----------------------------------------------------------------
    def add_escalation(self, request: EscalationRequest, now: float) -> None:
        """Start a chain: its first step is due ``request.after`` seconds from its start
        (a chain with no contacts is not recorded)."""
        if not request.contacts:
            return
        with self._db.transaction():
            self._db.sqlite.table("escalations").insert(
                {
                    "event_id": request.event_id,
                    "rule_id": request.rule_id,
                    "severity": str(request.severity),
                    "contacts": json.dumps(list(request.contacts)),
                    "channels": json.dumps(list(request.channels)),
                    "message": request.message,
                    "after": request.after,
                    "repeat": request.repeat,
                    "step": 0,
                    "due_at": request.start + request.after,
                    "status": EscalationStatus.PENDING.value,
                    "created_at": now,
                }
            )

    def escalations(
        self, status: str | None = None, *, due_by: float | None = None
    ) -> list[Escalation]:
        """Chains (with ``status``, due by ``due_by``, if given), the first due first."""
        rows = self._db.select(
            "escalations", [("status = ?", status), ("due_at <= ?", due_by)], "due_at, id"
        )
        return [escalation_from_row(r) for r in rows]

    def update_escalation(
        self,
        escalation_id: int,
        *,
        status: EscalationStatus | None = None,
        step: int | None = None,
        due_at: float | None = None,
    ) -> None:
        """Record a chain's progress: its status, the steps sent, when the next is due."""
        fields = {"status": status, "step": step, "due_at": due_at}
        given = {k: (str(v) if k == "status" else v) for k, v in fields.items() if v is not None}
        if given:
            with self._db.transaction():
                self._db.sqlite.table("escalations").update(escalation_id, given)

    def stop_escalations(self, event_id: str) -> None:
        """An acknowledged event: its pending chains stop."""
        with self._db.transaction():
            self._db.sqlite.execute(
                "update escalations set status = 'acknowledged' "
                "where event_id = ? and status = 'pending'",
                [event_id],
            )
