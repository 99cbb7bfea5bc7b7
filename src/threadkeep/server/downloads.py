"""Downloads: an export streamed to the client, and the header that names its file.

**Streaming.** ``transfer.exporter.export_conversations`` writes to a binary stream,
page by page, from a blocking store; HTTP wants an async iterator of chunks. The
export runs in a thread of its own writing into a :class:`_Pipe`, which hands each
chunk (the exporter writes through a 256 KiB buffer) to the event loop over a small
bounded queue: the exporter waits while the client is slow, so memory stays at a few
chunks however large the export. What can fail early — a bad format or filter, an id
that is not the caller's — fails before the first chunk (the exporter lists the ids
and reads the first conversation before it has 256 KiB to write), and
:func:`stream_export` waits for that first chunk before the response starts, so such
an error is an ordinary 4xx JSON error, not a broken download. A failure after the
first byte can only abort the connection (the client sees a truncated transfer, never
a complete-looking file). A client that goes away stops the export at its next write.

**Content-Disposition** (RFC 6266): ``filename="<ASCII fallback>"`` for old clients,
plus ``filename*=UTF-8''<percent-encoded>`` with the real name. A title can hold any
text — quotes, backslashes, CR/LF, ``;``, emoji, right-to-left marks — and none of it
can end the header or start another: control and format characters become spaces,
path separators and quotes never reach the quoted fallback, and the UTF-8 form is
percent-encoded down to RFC 5987's ``attr-char``.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import threading
import unicodedata
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO, cast
from urllib.parse import quote

__all__ = ["content_disposition", "safe_filename", "stream_export"]

log = logging.getLogger(__name__)

#: Chunks waiting for a slow client, per download (each up to ~256 KiB).
_QUEUE_CHUNKS = 4
#: How often a blocked writer looks whether the client has gone.
_POLL_SECONDS = 0.25
_MAX_STEM = 120
# RFC 5987 attr-char, less the letters and digits quote() keeps anyway.
_ATTR_CHARS = "!#$&+-.^_`|~"
_FALLBACK_UNSAFE = frozenset('"\\%;/')


def safe_filename(stem: str, suffix: str, *, default: str = "download") -> str:
    """``stem`` + ``suffix`` as a file name: one line, no path separators, no control
    or format characters, the stem cut to 120 characters; ``default`` if nothing
    printable is left."""
    text = unicodedata.normalize("NFC", stem)
    cleaned = "".join(
        " " if ch in "/\\" or unicodedata.category(ch)[0] in "CZ" else ch for ch in text
    )
    cleaned = " ".join(cleaned.split()).strip(" .")[:_MAX_STEM].strip(" .")
    return (cleaned or default) + suffix


def _ascii_fallback(filename: str, stem_default: str) -> str:
    out = []
    for ch in filename:
        printable_ascii = " " <= ch <= "~"
        out.append(ch if printable_ascii and ch not in _FALLBACK_UNSAFE else "_")
    text = "".join(out)
    stem, dot, suffix = text.rpartition(".")
    if not dot:
        stem, suffix = text, ""
    if not stem.strip("_ ."):
        stem = stem_default
    while "__" in stem:
        stem = stem.replace("__", "_")
    return stem.strip() + (dot + suffix)


def content_disposition(filename: str, *, fallback_stem: str = "download") -> str:
    """An ``attachment`` Content-Disposition naming ``filename`` (already made safe by
    :func:`safe_filename`), with an ASCII fallback and the exact UTF-8 name."""
    fallback = _ascii_fallback(filename, fallback_stem)
    encoded = quote(filename, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


class _ClientGone(Exception):
    """The download was abandoned: the export stops at its next write."""


_END = object()


class _Pipe(io.RawIOBase):
    """The file the exporter writes into: each write becomes a chunk for the loop.

    At most ``_QUEUE_CHUNKS`` chunks wait for the client (a semaphore the loop releases
    as it takes one); a writer blocked on a full queue looks every
    ``_POLL_SECONDS`` whether the client has gone.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.chunks: asyncio.Queue[object] = asyncio.Queue()
        self.room = threading.Semaphore(_QUEUE_CHUNKS)
        self.gone = threading.Event()
        self._stopped = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if self._stopped:
            # The export was told to stop; what buffers flush while unwinding is dropped
            # (raising again would only print "exception ignored" from a destructor).
            return len(chunk)
        if chunk:
            try:
                self.put(chunk)
            except _ClientGone:
                self._stopped = True
                raise
        return len(chunk)

    def put(self, item: object) -> None:
        """Hand ``item`` to the loop, waiting while the queue is full."""
        while not self.room.acquire(timeout=_POLL_SECONDS):
            if self.gone.is_set():
                raise _ClientGone
        if self.gone.is_set():
            raise _ClientGone
        try:
            self._loop.call_soon_threadsafe(self.chunks.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server has stopped
            raise _ClientGone from None

    async def get(self) -> object:
        item = await self.chunks.get()
        self.room.release()
        return item


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def stream_export(
    export: Callable[[BinaryIO], object], *, compress: bool
) -> AsyncIterator[bytes]:
    """Run ``export(out)`` in a thread and return the chunks it writes to ``out``.

    Awaiting this raises what the export raised before its first chunk (so the caller
    answers with that error); after that, an error ends the iterator with an
    exception, which aborts the response. ``compress``: gzip the stream.
    """
    pipe = _Pipe(asyncio.get_running_loop())

    def run() -> None:
        try:
            if compress:
                with gzip.GzipFile(filename="", mode="wb", fileobj=pipe, mtime=0) as packed:
                    export(cast(BinaryIO, packed))
            else:
                export(cast(BinaryIO, pipe))
            pipe.put(_END)
        except _ClientGone:
            return
        except BaseException as error:  # handed to the loop, which raises it there
            try:
                pipe.put(_Failed(error))
            except _ClientGone:
                return

    threading.Thread(target=run, name="threadkeep-export", daemon=True).start()
    try:
        first = await pipe.get()
    except BaseException:
        pipe.gone.set()
        raise
    if isinstance(first, _Failed):
        raise first.error
    return _rest(first, pipe)


async def _rest(first: object, pipe: _Pipe) -> AsyncIterator[bytes]:
    try:
        item = first
        while item is not _END:
            if isinstance(item, _Failed):
                log.error(
                    "export failed after the download started: %s",
                    type(item.error).__name__,
                    exc_info=item.error,
                )
                raise RuntimeError("export failed after the download started")
            assert isinstance(item, bytes)  # noqa: S101 - the pipe only queues bytes
            yield item
            item = await pipe.get()
    finally:
        pipe.gone.set()
