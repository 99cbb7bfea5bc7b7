"""Run turns in the store: the cross-process queue behind SPEC S4.5.

Guards against a queue that lets two sends run at once (a ticket counted wrong), that a
dead holder blocks for ever (its lease lapsed, or its process is gone), that cuts off a
live process's run when another process starts, and against a cancel or a ticket
that crosses owners.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from threadkeep import Conflict, ConversationStore, InvalidInput, NotFound
from threadkeep.store.run_turns import claim_holder, holder_is_alive, process_holder

ME = process_holder("test")
claim_holder(ME)  # a live queue of this process, as a RunQueue claims its own


def dead_holder() -> str:
    """The holder name of a process of this host that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return ME.replace(f"|{os.getpid()}|", f"|{child.stdout.strip()}|")


def test_tickets_are_served_in_order_and_released_ones_no_longer_count(
    store: ConversationStore,
) -> None:
    conv = store.create_conversation()
    first = store.take_turn(conv.id, holder=ME, lease_seconds=30)
    second = store.take_turn(conv.id, holder=ME, lease_seconds=30)
    third = store.take_turn(conv.id, holder=ME, lease_seconds=30)
    assert first < second < third
    assert [store.turns_ahead(conv.id, t) for t in (first, second, third)] == [0, 1, 2]
    store.release_turn(first)
    store.release_turn(first)  # idempotent
    assert [store.turns_ahead(conv.id, t) for t in (second, third)] == [0, 1]
    with pytest.raises(NotFound):
        store.renew_turn(first, lease_seconds=30)
    assert store.renew_turn(second, lease_seconds=30) is False
    other = store.create_conversation()
    assert store.turns_ahead(other.id, store.take_turn(other.id, holder=ME, lease_seconds=30)) == 0


def test_a_dead_holder_is_skipped_and_its_run_interrupted(store: ConversationStore) -> None:
    conv = store.create_conversation()
    dead = store.take_turn(conv.id, holder=dead_holder(), lease_seconds=30)
    run = store.start_run(conv.id, provider="echo", turn=dead)
    store.append_message(conv.id, "assistant", "half a reply", status="streaming", run_id=run.id)
    lapsed = store.take_turn(conv.id, holder="elsewhere|1|x", lease_seconds=0.001)
    mine = store.take_turn(conv.id, holder=ME, lease_seconds=30)
    assert store.turns_ahead(conv.id, mine) == 0
    assert store.get_run(run.id).status == "interrupted"
    assert store.get_messages(conv.id)[-1].status == "incomplete"
    with pytest.raises(NotFound):
        store.renew_turn(dead, lease_seconds=30)
    with pytest.raises(NotFound):
        store.renew_turn(lapsed, lease_seconds=30)


def test_starting_up_spares_runs_held_by_live_processes(store: ConversationStore) -> None:
    conv = store.create_conversation()
    mine = store.take_turn(conv.id, holder=ME, lease_seconds=30)
    held = store.start_run(conv.id, provider="echo", turn=mine)
    other = store.create_conversation()
    orphan = store.start_run(other.id, provider="echo")  # no ticket: nobody runs it
    gone = store.create_conversation()
    left = store.start_run(
        gone.id,
        provider="echo",
        turn=store.take_turn(gone.id, holder=dead_holder(), lease_seconds=30),
    )
    interrupted = store.mark_interrupted_runs()
    assert sorted(r.id for r in interrupted) == sorted([orphan.id, left.id])
    assert store.get_run(held.id).status == "running"


def test_a_run_cannot_start_on_a_released_ticket(store: ConversationStore) -> None:
    """A send whose ticket was judged dead must not start a run that looks held."""
    conv = store.create_conversation()
    ticket = store.take_turn(conv.id, holder=ME, lease_seconds=30)
    store.release_turn(ticket)
    with pytest.raises(NotFound, match="turn ticket"):
        store.start_run(conv.id, provider="echo", turn=ticket)
    assert store.list_runs(conv.id) == []


def test_a_cancel_is_flagged_on_the_holders_ticket(store: ConversationStore) -> None:
    conv = store.create_conversation()
    loose = store.start_run(conv.id, provider="echo")
    assert store.request_run_cancel(loose.id) is False  # nobody holds it
    ticket = store.take_turn(conv.id, holder=ME, lease_seconds=30)
    run = store.start_run(conv.id, provider="echo", turn=ticket)
    assert store.request_run_cancel(run.id) is True
    assert store.renew_turn(ticket, lease_seconds=30) is True
    store.finish_run(run.id, status="cancelled")
    with pytest.raises(Conflict):
        store.request_run_cancel(run.id)
    # Another owner can neither use this owner's ticket nor see the run.
    mallory = store.as_owner("mallory")
    with pytest.raises(NotFound):
        mallory.renew_turn(ticket, lease_seconds=30)
    mallory.release_turn(ticket)
    assert store.renew_turn(ticket, lease_seconds=30) is True


@pytest.mark.parametrize(
    ("ticket", "lease"), [(0, 30), (True, 30), ("1", 30), (1, 0), (1, -1), (1, "30")]
)
def test_bad_tickets_and_leases_are_invalid_input(
    store: ConversationStore, ticket: object, lease: object
) -> None:
    with pytest.raises(InvalidInput):
        store.renew_turn(ticket, lease_seconds=lease)  # type: ignore[arg-type]


def test_liveness_of_holders() -> None:
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(seconds=30)
    assert holder_is_alive(ME, later, now)
    assert not holder_is_alive(ME, now - dt.timedelta(seconds=1), now)
    assert not holder_is_alive(dead_holder(), later, now)
    assert holder_is_alive("another-host|1|x", later, now)  # judged by its lease alone
    assert not holder_is_alive(process_holder("a queue no longer in use"), later, now)
