"""The daily cleanup inside the server (SPEC S7.2) and the storage warning in its log (S7.3).

**When it runs.** Cleanup is off unless ``cleanup_hour_utc`` is set *and* at least
one ``cleanup_*`` rule is (silent deletion is what users of peer tools complain about
most). Then, once a day at ``HH:00`` UTC, the server runs the store's cleanup for every
owner — ``apply_cleanup(all_owners=True)``: a fresh plan, applied in batches, each
item re-checked under the lock (``store/retention.py``) — in a worker thread, so the
event loop keeps serving. Each run is logged (counts only: never a title) and reported
to ``on_run`` (the metrics). A run that fails is logged with its error and retried
the next day; it never stops the schedule. The first run is the next ``HH:00`` after
the server starts: a restart does not run cleanup again.

**Storage warning.** With ``storage_warning_bytes`` set, the server logs the store's
warning at start and after each daily tick when the database is past it. Without a
cleanup to run, the tick still comes daily (at ``cleanup_hour_utc``, else midnight UTC)
so a long-running server keeps saying so.

**Several processes** (``--workers``, or several servers on one PostgreSQL) each run
the schedule: the second run of the day plans after the first committed and finds
nothing to do, or leaves alone what the first took (``skipped``). Nothing is done
twice.

**The clock** is injectable (:class:`Clock`): ``now()`` and ``sleep_until(when)``.
:class:`SystemClock` sleeps at most a minute at a time and reads the wall clock again,
so a suspended machine or a clock change cannot make it miss the hour by much; a test
gives a clock whose time it moves itself. :meth:`CleanupSchedule.stop` ends a sleeping
schedule at once; a run in progress finishes first (its batches are short), so the
store is never closed under it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Protocol

from threadkeep.errors import ThreadkeepError
from threadkeep.models import CleanupReport
from threadkeep.settings import Settings
from threadkeep.store import ConversationStore

__all__ = ["CleanupListener", "CleanupSchedule", "Clock", "SystemClock", "next_run_after"]

log = logging.getLogger(__name__)

#: Told of each scheduled run: its report, or ``None`` when it failed.
CleanupListener = Callable[[CleanupReport | None], None]


class Clock(Protocol):
    """What the schedule reads the time from and sleeps with."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep_until(self, when: dt.datetime) -> None:
        """Return once ``now() >= when`` (cancellable)."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    #: Longest single sleep: the wall clock is read again after it.
    max_sleep_seconds = 60.0

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep_until(self, when: dt.datetime) -> None:
        # Chunks of the wall clock, re-read after each: nothing else sets a flag here.
        while (delay := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(delay, self.max_sleep_seconds))


def next_run_after(moment: dt.datetime, hour: int) -> dt.datetime:
    """The first ``hour``:00 UTC strictly after ``moment``."""
    at = moment.astimezone(dt.UTC)
    today = at.replace(hour=hour, minute=0, second=0, microsecond=0)
    return today if today > at else today + dt.timedelta(days=1)


class CleanupSchedule:
    """The daily cleanup and storage check of one server (see the module docstring)."""

    def __init__(
        self,
        store: ConversationStore,
        settings: Settings,
        *,
        on_run: CleanupListener | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._on_run = on_run
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def enabled(self) -> bool:
        """Whether cleanup runs: an hour is set and at least one rule is."""
        settings = self._settings
        rules = (
            settings.cleanup_inactive_days,
            settings.cleanup_max_per_owner,
            settings.cleanup_purge_after_days,
        )
        return settings.cleanup_hour_utc is not None and any(rule is not None for rule in rules)

    @property
    def hour(self) -> int:
        """The UTC hour of the daily tick."""
        hour = self._settings.cleanup_hour_utc
        return 0 if hour is None else hour

    @property
    def running(self) -> bool:
        """Whether the schedule's task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the schedule in the running event loop (nothing to do: no task)."""
        if self._task is not None:
            return
        watch = self._settings.storage_warning_bytes is not None
        if self._settings.cleanup_hour_utc is not None and not self.enabled:
            log.warning(
                "cleanup_hour_utc is set but no cleanup rule is (cleanup_inactive_days, "
                "cleanup_max_per_owner, cleanup_purge_after_days): nothing will be cleaned up"
            )
        if not self.enabled and not watch:
            return
        if self.enabled:
            log.info("cleanup runs daily at %02d:00 UTC for every owner", self.hour)
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name="threadkeep-cleanup-schedule"
        )

    async def stop(self) -> None:
        """Stop the schedule: at once when it sleeps, after the run in progress if not."""
        task, self._task = self._task, None
        if task is None:
            return
        assert self._stopping is not None  # noqa: S101 - set with the task
        self._stopping.set()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the cleanup schedule had stopped on an error")

    # ------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        await self._warn_if_large()
        due = next_run_after(self._clock.now(), self.hour)
        while await self._sleep_until(due):
            if self.enabled:
                await self._run(due)
            await self._warn_if_large()
            due = next_run_after(max(self._clock.now(), due), self.hour)

    async def _sleep_until(self, when: dt.datetime) -> bool:
        """Sleep until ``when``; ``False`` when told to stop first."""
        assert self._stopping is not None  # noqa: S101 - set before the loop starts
        if self._stopping.is_set():
            return False
        sleeper = asyncio.ensure_future(self._clock.sleep_until(when))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeper, stopper):
                waiter.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)
        return not self._stopping.is_set()

    async def _run(self, due: dt.datetime) -> None:
        """One cleanup run: logged, reported, never raising (the schedule goes on)."""
        report: CleanupReport | None = None
        try:
            report = await asyncio.to_thread(
                self._store.apply_cleanup, now=self._clock.now(), all_owners=True
            )
        except ThreadkeepError as error:
            log.error("scheduled cleanup (due %s) failed: %s", due.isoformat(), error)
        except Exception:
            log.exception("scheduled cleanup (due %s) failed unexpectedly", due.isoformat())
        else:
            log.info(
                "scheduled cleanup (due %s): %d conversation(s) moved to the trash, %d purged, "
                "%d left alone (changed since the plan), %d audit entries expired",
                due.isoformat(),
                len(report.trashed),
                len(report.purged),
                len(report.skipped),
                report.audit_expired,
            )
        if self._on_run is not None:
            try:
                self._on_run(report)
            except Exception:
                log.exception("reporting the cleanup run failed")

    async def _warn_if_large(self) -> None:
        if self._settings.storage_warning_bytes is None:
            return
        try:
            warning = await asyncio.to_thread(self._store.storage_warning)
        except Exception as error:
            log.warning("could not read the database size (%s)", type(error).__name__)
            return
        if warning is not None:
            log.warning("storage: %s", warning)
