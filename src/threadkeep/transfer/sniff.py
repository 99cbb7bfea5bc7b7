"""Cheap looks at a file's first bytes, for format detection.

Detection runs on every file of an import without a ``--format``, so it reads at most
``HEAD_BYTES`` of each (decompressing that much of a ``.gz``) and never raises: a file
that cannot be read is simply not in the format being asked about; the loader that
runs afterwards says precisely what is wrong with it.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

__all__ = ["HEAD_BYTES", "SQLITE_MAGIC", "head", "head_lines", "is_sqlite"]

HEAD_BYTES = 65_536
SQLITE_MAGIC = b"SQLite format 3\x00"
_GZIP_MAGIC = b"\x1f\x8b"


def head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of ``path`` (of its content, when gzipped); ``b""`` when
    it cannot be read."""
    try:
        with path.open("rb") as raw:
            start = raw.read(size)
            if not start.startswith(_GZIP_MAGIC):
                return start
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as unzipped:
                return unzipped.read(size)
    except (OSError, EOFError, zlib.error):
        return b""


def head_lines(path: Path, count: int = 20) -> list[dict[str, Any]]:
    """The JSON objects among the first ``count`` complete lines of ``path``."""
    lines = head(path).split(b"\n")[:-1][:count]
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def is_sqlite(start: bytes) -> bool:
    return start.startswith(SQLITE_MAGIC)
