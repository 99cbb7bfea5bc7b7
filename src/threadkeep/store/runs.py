"""Runs: start, finish, read, and mark the ones a dead process left interrupted."""

from __future__ import annotations

import dataclasses
from typing import Any

from threadkeep.db import conversations as conversation_rows
from threadkeep.db import messages as message_rows
from threadkeep.db import run_turns as turn_rows
from threadkeep.db import runs as run_rows
from threadkeep.errors import Conflict, InvalidInput, NotFound
from threadkeep.ids import check_uuid, new_id
from threadkeep.inputs import (
    check_json,
    check_short_text,
)
from threadkeep.models import (
    Run,
)
from threadkeep.store._base import (
    _FINISHED_RUN_STATUSES,
    StoreBase,
    _check_bool,
    _now,
)
from threadkeep.store.run_turns import (
    holder_is_alive,
    interrupt_runs,
    interrupted_events,
    interrupted_values,
    ticket_number,
)

__all__ = ["RunsMixin"]


class RunsMixin(StoreBase):
    """The runs part of :class:`~threadkeep.store.ConversationStore`."""

    def start_run(
        self,
        conversation_id: str,
        *,
        provider: str,
        model: str | None = None,
        resumed_session_id: str | None = None,
        turn: int | None = None,
    ) -> Run:
        """Record the start of an agent turn (status ``running``).

        The first run fixes the conversation's provider; a run with another provider is
        a ``Conflict`` (SPEC S4.4). ``model`` becomes the conversation's last model.
        ``turn``: the ticket (``take_turn``) whose send this run is, recorded with it so
        that the run counts as held by a live process (``run_turns.py``).
        """
        cid = check_uuid(conversation_id, what="conversation id")
        ticket = None if turn is None else ticket_number(turn)
        provider = str(check_short_text(provider, "provider"))
        model = check_short_text(model, "model", max_length=200, optional=True)
        if resumed_session_id is not None:
            check_short_text(resumed_session_id, "resumed_session_id", max_length=1000)
        at = _now()
        run = Run(
            id=new_id(),
            conversation_id=cid,
            provider=provider,
            model=model,
            status="running",
            resumed_session_id=resumed_session_id,
            provider_session_id=None,
            retried_without_resume=False,
            error=None,
            usage=None,
            created_at=at,
            started_at=at,
            finished_at=None,
        )
        with self._db.write() as conn:
            conversation = conversation_rows.get(conn, self._owner, cid, for_update=True)
            if conversation is None:
                raise self._not_found(cid)
            if conversation.provider is not None and conversation.provider != provider:
                raise Conflict(
                    f"conversation {cid} runs on provider {conversation.provider!r}; it cannot "
                    f"switch to {provider!r}. Fork it or start a new conversation instead."
                )
            changes: dict[str, Any] = {"provider": provider}
            if model is not None:
                changes["model"] = model
            conversation_rows.update(conn, self._owner, cid, changes)
            run_rows.insert(conn, dataclasses.asdict(run))
            if ticket is not None and not turn_rows.attach_run(conn, self._owner, ticket, run.id):
                raise NotFound(f"turn ticket {ticket} not found (released, or its lease lapsed)")
        self._publish([self._event("run.started", cid, run_id=run.id)])
        return run

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        provider_session_id: str | None = None,
        usage: dict[str, Any] | None = None,
        error: str | None = None,
        retried_without_resume: bool = False,
    ) -> Run:
        """Record the end of a run: ``completed``, ``failed``, ``cancelled`` or ``interrupted``.

        A ``provider_session_id`` becomes the conversation's (for the next resume). A run
        that did not complete leaves its streaming messages ``incomplete``.
        """
        rid = check_uuid(run_id, what="run id")
        if status not in _FINISHED_RUN_STATUSES:
            raise InvalidInput(
                f"a run finishes as one of {', '.join(sorted(_FINISHED_RUN_STATUSES))}; "
                f"got {status!r}"
            )
        if provider_session_id is not None:
            check_short_text(provider_session_id, "provider_session_id", max_length=1000)
        if usage is not None and not isinstance(usage, dict):
            raise InvalidInput("usage must be a JSON object such as {'input_tokens': 10}")
        check_json(usage, "usage", self._settings.max_message_bytes)
        if error is not None and not isinstance(error, str):
            raise InvalidInput("error must be a string")
        at = _now()
        with self._db.write() as conn:
            run = run_rows.get(conn, self._owner, rid, for_update=True)
            if run is None:
                raise NotFound(f"run {rid} not found")
            if run.status in _FINISHED_RUN_STATUSES:
                raise Conflict(f"run {rid} already finished as {run.status}")
            changes: dict[str, Any] = {
                "status": status,
                "provider_session_id": provider_session_id,
                "usage": usage,
                "error": error,
                "retried_without_resume": _check_bool(
                    retried_without_resume, "retried_without_resume"
                ),
                "finished_at": at,
            }
            run_rows.update(conn, rid, changes)
            counters: dict[str, Any] = {"updated_at": at}
            if provider_session_id is not None:
                counters["provider_session_id"] = provider_session_id
            conversation_rows.update(conn, self._owner, run.conversation_id, counters)
            if status != "completed":
                message_rows.mark_incomplete(conn, run.conversation_id, rid, at)
        kind = "run.completed" if status == "completed" else "run.failed"
        self._publish([self._event(kind, run.conversation_id, run_id=rid, status=status)])
        return dataclasses.replace(run, **changes)

    def get_run(self, run_id: str) -> Run:
        """The run with this id, or ``NotFound``."""
        rid = check_uuid(run_id, what="run id")
        with self._db.read() as conn:
            run = run_rows.get(conn, self._owner, rid)
        if run is None:
            raise NotFound(f"run {rid} not found")
        return run

    def list_runs(self, conversation_id: str) -> list[Run]:
        """The conversation's runs, oldest first."""
        cid = check_uuid(conversation_id, what="conversation id")
        with self._db.read() as conn:
            if not conversation_rows.exists(conn, self._owner, cid):
                raise self._not_found(cid)
            return run_rows.list_for(conn, cid)

    def mark_interrupted_runs(self, *, all_owners: bool = False) -> list[Run]:
        """Mark runs left ``queued``/``running`` as ``interrupted``; return them.

        Call it when a process starts, before it runs anything: a run still
        ``running`` then was left by a process that died — unless a live process holds
        its turn (``run_turns.py``: another server on the same database). Their
        streaming messages become ``incomplete``. ``all_owners=True`` sweeps every
        owner's runs (what a server does at start); otherwise only this store's owner's.
        """
        at = _now()
        with self._db.write() as conn:
            candidates = run_rows.unfinished(conn, None if all_owners else self._owner)
            held = turn_rows.held_runs(conn)
            alive = {t.run_id for t in held if holder_is_alive(t.holder, t.lease_until, at)}
            turn_rows.delete(
                conn, [t.id for t in held if not holder_is_alive(t.holder, t.lease_until, at)]
            )
            found = interrupt_runs(
                conn, [(owner, run) for owner, run in candidates if run.id not in alive], at
            )
        self._publish(interrupted_events(found))
        values = interrupted_values(at)
        return [dataclasses.replace(run, **values) for _, run in found]
