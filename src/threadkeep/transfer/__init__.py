"""Moving conversations in and out: threadkeep's own document format and foreign formats.

Every importer — threadkeep JSON/JSONL and the foreign formats of ``formats/`` — turns
its input into :mod:`threadkeep.transfer.records` first; only those records are written
to the store, so validation, limits, redaction and idempotency live in one place.
"""
