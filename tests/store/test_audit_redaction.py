"""The audit log keeps no secrets (SPEC S6.2, S7.5): every string of an entry's detail
is redacted before it is written — with the built-in kinds and the ``redact_patterns``
setting — because the log outlives what it records (a deleted conversation's title is
kept for ``audit_retention_days``).
"""

from __future__ import annotations

import json

from threadkeep import Settings, open_store

# Fake secrets built from their published formats (never real keys).
OPENAI_KEY = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5"
TICKET = "TKT-204816"  # matches the custom pattern below
URL = "postgresql://app:" + "s3cretPassw0rd" + "@db.internal:5432/prod"


def test_audit_details_are_redacted_before_they_are_written(db_url: str) -> None:
    """Guards against the audit log keeping a title's API key (or a secret matching a
    configured pattern) for 90 days after the conversation was deleted: create, rename
    and delete entries hold ``[REDACTED:<kind>]`` instead, as does a detail passed to
    ``record_audit`` (keys too), while the conversation itself keeps its title (audit
    redaction is not redaction on write) and export redaction being off changes
    nothing."""
    settings = Settings.load(
        audit_log=True, redact_patterns={"ticket": r"TKT-[0-9]{6}"}, redact_exports=False
    )
    with open_store(db_url, settings=settings) as store:
        conversation = store.create_conversation(title=f"deploy with {OPENAI_KEY}")
        assert store.get_conversation(conversation.id).title == f"deploy with {OPENAI_KEY}"
        store.update_conversation(conversation.id, title=f"ticket {TICKET}")
        store.delete_conversation(conversation.id)
        store.record_audit("export", detail={"file": "out.json", URL: [f"note {TICKET}"]})

        details = {e.action: e.detail for e in store.audit_entries().items}
        assert details["create"] == {"title": "deploy with [REDACTED:openai]"}
        assert details["rename"] == {
            "old_title": "deploy with [REDACTED:openai]",
            "new_title": "ticket [REDACTED:ticket]",
        }
        assert details["delete"] == {"title": "ticket [REDACTED:ticket]"}
        assert details["export"] == {
            "file": "out.json",
            "postgresql://app:[REDACTED:url_password]@db.internal:5432/prod": [
                "note [REDACTED:ticket]"
            ],
        }
        stored = json.dumps([e.to_dict() for e in store.audit_entries().items])
        for secret in (OPENAI_KEY, TICKET, "s3cretPassw0rd"):
            assert secret not in stored


def test_details_without_secrets_are_kept_as_they_are(db_url: str) -> None:
    """Guards against redaction mangling ordinary details (counts, ids, formats,
    titles without secrets) or an empty detail."""
    with open_store(db_url, settings=Settings.load(audit_log=True)) as store:
        conversation = store.create_conversation(title="Quarterly plan 2024-05, v2")
        store.record_audit(
            "export",
            conversation_id=conversation.id,
            detail={"format": "jsonl", "conversations": 1, "messages": 0, "ok": True},
        )
        store.record_audit("import")
        entries = {e.action: e.detail for e in store.audit_entries().items}
        assert entries == {
            "create": {"title": "Quarterly plan 2024-05, v2"},
            "export": {"format": "jsonl", "conversations": 1, "messages": 0, "ok": True},
            "import": None,
        }
