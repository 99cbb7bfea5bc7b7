"""The agent runtime (SPEC S4): send a message, get the reply streamed and stored.

``send.py`` is the pipeline (``Runtime.send``: queue -> context -> provider -> persist
-> events), on top of ``run_queue.py`` (one run at a time per conversation),
``titles.py`` (S4.6: a title after the first reply),
``prior_context.py`` (S4.1: the earlier conversation, within a budget, for a provider
that resumes without its own session) and ``providers/`` (the ``Provider`` protocol,
the registry fed by the ``register_providers`` hook, and the built-in providers).

The runtime is a use case beside ``transfer/``: it calls the store and asks the
plugins for providers; the server and the CLI call it.
"""
