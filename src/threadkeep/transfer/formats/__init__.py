"""The formats threadkeep moves conversations in and out of, and what a format is.

A :class:`Format` is the contract between threadkeep and the code that reads or writes
one kind of file; the built-in formats and third-party plugins provide them alike,
through the ``register_formats`` hook (``threadkeep.hookspecs``). The modules of this
package are the parsers of the built-in foreign formats; each turns a file into
:class:`~threadkeep.transfer.records.ImportedConversation` records.

An import format has ``detect`` and ``load``; an export format has ``writer``. A format
may have both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from threadkeep.models import Conversation, Message
from threadkeep.transfer.limits import ImportLimits
from threadkeep.transfer.records import ImportedConversation

__all__ = ["DocumentWriter", "Format"]


class DocumentWriter(Protocol):
    """Writes one export document, streaming: ``conversation`` starts a conversation,
    ``messages`` (called any number of times) adds to the current one, ``close``
    finishes the document. Values arrive already redacted when redaction is on."""

    def conversation(self, conversation: Conversation) -> None: ...

    def messages(self, messages: Sequence[Message]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Format:
    """One format, as registered through the ``register_formats`` hook.

    * ``name``: what ``--format`` takes (lower case, letters, digits and ``-``).
    * ``detect(path) -> bool``: whether a file (or a directory) is in this format; it
      must be cheap (read at most the first few kilobytes) and never raise.
    * ``load(path, limits)``: the conversations of one file, as records; it must keep
      to ``limits`` (see ``threadkeep.transfer.limits`` for readers that do) and raise
      ``InvalidInput``/``TooLarge`` naming the place of a problem. It is called twice
      per import (once to check everything, once to write), so it must be repeatable.
    * ``files(directory)``: the files of this format under a directory given as an
      import argument (``~/.claude/projects`` → its ``*/*.jsonl``).
    * ``file_scoped_ids``: the source ids are unique only within one file (a session
      called ``default`` in two databases), so the file's path is part of what makes a
      re-import recognisable.
    * ``writer(out)``: a :class:`DocumentWriter` for exports to ``out``; ``suffixes``
      are the file name endings that choose this format on export (``.md``).
    """

    name: str
    description: str
    detect: Callable[[Path], bool] | None = None
    load: Callable[[Path, ImportLimits], Iterator[ImportedConversation]] | None = None
    files: Callable[[Path], list[Path]] | None = None
    file_scoped_ids: bool = False
    writer: Callable[[BinaryIO], DocumentWriter] | None = None
    suffixes: tuple[str, ...] = ()
