"""What a database URL says, for the layers above ``db/`` (which may not import
SQLAlchemy): which SQLite file it names, and how to show it without its password.

Opening a database (:func:`threadkeep.db.engine.open_database`) reads URLs the same way,
through :func:`~threadkeep.db.engine.normalize_url`.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from threadkeep.db.engine import normalize_url

__all__ = ["masked_url", "sqlite_path"]

_PASSWORD_IN_URL = re.compile(r"(://[^\s/@:]*:)[^\s/@]+@")


def sqlite_path(url: str) -> Path | None:
    """The SQLite file ``url`` (a URL or a file path) names, resolved; ``None`` for
    PostgreSQL. Raises ``InvalidInput`` for a URL threadkeep cannot open."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    return Path(str(parsed.database))


def masked_url(url: str) -> str:
    """A database URL to show: its password as ``***``, as SQLAlchemy renders it, and so
    as the store describes its database (``stats``, ``doctor``, ``db current``); a path
    or a URL without a password as it is."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # a plain path, or not a URL at all
        return _PASSWORD_IN_URL.sub(r"\1***@", url)
