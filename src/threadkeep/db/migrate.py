"""Schema migrations: the program brings its own database to the current revision.

Alembic's revision tree ships inside the package (``db/migrations``) and one tree serves
both engines. :func:`upgrade` runs on open (``migrate_on_open``):

1. It reads the current revision; nothing more happens when it is the head.
2. For a SQLite file that already holds tables it first takes an online backup next to
   the file (``<name>.pre-<rev>-<UTC time>.bak``, mode 0600).
3. It migrates in one transaction — ``BEGIN IMMEDIATE`` on SQLite, and on PostgreSQL an
   advisory lock, so processes opening a database together migrate it once.
4. If a revision fails, the transaction is rolled back and, for SQLite, the file is
   restored from the backup as well (batch-mode table copies make partial states
   possible); the ``StoreUnavailable`` names the revision that failed and where the
   backup is kept.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from threadkeep.db.backup import backup_sqlite, restore_sqlite
from threadkeep.db.engine import Database
from threadkeep.errors import StoreUnavailable

__all__ = [
    "MigrationReport",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]

log = logging.getLogger(__name__)

_ADVISORY_LOCK = 0x74686B70  # "thkp"


@dataclass
class MigrationReport:
    """What :func:`upgrade` did."""

    from_revision: str | None
    to_revision: str | None
    applied: list[str] = field(default_factory=list)
    backup_path: Path | None = None


def _versions_dir() -> str:
    return str(resources.files("threadkeep.db") / "migrations" / "versions")


def alembic_config(extra_version_locations: Sequence[str] = ()) -> Config:
    """An Alembic ``Config`` for the packaged tree (plus extra revision folders)."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("threadkeep.db") / "migrations"))
    locations = [_versions_dir(), *extra_version_locations]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", ":".join(locations))
    return config


def head_revision(extra_version_locations: Sequence[str] = ()) -> str | None:
    return ScriptDirectory.from_config(alembic_config(extra_version_locations)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _has_tables(conn: Connection) -> bool:
    return bool(sa.inspect(conn).get_table_names())


def _run(
    db: Database,
    action: str,
    revision: str,
    extra_version_locations: Sequence[str],
    report: MigrationReport,
) -> None:
    config = alembic_config(extra_version_locations)

    def on_apply(*, step: Any, **_: Any) -> None:
        report.applied.append(
            str(step.up_revision_id if step.is_upgrade else step.down_revision_ids)
        )

    config.attributes["on_version_apply"] = on_apply
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
        elif not conn.in_transaction():
            # On SQLite ``db.write()`` holds BEGIN IMMEDIATE on the driver, which
            # SQLAlchemy does not see. Alembic treats SQLite as non-transactional DDL and
            # would commit after each revision — releasing the write lock between them,
            # so a second process opening the same new file could run the next revision
            # at the same time ("duplicate column"). Beginning here makes the
            # transaction external to Alembic: it commits nothing; ``write()`` commits
            # every revision at once at the end.
            conn.begin()
        config.attributes["connection"] = conn
        if action == "upgrade":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def upgrade(
    db: Database,
    *,
    revision: str = "head",
    backup: bool = True,
    extra_version_locations: Sequence[str] = (),
) -> MigrationReport:
    """Bring the database to ``revision``; back up and restore SQLite around it."""
    head = head_revision(extra_version_locations)
    with db.read() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        holds_data = _has_tables(conn)
    report = MigrationReport(from_revision=current, to_revision=current)
    if current == (head if revision == "head" else revision):
        return report
    if backup and db.sqlite_path is not None and holds_data:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        target = db.sqlite_path.with_name(f"{db.sqlite_path.name}.pre-{current}-{stamp}.bak")
        report.backup_path = backup_sqlite(db, target)
        log.info("backed up %s to %s before migrating", db.sqlite_path, target)
    try:
        _run(db, "upgrade", revision, extra_version_locations, report)
    except Exception as error:
        failed_at = _failing_revision(report, extra_version_locations, current)
        where = ""
        if report.backup_path is not None:
            restore_sqlite(db, report.backup_path)
            where = f"; the database was restored from the backup kept at {report.backup_path}"
        raise StoreUnavailable(
            f"migrating {db.describe()} from revision {current} failed at revision "
            f"{failed_at}: {error}{where}"
        ) from error
    report.to_revision = current_revision(db)
    return report


def _failing_revision(
    report: MigrationReport, extra_version_locations: Sequence[str], current: str | None
) -> str:
    """The revision after the last one applied: the one that raised."""
    script = ScriptDirectory.from_config(alembic_config(extra_version_locations))
    done = report.applied[-1] if report.applied else current
    for rev in script.walk_revisions("base", "heads"):
        if rev.down_revision == done:
            return str(rev.revision)
    return "unknown"


def downgrade(
    db: Database, revision: str, *, extra_version_locations: Sequence[str] = ()
) -> MigrationReport:
    """Take the schema down to ``revision`` (``base`` drops everything)."""
    report = MigrationReport(from_revision=current_revision(db), to_revision=None)
    _run(db, "downgrade", revision, extra_version_locations, report)
    report.to_revision = current_revision(db)
    return report
