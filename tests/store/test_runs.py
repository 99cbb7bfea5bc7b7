"""Contract: agent runs — start, finish, list, interrupted (SPEC S1 Run, S3.4, S4.4, S4.7)."""

from __future__ import annotations

import uuid

import pytest

from tests.store.state import snapshot
from threadkeep import Conflict, ConversationStore, InvalidInput, NotFound

FINISHED = ["completed", "failed", "cancelled", "interrupted"]


def test_start_run(any_store: ConversationStore) -> None:
    """start_run records a running run and fixes the conversation's provider and model."""
    conv = any_store.create_conversation()
    run = any_store.start_run(
        conv.id, provider="claude-code", model="sonnet", resumed_session_id="sess-0"
    )
    assert uuid.UUID(run.id).version == 7
    assert (run.conversation_id, run.provider, run.model) == (conv.id, "claude-code", "sonnet")
    assert run.status == "running"
    assert run.resumed_session_id == "sess-0"
    assert run.started_at is not None and run.finished_at is None
    assert (run.provider_session_id, run.error, run.usage) == (None, None, None)
    assert run.retried_without_resume is False
    assert any_store.get_run(run.id) == run
    after = any_store.get_conversation(conv.id)
    assert (after.provider, after.model) == ("claude-code", "sonnet")


def test_start_run_keeps_provider_and_tracks_last_model(any_store: ConversationStore) -> None:
    """Later runs on the same provider are fine; the conversation's model is the last one."""
    conv = any_store.create_conversation()
    any_store.start_run(conv.id, provider="openai", model="gpt-4o")
    any_store.start_run(conv.id, provider="openai", model="gpt-4o-mini")
    assert any_store.get_conversation(conv.id).model == "gpt-4o-mini"
    any_store.start_run(conv.id, provider="openai")  # no model: the last one stays
    assert any_store.get_conversation(conv.id).model == "gpt-4o-mini"


def test_start_run_with_another_provider_is_conflict(any_store: ConversationStore) -> None:
    """A conversation keeps its first provider: another is Conflict naming both (S4.4)."""
    conv = any_store.create_conversation()
    any_store.start_run(conv.id, provider="openai", model="gpt-4o")
    before = snapshot(any_store, conv.id)
    with pytest.raises(Conflict, match=r"'openai'.*'anthropic'"):
        any_store.start_run(conv.id, provider="anthropic", model="claude")
    assert snapshot(any_store, conv.id) == before


def test_start_run_bad_arguments(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """Bad provider/model/session ids are InvalidInput naming the field; no run is made."""
    conv = any_store.create_conversation()
    cases: list[tuple[dict[str, object], str]] = [
        ({"provider": ""}, "provider"),
        ({"provider": "p" * 65}, "provider"),
        ({"provider": None}, "provider"),
        ({"provider": "echo", "model": ""}, "model"),
        ({"provider": "echo", "resumed_session_id": ""}, "resumed_session_id"),
    ]
    for arguments, field in cases:
        with subtests.test(field=field, arguments=repr(arguments)[:40]):
            with pytest.raises(InvalidInput, match=field):
                any_store.start_run(conv.id, **arguments)  # type: ignore[arg-type]
            assert any_store.list_runs(conv.id) == []
            assert any_store.get_conversation(conv.id) == conv


def test_start_run_unknown_conversation(any_store: ConversationStore) -> None:
    """A run on a missing conversation is NotFound."""
    with pytest.raises(NotFound):
        any_store.start_run(str(uuid.uuid4()), provider="echo")


def test_finish_run(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """finish_run records the status, session id, usage and error, and moves updated_at."""
    for status in FINISHED:
        with subtests.test(status=status):
            conv = any_store.create_conversation()
            run = any_store.start_run(conv.id, provider="claude-code")
            before = any_store.get_conversation(conv.id)
            finished = any_store.finish_run(
                run.id,
                status=status,
                provider_session_id=f"sess-{status}",
                usage={"input_tokens": 10, "output_tokens": 20},
                error=None if status == "completed" else "boom",
                retried_without_resume=True,
            )
            assert finished.status == status
            assert finished.finished_at is not None and run.started_at is not None
            assert finished.finished_at >= run.started_at
            assert finished.provider_session_id == f"sess-{status}"
            assert finished.usage == {"input_tokens": 10, "output_tokens": 20}
            assert finished.error == (None if status == "completed" else "boom")
            assert finished.retried_without_resume is True
            assert any_store.get_run(run.id) == finished
            after = any_store.get_conversation(conv.id)
            assert after.provider_session_id == f"sess-{status}"
            assert after.updated_at > before.updated_at


def test_finish_run_without_session_keeps_the_previous(any_store: ConversationStore) -> None:
    """A run that reports no session id leaves the conversation's stored one in place."""
    conv = any_store.create_conversation()
    first = any_store.start_run(conv.id, provider="codex")
    any_store.finish_run(first.id, status="completed", provider_session_id="sess-A")
    second = any_store.start_run(conv.id, provider="codex", resumed_session_id="sess-A")
    any_store.finish_run(second.id, status="failed", error="network")
    assert any_store.get_conversation(conv.id).provider_session_id == "sess-A"
    third = any_store.start_run(conv.id, provider="codex")
    any_store.finish_run(third.id, status="completed", provider_session_id="sess-B")
    assert any_store.get_conversation(conv.id).provider_session_id == "sess-B"


def test_unfinished_run_leaves_streaming_messages_incomplete(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """A run that did not complete turns its streaming messages incomplete (S4.7), only its."""
    for status in ("failed", "cancelled", "interrupted"):
        with subtests.test(status=status):
            conv = any_store.create_conversation()
            run = any_store.start_run(conv.id, provider="echo")
            other_run = any_store.start_run(conv.id, provider="echo")
            question = any_store.append_message(conv.id, "user", "q", run_id=run.id)
            streaming = any_store.append_message(
                conv.id, "assistant", "partial", status="streaming", run_id=run.id
            )
            not_this_run = any_store.append_message(
                conv.id, "assistant", "other", status="streaming", run_id=other_run.id
            )
            any_store.finish_run(run.id, status=status, error="stopped")
            by_id = {m.id: m for m in any_store.get_messages(conv.id)}
            assert by_id[streaming.id].status == "incomplete"
            assert by_id[streaming.id].content == "partial"
            assert by_id[question.id].status == "complete"
            assert by_id[not_this_run.id].status == "streaming"


def test_completed_run_leaves_messages_alone(any_store: ConversationStore) -> None:
    """A completed run does not touch its messages' status."""
    conv = any_store.create_conversation()
    run = any_store.start_run(conv.id, provider="echo")
    message = any_store.append_message(
        conv.id, "assistant", "text", status="streaming", run_id=run.id
    )
    any_store.finish_run(run.id, status="completed")
    assert any_store.get_messages(conv.id) == [message]


def test_finishing_twice_is_conflict(any_store: ConversationStore) -> None:
    """A run finishes once; a second finish is Conflict naming its status, and changes nothing."""
    conv = any_store.create_conversation()
    run = any_store.start_run(conv.id, provider="echo")
    done = any_store.finish_run(run.id, status="completed", provider_session_id="s1")
    before = snapshot(any_store, conv.id)
    with pytest.raises(Conflict, match="completed"):
        any_store.finish_run(run.id, status="failed", provider_session_id="s2")
    assert any_store.get_run(run.id) == done
    assert snapshot(any_store, conv.id) == before


def test_finish_with_bad_status_is_invalid(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """Only a finished status is accepted; the error lists them; the run keeps running."""
    conv = any_store.create_conversation()
    run = any_store.start_run(conv.id, provider="echo")
    for status in ("running", "queued", "done", "COMPLETED", ""):
        with subtests.test(status=status):
            with pytest.raises(InvalidInput, match="cancelled, completed, failed, interrupted"):
                any_store.finish_run(run.id, status=status)
            assert any_store.get_run(run.id) == run


def test_finish_run_bad_arguments(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """Bad finish arguments are InvalidInput naming the field; the run stays running."""
    conv = any_store.create_conversation()
    run = any_store.start_run(conv.id, provider="echo")
    cases: list[tuple[dict[str, object], str]] = [
        ({"usage": ["not", "an", "object"]}, "usage"),
        ({"usage": {"x": float("nan")}}, "usage"),
        ({"error": 42}, "error"),
        ({"provider_session_id": ""}, "provider_session_id"),
        ({"retried_without_resume": "yes"}, "retried_without_resume"),
    ]
    for arguments, field in cases:
        with subtests.test(field=field):
            with pytest.raises(InvalidInput, match=field):
                any_store.finish_run(run.id, status="completed", **arguments)  # type: ignore[arg-type]
            assert any_store.get_run(run.id) == run


def test_unknown_run_is_not_found(any_store: ConversationStore) -> None:
    """get_run and finish_run on a missing run are NotFound; a malformed id is InvalidInput."""
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=missing):
        any_store.get_run(missing)
    with pytest.raises(NotFound, match=missing):
        any_store.finish_run(missing, status="completed")
    with pytest.raises(InvalidInput, match="run id"):
        any_store.get_run("run-1")


def test_list_runs_oldest_first(any_store: ConversationStore) -> None:
    """list_runs gives the conversation's runs, oldest first, and no other conversation's."""
    conv = any_store.create_conversation()
    other = any_store.create_conversation()
    assert any_store.list_runs(conv.id) == []
    first = any_store.start_run(conv.id, provider="echo")
    any_store.start_run(other.id, provider="echo")
    finished = any_store.finish_run(first.id, status="completed")
    second = any_store.start_run(conv.id, provider="echo")
    assert any_store.list_runs(conv.id) == [finished, second]
    with pytest.raises(NotFound):
        any_store.list_runs(str(uuid.uuid4()))


def test_mark_interrupted_runs_owner_scoped(any_store: ConversationStore) -> None:
    """Without all_owners only this owner's queued/running runs become interrupted."""
    mine = any_store.create_conversation()
    mallory = any_store.as_owner("mallory")
    theirs = mallory.create_conversation()
    running = any_store.start_run(mine.id, provider="echo")
    done = any_store.start_run(mine.id, provider="echo")
    done = any_store.finish_run(done.id, status="completed")
    other_owner_run = mallory.start_run(theirs.id, provider="echo")
    partial = any_store.append_message(
        mine.id, "assistant", "half", status="streaming", run_id=running.id
    )
    their_partial = mallory.append_message(
        theirs.id, "assistant", "half", status="streaming", run_id=other_owner_run.id
    )

    marked = any_store.mark_interrupted_runs()

    assert [r.id for r in marked] == [running.id]
    assert marked[0].status == "interrupted"
    assert marked[0].finished_at is not None
    assert marked[0].error is not None and "interrupted" in marked[0].error
    assert any_store.get_run(running.id) == marked[0]
    assert any_store.get_run(done.id) == done
    assert mallory.get_run(other_owner_run.id) == other_owner_run
    assert any_store.get_messages(mine.id)[0].status == "incomplete"
    assert mallory.get_messages(theirs.id) == [their_partial]
    assert partial.status == "streaming"
    assert any_store.mark_interrupted_runs() == []


def test_mark_interrupted_runs_all_owners(any_store: ConversationStore) -> None:
    """all_owners=True sweeps every owner's running runs (what a server does at start)."""
    mine = any_store.create_conversation()
    mallory = any_store.as_owner("mallory")
    theirs = mallory.create_conversation()
    my_run = any_store.start_run(mine.id, provider="echo")
    their_run = mallory.start_run(theirs.id, provider="echo")
    mallory.append_message(theirs.id, "assistant", "half", status="streaming", run_id=their_run.id)

    marked = any_store.mark_interrupted_runs(all_owners=True)

    assert {r.id for r in marked} == {my_run.id, their_run.id}
    assert {r.status for r in marked} == {"interrupted"}
    assert mallory.get_run(their_run.id).status == "interrupted"
    assert any_store.get_run(my_run.id).status == "interrupted"
    assert mallory.get_messages(theirs.id)[0].status == "incomplete"
    assert any_store.mark_interrupted_runs(all_owners=True) == []
