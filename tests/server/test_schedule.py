"""The daily cleanup inside the server (SPEC S7.2) and the storage warning (S7.3).

The schedule reads time from a clock the test moves itself, so "the hour has come"
takes no waiting; the cleanup it runs is the real store's, on a real database.

Guards against: cleanup running when it is not configured (silent deletion), running
for one owner only, titles in the log, a failed run stopping the schedule, a restart
running cleanup again, a shutdown that hangs on the sleeping schedule or closes the
store under a run in progress, and the warning never reaching the server log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.server.test_metrics import scrape, value
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.errors import StoreUnavailable
from threadkeep.models import CleanupReport
from threadkeep.server.app import create_app
from threadkeep.server.schedule import CleanupSchedule, next_run_after

UTC = dt.UTC
DEADLINE = 30.0
CLEANUP = {"cleanup_hour_utc": 3, "cleanup_inactive_days": 1}


class FakeClock:
    """Time that moves only when the test says so; ``sleep_until`` returns once it has."""

    def __init__(self, now: dt.datetime) -> None:
        self._now = now
        self.sleeping_until: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self._now

    def advance_to(self, moment: dt.datetime) -> None:
        self._now = moment

    async def sleep_until(self, when: dt.datetime) -> None:
        self.sleeping_until = when
        try:
            # Time is moved from other threads too (the app test), so it is polled.
            while self._now < when:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
        finally:
            self.sleeping_until = None


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait (with a deadline, not a timing assertion) until ``condition()`` holds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


def two_thirty(days_ahead: int = 10) -> dt.datetime:
    """02:30 UTC some days from now: conversations made now are inactive by then."""
    day = dt.datetime.now(UTC) + dt.timedelta(days=days_ahead)
    return day.replace(hour=2, minute=30, second=0, microsecond=0)


@pytest.fixture
def open_settings(db_url: str) -> Iterator[Callable[..., tuple[ConversationStore, Settings]]]:
    stores: list[ConversationStore] = []

    def make(**values: Any) -> tuple[ConversationStore, Settings]:
        settings = Settings.load(database_url=db_url, **values)
        store = open_store(settings=settings)
        stores.append(store)
        return store, settings

    yield make
    for store in stores:
        store.close()


def test_next_run_after() -> None:
    at = dt.datetime(2025, 5, 1, 2, 59, 59, tzinfo=UTC)
    assert next_run_after(at, 3) == dt.datetime(2025, 5, 1, 3, tzinfo=UTC)
    assert next_run_after(at.replace(hour=3, minute=0, second=0), 3) == dt.datetime(
        2025, 5, 2, 3, tzinfo=UTC
    )
    assert next_run_after(at.replace(hour=23), 0) == dt.datetime(2025, 5, 2, 0, tzinfo=UTC)
    paris = dt.timezone(dt.timedelta(hours=2))  # 04:30 there is 02:30 UTC
    assert next_run_after(dt.datetime(2025, 5, 1, 4, 30, tzinfo=paris), 3) == dt.datetime(
        2025, 5, 1, 3, tzinfo=UTC
    )


def test_the_hour_comes_and_every_owner_is_cleaned_up(
    open_settings: Callable[..., tuple[ConversationStore, Settings]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The run happens at the hour, not before; it covers every owner; it is logged
    with counts only; the next one is the next day's."""
    store, settings = open_settings(**CLEANUP)
    planted_title = "planted title zebra-7731"
    made = {
        owner: store.as_owner(owner).create_conversation(title=planted_title)
        for owner in ("alice", "bob")
    }
    pinned = store.as_owner("alice").create_conversation(title="keep me", pinned=True)
    start = two_thirty()
    clock = FakeClock(start)
    reports: list[CleanupReport | None] = []
    schedule = CleanupSchedule(store, settings, clock=clock, on_run=reports.append)
    caplog.set_level(logging.INFO, logger="threadkeep")

    async def scenario() -> None:
        schedule.start()
        assert schedule.running
        await eventually(lambda: clock.sleeping_until is not None, "the schedule to sleep")
        assert clock.sleeping_until == start.replace(hour=3, minute=0)
        assert reports == []
        clock.advance_to(start.replace(hour=3, minute=0))
        await eventually(lambda: len(reports) == 1, "the cleanup run")
        await eventually(lambda: clock.sleeping_until is not None, "the next sleep")
        assert clock.sleeping_until == start.replace(hour=3, minute=0) + dt.timedelta(days=1)
        await asyncio.wait_for(schedule.stop(), DEADLINE)
        assert not schedule.running

    asyncio.run(scenario())
    report = reports[0]
    assert report is not None
    assert sorted(item.owner for item in report.trashed) == ["alice", "bob"]
    for owner, conversation in made.items():
        assert store.as_owner(owner).get_conversation(conversation.id).status == "trash"
    assert store.as_owner("alice").get_conversation(pinned.id).status == "active"
    assert "daily at 03:00 UTC" in caplog.text
    assert "2 conversation(s) moved to the trash, 0 purged" in caplog.text
    assert "zebra-7731" not in caplog.text


def test_off_unless_an_hour_and_a_rule_are_set(
    open_settings: Callable[..., tuple[ConversationStore, Settings]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def started(**values: Any) -> bool:
        store, settings = open_settings(**values)
        schedule = CleanupSchedule(store, settings, clock=FakeClock(two_thirty()))
        schedule.start()
        running = schedule.running
        await schedule.stop()
        return running

    assert not asyncio.run(started())
    assert not asyncio.run(started(cleanup_inactive_days=1))
    assert not asyncio.run(started(cleanup_hour_utc=3))
    assert "no cleanup rule is" in caplog.text
    assert asyncio.run(started(cleanup_hour_utc=3, cleanup_purge_after_days=0))


def test_a_failed_run_is_logged_and_the_schedule_goes_on(
    open_settings: Callable[..., tuple[ConversationStore, Settings]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, settings = open_settings(**CLEANUP)
    conversation = store.create_conversation()
    failures = iter([StoreUnavailable("database x: another writer held the lock")])
    real_apply = store.apply_cleanup

    def flaky(**kwargs: Any) -> CleanupReport:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_apply(**kwargs)

    monkeypatch.setattr(store, "apply_cleanup", flaky)
    start = two_thirty()
    clock = FakeClock(start)
    reports: list[CleanupReport | None] = []
    schedule = CleanupSchedule(store, settings, clock=clock, on_run=reports.append)

    async def scenario() -> None:
        schedule.start()
        await eventually(lambda: clock.sleeping_until is not None, "the schedule to sleep")
        clock.advance_to(start.replace(hour=3, minute=0))
        await eventually(lambda: len(reports) == 1, "the failed run")
        await eventually(lambda: clock.sleeping_until is not None, "the next sleep")
        clock.advance_to(start.replace(hour=3, minute=0) + dt.timedelta(days=1))
        await eventually(lambda: len(reports) == 2, "the next day's run")
        await asyncio.wait_for(schedule.stop(), DEADLINE)

    asyncio.run(scenario())
    assert reports[0] is None
    assert reports[1] is not None and len(reports[1].trashed) == 1
    assert store.get_conversation(conversation.id).status == "trash"
    assert "scheduled cleanup" in caplog.text and "failed" in caplog.text
    assert "another writer held the lock" in caplog.text


def test_storage_warning_at_start_and_after_each_tick(
    open_settings: Callable[..., tuple[ConversationStore, Settings]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With no cleanup configured the daily tick still comes, for the warning."""
    store, settings = open_settings(storage_warning_bytes=1)
    start = two_thirty()
    clock = FakeClock(start)
    schedule = CleanupSchedule(store, settings, clock=clock)

    def warnings() -> int:
        return sum("storage_warning_bytes" in record.getMessage() for record in caplog.records)

    async def scenario() -> None:
        schedule.start()
        await eventually(lambda: warnings() == 1, "the warning at start")
        await eventually(lambda: clock.sleeping_until is not None, "the schedule to sleep")
        assert clock.sleeping_until == (start + dt.timedelta(days=1)).replace(hour=0, minute=0)
        clock.advance_to(start + dt.timedelta(days=1))
        await eventually(lambda: warnings() == 2, "the warning after the tick")
        await asyncio.wait_for(schedule.stop(), DEADLINE)

    asyncio.run(scenario())
    record = next(r for r in caplog.records if "storage_warning_bytes" in r.getMessage())
    assert record.levelno == logging.WARNING
    assert record.name == "threadkeep.server.schedule"


def test_stop_waits_for_the_run_in_progress(
    open_settings: Callable[..., tuple[ConversationStore, Settings]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shutdown during a run lets it finish (the store is closed after), and a
    shutdown while sleeping returns at once (tested by every other test)."""
    store, settings = open_settings(**CLEANUP)
    store.create_conversation()
    entered, release = threading.Event(), threading.Event()
    real_apply = store.apply_cleanup
    finished: list[CleanupReport] = []

    def slow(**kwargs: Any) -> CleanupReport:
        entered.set()
        release.wait(DEADLINE)
        report = real_apply(**kwargs)
        finished.append(report)
        return report

    monkeypatch.setattr(store, "apply_cleanup", slow)
    start = two_thirty()
    clock = FakeClock(start)
    schedule = CleanupSchedule(store, settings, clock=clock)

    async def scenario() -> None:
        schedule.start()
        await eventually(lambda: clock.sleeping_until is not None, "the schedule to sleep")
        clock.advance_to(start.replace(hour=3, minute=0))
        await eventually(entered.is_set, "the run to start")
        stopping = asyncio.ensure_future(schedule.stop())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not stopping.done()  # cannot be: the run is blocked until released
        release.set()
        await asyncio.wait_for(stopping, DEADLINE)

    asyncio.run(scenario())
    assert len(finished) == 1 and len(finished[0].trashed) == 1


@pytest.fixture
def app_client(db_url: str) -> Iterator[tuple[TestClient, FakeClock]]:
    """An app whose schedule reads the fake clock; started (lifespan) by the test."""
    app = create_app(Settings.load(database_url=db_url, **CLEANUP))
    state = app.state.threadkeep
    clock = FakeClock(two_thirty())
    state.schedule = CleanupSchedule(
        state.store, state.settings, clock=clock, on_run=state.metrics.record_cleanup
    )
    with TestClient(app) as client:
        yield client, clock


def test_the_app_runs_the_schedule_and_counts_it(
    app_client: tuple[TestClient, FakeClock],
) -> None:
    client, clock = app_client
    for _ in range(3):
        assert client.post("/api/v1/conversations", json={}).status_code == 201
    before = scrape(client)
    assert value(before, "threadkeep_cleanup_runs_total", outcome="ok") == 0
    assert value(before, "threadkeep_conversations", status="active") == 3

    deadline = time.monotonic() + DEADLINE
    while clock.sleeping_until is None:
        assert time.monotonic() < deadline, "the schedule never went to sleep"
        time.sleep(0.01)
    due = clock.now().replace(hour=3, minute=0)
    assert clock.sleeping_until == due
    clock.advance_to(due)
    while value(scrape(client), "threadkeep_cleanup_runs_total", outcome="ok") < 1:
        assert time.monotonic() < deadline, "the scheduled run never came"
        time.sleep(0.01)
    after = scrape(client)
    assert value(after, "threadkeep_cleanup_conversations_total", action="trashed") == 3
    assert value(after, "threadkeep_cleanup_conversations_total", action="purged") == 0
    assert value(after, "threadkeep_cleanup_runs_total", outcome="error") == 0
    assert value(after, "threadkeep_cleanup_last_run_timestamp_seconds") == due.timestamp()
    assert value(after, "threadkeep_conversations", status="trash") == 3
    listed = client.get("/api/v1/conversations", params={"status": "trash"})
    assert len(listed.json()["items"]) == 3
