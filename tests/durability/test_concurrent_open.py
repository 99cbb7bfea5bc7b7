"""Several processes opening a brand-new database at the same moment (SPEC S2.1, S2.2).

Apps start several workers at once (a server's processes, a CLI next to a server), and
the first use creates the database. Every one of them must get a working store: no
raw ``FileExistsError`` because two created the directory, no "database is locked"
because two switched the new file to WAL, no failed or doubled migration.

Each iteration releases all workers at a barrier onto a fresh path; the race windows
are short, so the tests repeat the opening many times.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.conftest import postgres_base_url, require_postgres
from tests.durability.workers import first_open_worker, run_workers
from threadkeep import Settings, StoreUnavailable, open_store

WORKERS = 4
DIRECTORY_ROUNDS = 300
CONNECT_ROUNDS = 300
MIGRATE_ROUNDS = 15


def _check_first_opens(urls: list[str], action: str) -> None:
    reports = run_workers(first_open_worker, [(urls, action, w) for w in range(WORKERS)])
    fatal = {r["worker"]: r["fatal"] for r in reports if "fatal" in r}
    assert not fatal, f"workers died: {fatal}"
    failures = [f for r in reports for f in r["failures"]]
    assert not failures, (
        f"{len(failures)} of {len(urls) * WORKERS} concurrent first opens failed, e.g. "
        f"{failures[:3]}"
    )


@pytest.mark.slow
def test_concurrent_first_opens_create_the_directory_once(tmp_path: Path) -> None:
    """Guards against a raw ``FileExistsError`` when processes create the data directory.

    Four processes open a store at the same moment in a directory that does not exist
    yet, 300 times (``migrate_on_open`` off, so only the file and directory creation
    runs). Checking that the directory exists and then creating it is a race: every
    opener must accept a directory another one made in between — and still find it
    0700 and the file 0600.
    """
    urls = [str(tmp_path / f"d{k}" / "data" / "threadkeep.db") for k in range(DIRECTORY_ROUNDS)]
    _check_first_opens(urls, "create")
    for url in urls[:5]:
        assert (Path(url).parent.stat().st_mode & 0o777) == 0o700
        assert (Path(url).stat().st_mode & 0o777) == 0o600


@pytest.mark.slow
def test_concurrent_first_connections_to_a_new_sqlite_file(tmp_path: Path) -> None:
    """Guards against "database is locked" when processes open a new SQLite file at once.

    Four processes make their first connection to a database file that does not exist
    yet, at the same moment, 300 times. A new file starts in rollback-journal mode and
    every connection switches it to WAL; that switch needs an exclusive lock, and
    SQLite answers a concurrent one with SQLITE_BUSY at once, without running the busy
    handler. Every opener must wait its turn instead (S2.2), like any other writer.
    """
    folder = tmp_path / "dbs"
    folder.mkdir()
    urls = [f"sqlite:///{folder / f'new{k}.db'}" for k in range(CONNECT_ROUNDS)]
    _check_first_opens(urls, "connect")


@pytest.mark.slow
def test_concurrent_first_opens_migrate_a_new_sqlite_file_once(tmp_path: Path) -> None:
    """Guards against a failed or doubled migration when processes create one database.

    Four processes open (migrate, write to) a database file that does not exist yet,
    at the same moment, 15 times: one migrates under the write lock, the others wait
    and find the schema current; all four conversations are there.
    """
    folder = tmp_path / "dbs"
    folder.mkdir()
    urls = [f"sqlite:///{folder / f'new{k}.db'}" for k in range(MIGRATE_ROUNDS)]
    _check_first_opens(urls, "migrate")
    for url in urls:
        with open_store(url, settings=Settings.load()) as store:
            assert len(store.list_conversations().items) == WORKERS


@pytest.fixture
def fresh_postgres_urls() -> Iterator[list[str]]:
    """``MIGRATE_ROUNDS`` fresh, empty PostgreSQL schemas (as conftest's ``postgres_url``)."""
    require_postgres()
    base = postgres_base_url()
    schemas = ["tk_" + secrets.token_hex(6) for _ in range(MIGRATE_ROUNDS)]
    admin = sa.create_engine(base)
    separator = "&" if "?" in base else "?"
    try:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield [f"{base}{separator}options={quote(f'-csearch_path={s}')}" for s in schemas]
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_first_opens_of_a_new_postgres_schema(fresh_postgres_urls: list[str]) -> None:
    """Guards against two processes migrating one empty PostgreSQL database at once.

    Four processes open the same empty schema at the same moment, 15 times: the
    advisory lock must make one of them migrate while the others wait and then find
    the schema current ("table already exists" or a duplicate version row would fail).
    """
    _check_first_opens(fresh_postgres_urls, "migrate")
    for url in fresh_postgres_urls:
        with open_store(url, settings=Settings.load()) as store:
            assert len(store.list_conversations().items) == WORKERS


@pytest.mark.parametrize("nested", [False, True], ids=["in-file", "below-file"])
def test_database_path_through_a_regular_file_is_a_clear_error(
    tmp_path: Path, nested: bool
) -> None:
    """Guards against a raw ``OSError`` escaping ``open_store`` for an unusable path.

    When the database's directory cannot be created or used (here: a path component is
    a regular file), ``open_store`` raises ``StoreUnavailable`` naming the path.
    """
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n", encoding="utf-8")
    path = blocker / "sub" / "chats.db" if nested else blocker / "chats.db"
    with pytest.raises(StoreUnavailable) as raised:
        open_store(path, settings=Settings.load())
    assert str(blocker) in str(raised.value)
