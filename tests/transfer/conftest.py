"""Fixtures of the transfer tests: the store suite's fast SQLite template is reused.

``sqlite_url`` here is ``tests/store/conftest.py``'s (a copy of a database migrated once
per session), so the many export/import tests do not each run the migrations.
"""

from __future__ import annotations

from tests.store.conftest import _migrated_sqlite_file, sqlite_url

__all__ = ["_migrated_sqlite_file", "sqlite_url"]
