"""Opens a store in a process of its own and reports what happened as one JSON line.

Usage: ``python tests/durability/sqlite_probe.py ACTION PATH [PATH2]``

The SQLite library is chosen once per process, so tests that need another choice than
the test process's (``THREADKEEP_SQLITE_DRIVER=sqlite3``, or two choices in a row) run
this instead. Actions:

``hold PATH``
    open the store, create a conversation, print ``{"ready": ...}``, then wait until
    stdin closes; then append one message and print the final report.
``open PATH``
    open the store, create a conversation, and report counts (or the error).
``mix PATH PATH2``
    open PATH with the default library, then PATH2 asking for ``sqlite_driver="sqlite3"``.
``version``
    report the standard library's ``sqlite3.sqlite_version`` (nothing is opened).

Every report carries the warnings threadkeep logged and the library in use.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

__all__ = ["main"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _report(records: _Records, **fields: Any) -> None:
    from threadkeep.db.sqlite_driver import sqlite_module

    chosen = sqlite_module()  # "auto" returns the library this process already chose
    fields["warnings"] = records.messages
    fields["library"] = [chosen.name, chosen.version]
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _error(error: BaseException) -> dict[str, Any]:
    return {"outcome": "error", "error": type(error).__name__, "message": str(error)}


def main(argv: list[str]) -> int:
    action, *paths = argv
    if action == "version":
        import sqlite3  # only to read the version: this process opens no database

        sys.stdout.write(json.dumps({"version": sqlite3.sqlite_version}) + "\n")
        return 0

    records = _Records()
    logging.getLogger("threadkeep").addHandler(records)
    from threadkeep import Settings, ThreadkeepError, open_store

    if action == "hold":
        with open_store(paths[0]) as store:
            conversation = store.create_conversation(title="held")
            _report(records, ready=True)
            sys.stdin.read()  # until the parent closes stdin
            message = store.append_message(conversation.id, "user", "still mine")
            _report(records, outcome="ok", seq=message.seq)
        return 0
    if action == "open":
        try:
            with open_store(paths[0]) as store:
                store.create_conversation(title="second")
                page = store.list_conversations(limit=100)
                counts = sorted(c.message_count for c in page.items)
        except ThreadkeepError as error:
            _report(records, **_error(error))
            return 0
        _report(records, outcome="ok", message_counts=counts)
        return 0
    if action == "mix":
        with open_store(paths[0]):
            pass
        try:
            open_store(paths[1], settings=Settings.load(sqlite_driver="sqlite3")).close()
        except ThreadkeepError as error:
            _report(records, **_error(error))
            return 0
        _report(records, outcome="ok")
        return 0
    raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
