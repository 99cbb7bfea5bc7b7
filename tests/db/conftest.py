"""Fixtures of the database-layer tests (on top of ``tests/conftest.py``).

* ``database``: a bare :class:`~threadkeep.db.engine.Database` on ``db_url``, not
  migrated, disposed afterwards — for driving ``db/migrate.py`` step by step.
* ``sqlite_path``: the file behind ``sqlite_url``.
* ``write_revision``: writes an extra Alembic revision file into a fresh folder (to pass
  as ``extra_version_locations``), on top of the packaged head.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from threadkeep import Settings
from threadkeep.db import migrate
from threadkeep.db.engine import Database, open_database


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """An engine on a fresh database of either engine, not migrated."""
    db = open_database(db_url, Settings.load())
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def sqlite_path(sqlite_url: str) -> Path:
    return Path(str(make_url(sqlite_url).database))


@pytest.fixture
def write_revision(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``write_revision(rev_id, upgrade_body, downgrade_body="pass")`` -> its folder.

    The revision's ``down_revision`` is the packaged head, so it is the next step.
    """

    def write(revision: str, upgrade: str, downgrade: str = "pass") -> Path:
        folder = tmp_path_factory.mktemp("versions")
        source = (
            f'"""Test-only revision {revision}."""\n'
            "import sqlalchemy as sa\n"
            "from alembic import op\n\n"
            f"revision = {revision!r}\n"
            f"down_revision = {migrate.head_revision()!r}\n"
            "branch_labels = None\n"
            "depends_on = None\n\n\n"
            "def upgrade() -> None:\n"
            f"{textwrap.indent(textwrap.dedent(upgrade).strip(), '    ')}\n\n\n"
            "def downgrade() -> None:\n"
            f"{textwrap.indent(textwrap.dedent(downgrade).strip(), '    ')}\n"
        )
        (folder / f"{revision}.py").write_text(source, encoding="utf-8")
        return folder

    return write
