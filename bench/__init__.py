"""threadkeep's benchmark: the store side by side with a raw-SQLite baseline and two peers.

Run it with ``python -m bench`` (``--quick`` for a smoke run, ``--scale`` for the
1,000,000-conversation fixture); see ``bench/README.md``.

Layout, one concern per module:

* ``workloads`` — the sizes and the workloads W1-W4, written once against the
  :class:`bench.systems.System` interface, with their timing.
* ``systems`` — that interface and the factory that opens a system by name.
* ``baseline`` — plain DB-API calls on threadkeep's own SQLite library.
* ``threadkeep_adapter`` — the threadkeep sync store.
* ``peers`` — OpenAI Agents SDK ``SQLiteSession`` and LangChain ``SQLChatMessageHistory``.
* ``scale`` — the optional 1M-conversation / 10M-message fixture, built with bulk inserts.
* ``worker`` — the child process: runs one job for one system, prints JSON.
* ``runner`` — the parent: schedules jobs in fresh subprocesses, aggregates medians.
* ``machine`` — the header line (CPU, cores, RAM, Python, SQLite).
* ``report`` — the Markdown table with ratios and target marks, and the JSON file.

Nothing here asserts on timings: this is a measurement, not a test.
"""
