"""The writer the crash test kills: appends forever and acknowledges each append.

It writes ``ready`` once its store is open, then for every append that returned one
line ``ack <seq> <message id>``, flushed before the next append starts — so a line in
its output means the store acknowledged that append. It never stops on its own: it
runs until it is killed, and exits 1 (traceback in its error file) if anything fails.

The content of message ``<name>-<i>`` is :func:`expected_content` of its id (sizes
vary from a few bytes to a few pages), so the parent can check every stored message.

Two ways in, the same loop:

* :func:`write_until_killed`, a ``multiprocessing`` target: the crash test starts its
  writers from a fork server that has already imported threadkeep, so a round costs a
  fork instead of an interpreter start-up; each writer is still a process of its own
  that opens its own store after the fork.
* ``python tests/durability/writer.py URL CONVERSATION_ID NAME``: acknowledgements on
  stdout, for trying the writer by hand.
"""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

__all__ = ["expected_content", "main", "write_until_killed"]


def expected_content(message_id: str) -> str:
    """The content the writer stores under ``message_id`` (``<name>-<i>``)."""
    i = int(message_id.rsplit("-", 1)[1])
    return f"{message_id}|" + "abcdefghij"[i % 10] * ((i * 997) % 5000)


def _append_forever(url: str, conversation_id: str, name: str, out: TextIO) -> None:
    from threadkeep import open_store

    with open_store(url) as store:
        out.write("ready\n")
        out.flush()
        i = 0
        while True:
            message_id = f"{name}-{i}"
            message = store.append_message(
                conversation_id, "user", expected_content(message_id), id=message_id
            )
            out.write(f"ack {message.seq} {message.id}\n")
            out.flush()
            i += 1


def write_until_killed(url: str, conversation_id: str, name: str, output: str, errors: str) -> None:
    """Append to ``conversation_id`` until killed; acknowledgements go to ``output``."""
    try:
        with open(output, "w", encoding="utf-8") as out:
            _append_forever(url, conversation_id, name, out)
    except BaseException:
        with open(errors, "w", encoding="utf-8") as err:
            err.write(traceback.format_exc())
        raise SystemExit(1) from None


def main(argv: list[str]) -> int:
    url, conversation_id, name = argv
    _append_forever(url, conversation_id, name, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
