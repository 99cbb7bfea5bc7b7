"""Limits on reading untrusted import files, and the readers that enforce them.

An import file comes from anywhere: a download, a colleague, a crafted attack. Every
byte threadkeep reads from one goes through these readers, which hold the limits of
:class:`ImportLimits` (from the ``import_*`` settings) *while* reading, never after:

* a file over ``import_max_bytes`` is refused from its size, before it is opened;
* a zip is judged by the sizes its directory declares before a byte is decompressed:
  each member to be read must declare at most ``import_max_bytes`` (no more than a
  file on disk may hold) and together at most ``import_max_unpacked_bytes``, so a zip
  bomb that declares its 5 GiB is refused at once; members threadkeep does not read
  (the images of a ChatGPT export) do not count;
* a ``.gz`` file or a zip member is then decompressed as a stream, through a counter
  that stops reading at ``import_max_unpacked_bytes`` — the second guard, for headers
  that lie (and for gzip, whose header declares nothing reliable); a zip member
  compressed other than stored or deflated is refused, as bzip2 and LZMA decompress a
  whole input chunk at once, unbounded;
* a zip with more than ``import_max_entries`` members, or with a member whose name is
  absolute or climbs out with ``..``, is refused whole (nothing is ever extracted to
  disk, but such names only come from hostile archives);
* a JSON Lines line is read with ``readline(limit)``, so one 100 MB line costs one
  bounded read and a ``TooLarge`` naming the line, not 100 MB of copies;
* JSON deeper than ``import_max_depth`` is refused by an iterative walk (no recursion
  to overflow); input deep enough to exhaust the JSON decoder's own recursion guard is
  refused the same way.

Size limits raise :class:`~threadkeep.errors.TooLarge`, shape problems
:class:`~threadkeep.errors.InvalidInput`; both name the file and the place and, for a
limit, the setting that raises it.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any, Protocol

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.settings import Settings

__all__ = [
    "DEFAULT_LIMITS",
    "ImportLimits",
    "check_depth",
    "check_file",
    "iter_lines",
    "load_json",
    "open_input",
    "read_input",
    "too_deep",
    "zip_entries",
]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def _default(setting: str) -> int:
    """A setting's default, so that the limits' defaults are the settings' own."""
    return int(Settings.model_fields[setting].default)


@dataclass(frozen=True, slots=True)
class ImportLimits:
    """What one import may read; :meth:`from_settings` takes the ``import_*`` settings,
    and the defaults are those settings' defaults."""

    max_bytes: int = _default("import_max_bytes")
    max_unpacked_bytes: int = _default("import_max_unpacked_bytes")
    max_entries: int = _default("import_max_entries")
    max_depth: int = _default("import_max_depth")
    max_messages: int = _default("import_max_messages")
    max_message_bytes: int = _default("max_message_bytes")

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportLimits:
        return cls(
            max_bytes=settings.import_max_bytes,
            max_unpacked_bytes=settings.import_max_unpacked_bytes,
            max_entries=settings.import_max_entries,
            max_depth=settings.import_max_depth,
            max_messages=settings.import_max_messages,
            max_message_bytes=settings.max_message_bytes,
        )

    @property
    def max_line_bytes(self) -> int:
        """Longest JSON Lines line: a largest message escaped for JSON, its metadata and
        fields (JSON escaping can grow text up to 6 times; 8 leaves room for the rest)."""
        return 8 * self.max_message_bytes + 65_536


DEFAULT_LIMITS = ImportLimits()


def _size_error(name: str, size: int, limit: int, setting: str) -> TooLarge:
    return TooLarge(
        f"{name}: {size:,} bytes is over the import limit of {limit:,} bytes (setting {setting})"
    )


def check_file(path: Path, limits: ImportLimits) -> int:
    """The size of ``path``, which must be a file within ``import_max_bytes``."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or directory")
    if not path.is_file():
        raise InvalidInput(f"{path}: not a file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _size_error(str(path), size, limits.max_bytes, "import_max_bytes")
    return size


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Bounded(io.RawIOBase):
    """A readable stream that raises ``TooLarge`` once more than ``limit`` bytes came out."""

    def __init__(self, inner: _Readable, limit: int, name: str, *, start: int = 0) -> None:
        self._inner = inner
        self._limit = limit
        self._name = name
        # Bytes already unpacked from the same archive count against the same limit.
        self.count = start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(min(len(view), self._limit - self.count + 1))
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise InvalidInput(f"{self._name}: cannot be decompressed ({exc})") from exc
        self.count += len(data)
        if self.count > self._limit:
            raise TooLarge(
                f"{self._name}: unpacks to more than {self._limit:,} bytes "
                "(setting import_max_unpacked_bytes)"
            )
        view[: len(data)] = data
        return len(data)


@contextmanager
def open_input(path: Path, limits: ImportLimits) -> Iterator[IO[bytes]]:
    """``path`` opened for reading, gunzipped (bounded) when it is gzip data."""
    check_file(path, limits)
    with path.open("rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            raw.seek(0)
            yield raw
            return
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            bounded = _Bounded(unzipped, limits.max_unpacked_bytes, str(path))
            yield io.BufferedReader(bounded, _CHUNK)


def read_input(path: Path, limits: ImportLimits) -> bytes:
    """The whole content of ``path`` (gunzipped when gzip), within the limits."""
    with open_input(path, limits) as stream:
        return stream.read()


def iter_lines(
    stream: IO[bytes], name: str, limits: ImportLimits, *, start: int = 1
) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line, each read with a bounded ``readline``;
    ``start`` is the number of the first line (when the caller read some already)."""
    longest = limits.max_line_bytes
    lineno = start - 1
    while True:
        line = stream.readline(longest + 1)
        if not line:
            return
        lineno += 1
        if len(line) > longest:
            raise TooLarge(
                f"{name}:{lineno}: the line is over {longest:,} bytes, more than the largest "
                f"message allowed ({limits.max_message_bytes:,} bytes, setting "
                "max_message_bytes) can take"
            )
        try:
            yield lineno, line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{name}:{lineno}: not UTF-8 text ({exc.reason})") from exc


def _unsafe_member(name: str) -> bool:
    for flavour in (PurePosixPath(name), PureWindowsPath(name)):
        if flavour.is_absolute() or flavour.anchor or ".." in flavour.parts:
            return True
    return False


_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


def zip_entries(
    path: Path, limits: ImportLimits, wanted: Callable[[str], bool]
) -> list[tuple[str, Callable[[], AbstractContextManager[IO[bytes]]]]]:
    """The members of the zip at ``path`` that ``wanted`` accepts, as stream openers.

    The whole archive is checked from its directory before anything is decompressed:
    the member count, every member's name, and the sizes the wanted members declare
    (see the module doc). Each opener then yields the member as a bounded stream that
    counts against what is left of ``import_max_unpacked_bytes`` for the whole archive.
    """
    check_file(path, limits)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{path.name}: not a readable zip file ({exc})") from exc
    if len(infos) > limits.max_entries:
        raise TooLarge(
            f"{path.name}: the zip holds {len(infos):,} files, over the limit of "
            f"{limits.max_entries:,} (setting import_max_entries)"
        )
    for info in infos:
        if _unsafe_member(info.filename):
            raise InvalidInput(
                f"{path.name}: member {info.filename!r} has an absolute path or '..'; "
                "refusing an archive that points outside itself"
            )
    chosen = [info for info in infos if not info.is_dir() and wanted(info.filename)]
    _check_declared(path, chosen, limits)
    used = [0]

    def opener(info: zipfile.ZipInfo) -> Callable[[], AbstractContextManager[IO[bytes]]]:
        name = f"{path.name}/{info.filename}"

        @contextmanager
        def open_member() -> Iterator[IO[bytes]]:
            with ExitStack() as stack:
                try:
                    archive = stack.enter_context(zipfile.ZipFile(path))
                    stream = stack.enter_context(archive.open(info))
                except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                    raise InvalidInput(f"{name}: cannot be read from the zip ({exc})") from exc
                bounded = _Bounded(stream, limits.max_unpacked_bytes, name, start=used[0])
                try:
                    yield io.BufferedReader(bounded, _CHUNK)
                finally:
                    used[0] = bounded.count

        return open_member

    return [(info.filename, opener(info)) for info in chosen]


def _check_declared(path: Path, members: list[zipfile.ZipInfo], limits: ImportLimits) -> None:
    """Refuse what the zip's directory says it holds, before decompressing anything."""
    total = sum(info.file_size for info in members)
    if total > limits.max_unpacked_bytes:
        raise TooLarge(
            f"{path.name}: unpacks to {total:,} bytes (as its directory declares), over "
            f"the limit of {limits.max_unpacked_bytes:,} bytes (setting "
            "import_max_unpacked_bytes)"
        )
    for info in members:
        name = f"{path.name}/{info.filename}"
        if info.compress_type not in _ZIP_METHODS:
            raise InvalidInput(
                f"{name}: compressed with method {info.compress_type}; threadkeep reads "
                "stored or deflated zip members (zip it again with the usual settings)"
            )
        if info.file_size > limits.max_bytes:
            raise TooLarge(
                f"{name}: declares {info.file_size:,} bytes unpacked, over the import limit "
                f"of {limits.max_bytes:,} bytes for one file (setting import_max_bytes)"
            )


def check_depth(value: Any, max_depth: int, where: str) -> None:
    """Refuse ``value`` when its containers nest deeper than ``max_depth`` (iteratively)."""
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise too_deep(where, max_depth)
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))


def too_deep(where: str, max_depth: int) -> InvalidInput:
    """The error for JSON at ``where`` nested deeper than ``max_depth`` levels."""
    return InvalidInput(
        f"{where}: JSON nested deeper than {max_depth} levels (setting import_max_depth)"
    )


def load_json(raw: bytes | str, where: str, limits: ImportLimits) -> Any:
    """Decode one JSON value, refusing bad JSON, bad UTF-8 and deep nesting by place."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{where}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: not UTF-8 text ({exc.reason})") from exc
    except RecursionError:
        # The decoder's own guard: deeper than any limit the setting allows.
        raise too_deep(where, limits.max_depth) from None
    # Nesting needs an opening bracket per level: with no more brackets than the limit
    # (counted in C, strings included) the walk cannot find too deep a value.
    if isinstance(raw, bytes):
        brackets = raw.count(b"[") + raw.count(b"{")
    else:
        brackets = raw.count("[") + raw.count("{")
    if brackets > limits.max_depth:
        check_depth(value, limits.max_depth, where)
    return value
