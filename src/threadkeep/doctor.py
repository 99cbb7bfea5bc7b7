"""``threadkeep doctor``: is this database healthy, and can it be made so? (SPEC S2.7)

:func:`run_doctor` runs a fixed list of checks through the store's maintenance methods
and returns a :class:`DoctorReport`; the CLI renders it (a table or ``--json``) and exits
1 when any check has status ``error``. The checks, in order:

``engine``
    The SQLite library and driver, and whether it has the WAL-reset fix; or the
    PostgreSQL server version (reaching it at all proves connectivity).
``settings``
    The settings in force, read back from a live connection: on SQLite
    ``journal_mode``, ``synchronous``, ``foreign_keys``, ``busy_timeout``; on PostgreSQL
    ``fsync``, ``synchronous_commit``, ``full_page_writes``.
``schema``
    The Alembic revision against the newest one this threadkeep ships.
``size``
    The size of the data, and the storage warning when one is configured.
``integrity``
    SQLite's ``PRAGMA integrity_check``; on PostgreSQL amcheck when installed.
``search index``
    The full-text index against the data; ``repair`` rebuilds it.
``damaged rows``
    Every conversation, message and run, in batches: values the readers skip (JSON
    that does not read, fields outside their sets). ``repair`` moves each to the
    ``quarantine`` table and puts a safe value in its place.

A check that cannot run (the database stops answering) is itself an ``error`` and the
others still run. Nothing here prints: the report is data (:meth:`DoctorReport.to_dict`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from threadkeep.db.integrity import DatabaseFacts
from threadkeep.db.quarantine import SCANNED_TABLES, DamagedValue, QuarantinedValue
from threadkeep.db.urls import sqlite_path
from threadkeep.errors import StoreUnavailable, ThreadkeepError
from threadkeep.store import ConversationStore

__all__ = ["Check", "DoctorReport", "check_database_file", "run_doctor"]

Status = Literal["ok", "warning", "error"]

# The most damaged values a report lists (all are counted, and all repaired).
MAX_LISTED = 1_000
_SHOWN_IN_DETAIL = 10
_BATCH = 500
_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, how it stands, and what to do."""

    name: str
    status: Status
    detail: str

    @property
    def ok(self) -> bool:
        """False only for ``error`` (a warning still lets the command succeed)."""
        return self.status != "error"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Everything :func:`run_doctor` found (and, with ``repair``, did).

    ``damaged`` lists the damaged values found (at most :data:`MAX_LISTED`; the
    ``damaged rows`` check counts them all); ``quarantined`` those moved to the
    quarantine by this run.
    """

    checks: list[Check]
    facts: DatabaseFacts | None = None
    damaged: list[DamagedValue] = field(default_factory=list)
    quarantined: list[QuarantinedValue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check is an ``error`` (the CLI then exits 0)."""
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [check.to_dict() for check in self.checks],
            "facts": None if self.facts is None else self.facts.to_dict(),
            "damaged": [value.to_dict() for value in self.damaged],
            "quarantined": [value.to_dict() for value in self.quarantined],
        }


def check_database_file(url: str) -> None:
    """Raise ``StoreUnavailable`` naming the file if ``url`` is a SQLite file that is
    missing or is not a SQLite database; do nothing for PostgreSQL.

    Opening a store creates a missing file (the embedded default must just work), which
    is the wrong answer for a command asked to examine one: call this first.
    """
    path = sqlite_path(url)
    if path is None:
        return
    if not path.exists():
        raise StoreUnavailable(f"database {path}: no such file")
    if not path.is_file():
        raise StoreUnavailable(f"database {path}: not a file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise StoreUnavailable(f"database {path}: cannot be read ({error})") from None
    if header and header != _SQLITE_HEADER:
        raise StoreUnavailable(
            f"database {path}: not a SQLite database (its first bytes are not the SQLite "
            "header); check the path, or restore it from a backup (threadkeep db restore)"
        )


def run_doctor(store: ConversationStore, *, repair: bool = False) -> DoctorReport:
    """Check the database behind ``store``; with ``repair``, fix what can be fixed.

    Repairs: the search index is rebuilt when it does not match the data, and damaged
    values are quarantined. Each repair is reported as a ``warning`` saying what was
    done; running doctor again afterwards finds nothing to do. Repairs wait (and the
    checks say why) while the schema is not the newest or the integrity check fails.
    """
    checks: list[Check] = []
    facts: DatabaseFacts | None = None
    latest = store.latest_schema_revision()
    blocked: str | None = "repairs need a database doctor can examine"
    try:
        facts = store.database_facts()
    except ThreadkeepError as error:
        checks.append(Check("engine", "error", str(error)))
    if facts is not None:
        known = facts
        checks += [
            _engine(known),
            _settings(known, store),
            _schema(known, latest),
            _guarded("size", lambda: _size(known, store)),
        ]
        blocked = (
            None
            if known.schema_revision == latest
            else "repairs need the newest schema: run `threadkeep db upgrade` first"
        )
    integrity = _guarded("integrity", lambda: _integrity(store))
    checks.append(integrity)
    if integrity.status == "error" and blocked is None:
        blocked = "repairs would write into a damaged database: deal with the integrity error first"
    fix = _Repair(requested=repair, blocked=blocked)
    checks.append(_guarded("search index", lambda: _search(store, fix)))
    damaged: list[DamagedValue] = []
    quarantined: list[QuarantinedValue] = []
    checks.append(
        _guarded("damaged rows", lambda: _damaged(store, fix, facts, damaged, quarantined))
    )
    return DoctorReport(checks=checks, facts=facts, damaged=damaged, quarantined=quarantined)


@dataclass(frozen=True, slots=True)
class _Repair:
    """Whether repairs were asked for, and why they cannot run (``None``: they can)."""

    requested: bool
    blocked: str | None

    @property
    def allowed(self) -> bool:
        return self.requested and self.blocked is None

    def advice(self, action: str) -> str:
        if self.requested and self.blocked is not None:
            return self.blocked
        return f"run `threadkeep doctor --repair` to {action}"


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except ThreadkeepError as error:
        return Check(name, "error", f"could not run: {error}")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _mib(size: int) -> str:
    return f"{size / 1_048_576:,.1f} MiB"


def _engine(facts: DatabaseFacts) -> Check:
    if facts.dialect == "sqlite":
        detail = f"{facts.library}; file {facts.location}"
        if not facts.wal_reset_fix:
            return Check("engine", "warning", detail)
        return Check("engine", "ok", detail)
    return Check("engine", "ok", f"{facts.library}; connected to {facts.location}")


def _settings(facts: DatabaseFacts, store: ConversationStore) -> Check:
    s = facts.settings
    errors: list[str] = []
    warnings: list[str] = []
    if facts.dialect == "sqlite":
        shown = (
            f"journal_mode={s['journal_mode']}, synchronous={s['synchronous']}, "
            f"foreign_keys={s['foreign_keys']}, busy_timeout={s['busy_timeout']} ms"
        )
        if s["journal_mode"] != "wal":
            errors.append("journal_mode is not WAL: concurrent readers and writers will block")
        if s["foreign_keys"] != "on":
            errors.append("foreign_keys is off: deleting a conversation would orphan its rows")
        wanted = store.settings.sqlite_synchronous
        if s["synchronous"] == "OFF":
            errors.append("synchronous is OFF: a crash can corrupt the database")
        elif s["synchronous"] not in (wanted, "EXTRA"):
            warnings.append(f"synchronous is {s['synchronous']}, the setting asks for {wanted}")
        if s["busy_timeout"] != str(store.settings.sqlite_busy_timeout_ms):
            warnings.append(
                f"busy_timeout is {s['busy_timeout']} ms, the setting asks for "
                f"{store.settings.sqlite_busy_timeout_ms} ms"
            )
    else:
        shown = ", ".join(f"{name}={value}" for name, value in s.items())
        if s.get("fsync") != "on":
            errors.append("fsync is off on the server: a server crash can corrupt the database")
        if s.get("synchronous_commit") == "off":
            warnings.append(
                "synchronous_commit is off: an acknowledged append can be lost in a server crash"
            )
        if s.get("full_page_writes") != "on":
            warnings.append("full_page_writes is off: torn pages cannot be recovered")
    return _verdict("settings", shown, errors, warnings)


def _verdict(name: str, shown: str, errors: Sequence[str], warnings: Sequence[str]) -> Check:
    if errors or warnings:
        status: Status = "error" if errors else "warning"
        return Check(name, status, f"{'; '.join([*errors, *warnings])} ({shown})")
    return Check(name, "ok", shown)


def _schema(facts: DatabaseFacts, latest: str | None) -> Check:
    current = facts.schema_revision
    if current is None:
        return Check(
            "schema", "error", "no schema: the database is empty; run `threadkeep db upgrade`"
        )
    if not facts.schema_revision_known:
        return Check(
            "schema",
            "error",
            f"revision {current} is unknown to this threadkeep (newest known: {latest}); a "
            "newer threadkeep wrote it: upgrade threadkeep",
        )
    if current != latest:
        return Check(
            "schema",
            "warning",
            f"revision {current}, newest is {latest}: run `threadkeep db upgrade`",
        )
    return Check("schema", "ok", f"revision {current} (the newest)")


def _size(facts: DatabaseFacts, store: ConversationStore) -> Check:
    counts = facts.row_counts
    detail = (
        f"{_mib(store.database_size())}; {_count(counts.get('conversations', 0), 'conversation')}, "
        f"{_count(counts.get('messages', 0), 'message')}, {_count(counts.get('runs', 0), 'run')}"
    )
    if facts.reclaimable_bytes:
        detail += f"; {_mib(facts.reclaimable_bytes)} of free pages (VACUUM returns them)"
    warning = store.storage_warning()
    if warning:
        return Check("size", "warning", f"{warning} ({detail})")
    return Check("size", "ok", detail)


def _integrity(store: ConversationStore) -> Check:
    report = store.check_storage()
    if report.method is None:
        return Check(
            "integrity",
            "ok",
            f"PostgreSQL guards its own storage ({report.note}); for a deeper check of "
            "threadkeep's indexes, install amcheck: CREATE EXTENSION amcheck",
        )
    if not report.problems:
        note = f" ({report.note})" if report.note else ""
        return Check("integrity", "ok", f"{report.method}: ok{note}")
    shown = "; ".join(report.problems[:_SHOWN_IN_DETAIL])
    more = len(report.problems) - _SHOWN_IN_DETAIL
    if more > 0:
        shown += f"; and {more} more"
    if report.method == "amcheck":
        advice = "rebuild the index named (REINDEX INDEX name)"
    else:
        advice = (
            "stop writers and copy the file; then restore a backup (threadkeep db restore "
            "PATH) or salvage the data with the sqlite3 shell's .recover"
        )
    return Check("integrity", "error", f"{report.method} found: {shown}; {advice}")


def _search(store: ConversationStore, fix: _Repair) -> Check:
    problems = store.search_index_problems()
    if not problems:
        return Check("search index", "ok", "matches the messages and titles")
    found = "; ".join(problems)
    if not fix.allowed:
        return Check("search index", "error", f"{found}; {fix.advice('rebuild it')}")
    rebuilt = store.rebuild_search_index()
    remaining = store.search_index_problems()
    if remaining:
        return Check(
            "search index",
            "error",
            f"{'; '.join(remaining)} (after rebuilding {', '.join(rebuilt) or 'nothing'}); "
            "the schema was changed outside threadkeep: restore a backup, or export and "
            "import into a new database",
        )
    return Check("search index", "warning", f"repaired: {found}; rebuilt {', '.join(rebuilt)}")


def _describe(values: Sequence[DamagedValue | QuarantinedValue], total: int) -> str:
    shown = "; ".join(
        f"{v.table} {v.row_key} {v.column}: {v.reason}" for v in values[:_SHOWN_IN_DETAIL]
    )
    if total > _SHOWN_IN_DETAIL:
        shown += f"; and {total - _SHOWN_IN_DETAIL:,} more"
    return shown


def _damaged(
    store: ConversationStore,
    fix: _Repair,
    facts: DatabaseFacts | None,
    damaged: list[DamagedValue],
    quarantined: list[QuarantinedValue],
) -> Check:
    found = moved = 0
    for table in SCANNED_TABLES:
        cursor: str | None = None
        while True:
            page = store.find_damaged_values(table, cursor=cursor, batch_size=_BATCH)
            found += len(page.items)
            damaged.extend(page.items[: MAX_LISTED - len(damaged)])
            if fix.allowed and page.items:
                done = store.quarantine_values(page.items)
                moved += len(done)
                quarantined.extend(done[: MAX_LISTED - len(quarantined)])
            cursor = page.next_cursor
            if cursor is None:
                break
    held = facts.quarantined_values if facts is not None else 0
    if not found:
        detail = "none: every conversation, message and run reads"
        if held:
            detail += f"; {_count(held, 'value')} quarantined earlier kept in the quarantine table"
        return Check("damaged rows", "ok", detail)
    if not fix.allowed:
        return Check(
            "damaged rows",
            "error",
            f"{_count(found, 'damaged value')}, skipped by every read: "
            f"{_describe(damaged, found)}; {fix.advice('quarantine them')}",
        )
    detail = f"quarantined {_count(moved, 'value')}: {_describe(quarantined, moved)}"
    if moved < found:
        detail += f" ({found - moved:,} fixed or deleted meanwhile)"
    return Check("damaged rows", "warning", detail)
