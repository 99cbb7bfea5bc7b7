"""Run turns: one run at a time per conversation, across processes (SPEC S4.5).

The runtime's :class:`~threadkeep.runtime.run_queue.RunQueue` orders sends with these
methods; they are public so that every process sharing a database — two servers on
one PostgreSQL, a server and ``threadkeep chat`` on one SQLite file — takes turns
through the one place that all of them see.

* :meth:`TurnsMixin.take_turn` puts a **ticket** at the end of the conversation's queue
  (an autoincrement row id, so tickets are ordered as they were taken). The lowest
  *live* ticket holds the turn; the others wait (:meth:`TurnsMixin.turns_ahead`).
* ``start_run(..., turn=ticket)`` records the run the ticket's send started, in the
  run's own transaction.
* A ticket is live while its **holder** renews its **lease**
  (:meth:`TurnsMixin.renew_turn`). The holder is ``host|pid|token``: a ticket whose
  lease ran out, or whose holder is a process of this host that no longer exists, is
  dead — its process was killed — and is cleared by whoever meets it, its run marked
  ``interrupted`` (SPEC S4.7). In this process a holder is live while the queue that
  claimed it (:func:`claim_holder`) is in use. Another host's process is judged by its
  lease alone, so the hosts' clocks must agree to well within the lease (NTP does).
* A cancel can come from any process (:meth:`TurnsMixin.request_run_cancel`): it sets
  the ticket's flag, which the holder reads when it renews.
* :meth:`TurnsMixin.release_turn` deletes the ticket; the next one holds the turn.

A process starting up marks runs left ``running`` as ``interrupted``
(``mark_interrupted_runs``) — except runs whose ticket is held by a live process, so a
second server starting on a shared database does not cut off the first one's runs.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from typing import Any

from threadkeep.db import conversations as conversation_rows
from threadkeep.db import messages as message_rows
from threadkeep.db import run_turns as turn_rows
from threadkeep.db import runs as run_rows
from threadkeep.db.engine import Connection
from threadkeep.errors import Conflict, InvalidInput, NotFound
from threadkeep.events import Event
from threadkeep.ids import check_uuid
from threadkeep.inputs import check_short_text
from threadkeep.models import Run
from threadkeep.store._base import _FINISHED_RUN_STATUSES, StoreBase, _now

__all__ = [
    "TurnsMixin",
    "claim_holder",
    "drop_holder",
    "holder_is_alive",
    "process_holder",
    "ticket_number",
]

_INTERRUPTED = "interrupted: the process running it stopped before it finished"


#: The holders of this process that are still in use (live run queues).
_LOCAL_HOLDERS: set[str] = set()


def process_holder(token: str) -> str:
    """The holder name of this process for a queue identified by ``token``."""
    return f"{socket.gethostname()}|{os.getpid()}|{token}"


def claim_holder(holder: str) -> None:
    """Mark ``holder`` (one of this process's) as in use: its tickets are live."""
    _LOCAL_HOLDERS.add(holder)


def drop_holder(holder: str) -> None:
    """``holder`` is no longer used (its queue is gone): its tickets are dead."""
    _LOCAL_HOLDERS.discard(holder)


def holder_is_alive(holder: str, lease_until: dt.datetime, now: dt.datetime) -> bool:
    """Whether a ticket's holder may still be running it (see the module doc)."""
    if lease_until < now:
        return False
    host, _, rest = holder.partition("|")
    pid_text = rest.partition("|")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or sys.platform == "win32":
        return True  # another host's process, or no way to ask: the lease decides
    pid = int(pid_text)
    if pid == os.getpid():  # this process: alive while the queue that took it is
        return holder in _LOCAL_HOLDERS
    try:
        os.kill(pid, 0)  # signal 0: is there such a process? (sends nothing)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    return True


def ticket_number(ticket: object) -> int:
    if isinstance(ticket, bool) or not isinstance(ticket, int) or ticket < 1:
        raise InvalidInput(f"a turn ticket is a positive integer, got {ticket!r:.40}")
    return ticket


def _lease(seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise InvalidInput(f"a lease is a positive number of seconds, got {seconds!r:.40}")
    return float(seconds)


class TurnsMixin(StoreBase):
    """The run-turn part of :class:`~threadkeep.store.ConversationStore`."""

    def take_turn(self, conversation_id: str, *, holder: str, lease_seconds: float) -> int:
        """Queue a send for ``conversation_id``'s turn; its ticket.

        ``holder``: who takes it (:func:`process_holder`); ``lease_seconds``: how long it
        stays live without :meth:`renew_turn`. Dead tickets of the conversation are
        cleared on the way (their runs ``interrupted``).
        """
        cid = check_uuid(conversation_id, what="conversation id")
        holder = str(check_short_text(holder, "holder", max_length=200))
        lease = _lease(lease_seconds)
        at = _now()
        with self._db.write() as conn:
            if not conversation_rows.exists(conn, self._owner, cid):
                raise self._not_found(cid)
            found = self._clear_dead(conn, turn_rows.ahead_of(conn, self._owner, cid, 2**62), at)
            ticket = turn_rows.insert(conn, cid, holder, at + dt.timedelta(seconds=lease), at)
        self._announce_interrupted(found)
        return ticket

    def turns_ahead(self, conversation_id: str, ticket: int) -> int:
        """How many live tickets are before ``ticket`` (0: it holds the turn).

        Dead tickets ahead are cleared (their runs ``interrupted``) and not counted.
        """
        cid = check_uuid(conversation_id, what="conversation id")
        number = ticket_number(ticket)
        now = _now()
        with self._db.read() as conn:
            if not conversation_rows.exists(conn, self._owner, cid):
                raise self._not_found(cid)
            ahead = turn_rows.ahead_of(conn, self._owner, cid, number)
        if all(holder_is_alive(t.holder, t.lease_until, now) for t in ahead):
            return len(ahead)
        with self._db.write() as conn:
            ahead = turn_rows.ahead_of(conn, self._owner, cid, number)
            found = self._clear_dead(conn, ahead, now)
            left = sum(1 for t in ahead if holder_is_alive(t.holder, t.lease_until, now))
        self._announce_interrupted(found)
        return left

    def renew_turn(self, ticket: int, *, lease_seconds: float) -> bool:
        """Extend ``ticket``'s lease; whether a cancel of its run was asked for.

        ``NotFound`` when the ticket is gone (it was released, or judged dead after its
        holder failed to renew it in time).
        """
        number = ticket_number(ticket)
        lease = _lease(lease_seconds)
        with self._db.write() as conn:
            cancel = turn_rows.renew(
                conn, self._owner, number, _now() + dt.timedelta(seconds=lease)
            )
        if cancel is None:
            raise NotFound(f"turn ticket {number} not found (released, or its lease lapsed)")
        return cancel

    def release_turn(self, ticket: int) -> None:
        """Give the turn up (or stop waiting for it): the ticket is deleted. Idempotent."""
        number = ticket_number(ticket)
        with self._db.write() as conn:
            turn_rows.delete_owned(conn, self._owner, number)

    def request_run_cancel(self, run_id: str) -> bool:
        """Ask the process running ``run_id`` to cancel it; whether one holds it.

        ``NotFound`` for another owner's or an unknown run, ``Conflict`` for a finished
        one. ``False``: the run is ``running`` but no live process holds it (it was
        started without the queue, or its process died): nobody can stop it but
        ``mark_interrupted_runs``.
        """
        rid = check_uuid(run_id, what="run id")
        with self._db.write() as conn:
            run = run_rows.get(conn, self._owner, rid)
            if run is None:
                raise NotFound(f"run {rid} not found")
            if run.status in _FINISHED_RUN_STATUSES:
                raise Conflict(f"run {rid} already finished as {run.status}")
            return turn_rows.request_cancel(conn, rid)

    # ---------------------------------------------------------------- dead holders

    def _clear_dead(
        self, conn: Connection, tickets: list[turn_rows.Ticket], now: dt.datetime
    ) -> list[tuple[str, Run]]:
        """Delete the dead among ``tickets`` and interrupt their runs (in ``conn``)."""
        dead = [t for t in tickets if not holder_is_alive(t.holder, t.lease_until, now)]
        turn_rows.delete(conn, [t.id for t in dead])
        run_ids = [t.run_id for t in dead if t.run_id is not None]
        return interrupt_runs(conn, run_rows.unfinished(conn, None, run_ids), now)

    def _announce_interrupted(self, found: list[tuple[str, Run]]) -> None:
        self._publish(interrupted_events(found))


def interrupt_runs(
    conn: Connection, found: list[tuple[str, Run]], at: dt.datetime
) -> list[tuple[str, Run]]:
    """Mark ``found`` runs ``interrupted`` and their streaming messages ``incomplete``."""
    if not found:
        return []
    values = interrupted_values(at)
    run_rows.set_many(conn, [run.id for _, run in found], values)
    for _, run in found:
        message_rows.mark_incomplete(conn, run.conversation_id, run.id, at)
    return found


def interrupted_values(at: dt.datetime) -> dict[str, Any]:
    return {"status": "interrupted", "finished_at": at, "error": _INTERRUPTED}


def interrupted_events(found: list[tuple[str, Run]]) -> list[Event]:
    return [
        Event(
            type="run.failed",
            owner=owner,
            conversation_id=run.conversation_id,
            data={"run_id": run.id, "status": "interrupted"},
        )
        for owner, run in found
    ]
