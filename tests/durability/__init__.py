"""Durability tests (SPEC S2, S12): several processes, killed processes, real files.

Each test names in its docstring the failure it guards against. Helpers that run in
other processes live beside the tests: ``workers.py`` (targets for ``multiprocessing``
with the spawn context), ``writer.py`` (the writer the crash test kills) and
``sqlite_probe.py`` (opens a store with a given SQLite library and reports back).
"""
