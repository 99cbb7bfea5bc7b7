"""Uploads: a request body spooled to a private temporary file, never held in memory.

An import is a file (a threadkeep document, a ChatGPT zip, a Claude Code transcript,
…) sent as the raw request body. The importer reads files — twice, once to check
everything and once to write — so the body goes to a file in a new private directory
(mode 0700, under ``TMPDIR``) as it arrives, in writes of up to 1 MiB done off the
event loop. The size limit (``import_max_bytes``) is enforced while the body streams
in by ``limits.py``, which aborts with 413 at the first byte past it.

The file's name matters: the formats recognise files partly by their suffix
(``.jsonl`` transcripts, ``.zip`` exports). It is the client's ``filename`` when given
(its last path component, made safe), else chosen from the ``Content-Type``, else from
the first bytes (zip, gzip, SQLite, JSON or JSON Lines). Error messages from the
importer name that file name, never the temporary directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

from threadkeep.errors import InvalidInput, ThreadkeepError
from threadkeep.server.downloads import safe_filename
from threadkeep.transfer.sniff import is_sqlite

__all__ = ["Upload", "new_upload", "receive_upload", "upload_name"]

_WRITE_BYTES = 1 << 20
_DEFAULT_STEM = "upload"

#: File suffixes by media type, for an upload without a file name.
_SUFFIXES = {
    "application/json": ".json",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/jsonlines": ".jsonl",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "application/gzip": ".gz",
    "application/x-gzip": ".gz",
    "application/vnd.sqlite3": ".db",
    "application/x-sqlite3": ".db",
}


def upload_name(filename: str | None, content_type: str | None) -> str | None:
    """The file name an upload is stored under: the client's (made safe), or ``None``
    when it is to be chosen from the content (:func:`_sniffed_suffix`)."""
    if filename:
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        stem, dot, suffix = base.rpartition(".")
        if not dot:
            stem, suffix = base, ""
        safe_suffix = "".join(ch for ch in suffix if ch.isascii() and ch.isalnum())[:16]
        return safe_filename(stem, "." + safe_suffix if safe_suffix else "", default=_DEFAULT_STEM)
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _SUFFIXES:
        return _DEFAULT_STEM + _SUFFIXES[media]
    return None


def _sniffed_suffix(start: bytes) -> str:
    """A suffix for a file that starts with ``start`` (what its format detection needs)."""
    if start.startswith(b"PK\x03\x04"):
        return ".zip"
    if start.startswith(b"\x1f\x8b"):
        return ".gz"
    if is_sqlite(start):
        return ".db"
    text = start.lstrip()
    lines = [line for line in text.split(b"\n") if line.strip()]
    if len(lines) >= 2:
        try:
            first = json.loads(lines[0])
        except ValueError:
            return ".json"
        return ".jsonl" if isinstance(first, dict) else ".json"
    return ".json" if text[:1] in (b"{", b"[") else ""


class Upload:
    """A received upload: its ``path`` in a private directory, and its size."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path: Path = directory / _DEFAULT_STEM
        self.size = 0

    def public_message(self, error: ThreadkeepError) -> ThreadkeepError:
        """``error`` with the temporary directory taken out of its message."""
        prefix = str(self.directory) + os.sep
        if prefix not in error.message:
            return error
        return type(error)(error.message.replace(prefix, ""))


async def _write_all(chunks: AsyncIterator[bytes], out: BinaryIO) -> tuple[int, bytes]:
    """Write ``chunks`` to ``out`` in writes of up to 1 MiB off the event loop; return
    the size and the first bytes."""
    pending = bytearray()
    size = 0
    start = b""
    async for chunk in chunks:
        if not chunk:
            continue
        if len(start) < 4096:
            start += chunk[: 4096 - len(start)]
        pending += chunk
        size += len(chunk)
        if len(pending) >= _WRITE_BYTES:
            await to_thread.run_sync(out.write, bytes(pending))
            pending.clear()
    if pending:
        await to_thread.run_sync(out.write, bytes(pending))
    return size, start


@contextmanager
def new_upload() -> Iterator[Upload]:
    """A new private directory for one upload, removed with whatever is in it."""
    with tempfile.TemporaryDirectory(prefix="threadkeep-upload-") as name:
        yield Upload(Path(name))


async def receive_upload(upload: Upload, chunks: AsyncIterator[bytes], name: str | None) -> None:
    """Stream ``chunks`` into ``upload``'s directory as ``name`` (or a name chosen from
    the first bytes). An empty body is ``InvalidInput``."""
    spool = upload.directory / ".receiving"
    with spool.open("wb") as out:
        upload.size, start = await _write_all(chunks, out)
    if upload.size == 0:
        raise InvalidInput(
            "the request body is empty: send the file to import as the body "
            "(e.g. curl --data-binary @export.json)"
        )
    upload.path = upload.directory / (name or _DEFAULT_STEM + _sniffed_suffix(start))
    spool.rename(upload.path)
