"""Redaction in exports (on by default) and on write (``redact_on_write``), SPEC S6.2.

Every kind of secret is planted in every field an export carries — message content and
metadata, conversation title, context and tags — and none may survive an export in any
format; ordinary text that looks a little like a secret must come through untouched.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.transfer.helpers import snapshot
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.store.imports import ConversationImport, MessageImport
from threadkeep.transfer.exporter import export_to_path
from threadkeep.transfer.importer import import_paths

# One real-looking secret of every kind, keyed by the kind it is reported as; the value
# after it is a part of it that is distinctive and needs no JSON escaping.
SECRETS: dict[str, tuple[str, str]] = {
    "openai": ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "Ab3dEf6hIj9kLm2nOp5q"),
    "anthropic": (
        "sk-ant-api03-Zy9xWv8uTs7rQp6oNm5lKj4iHg3fEd2cBa1_-XyZ",
        "Zy9xWv8uTs7rQp6oNm5l",
    ),
    "google": ("AIzaSyB1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6R", "SyB1c2D3e4F5g6H7i8J9"),
    "aws": ("AKIAQWERTYUIOPASDFGH", "QWERTYUIOPASDFGH"),
    "github": ("ghp_" + "a1B2c3D4" * 4 + "e5F6", "a1B2c3D4a1B2c3D4a1B2"),
    "slack": ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "1234567890123-AbCdEf"),
    "stripe": ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zd"),
    "bearer": ("Authorization: Bearer q8W3e5R7t9Y1u3I5o7P9", "q8W3e5R7t9Y1u3I5o7P9"),
    "jwt": (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWF",
        "dBjftJeZ4CVPmB92K27uhbUJU1p1r",
    ),
    "private_key": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
        "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo",
    ),
    "url_password": ("postgres://ana:Hunter2Pass0rd@db.example.com:5432/app", "Hunter2Pass0rd"),
    "ticket": ("TKT-482913", "TKT-482913"),
}
EXTRA_PATTERNS = {"ticket": r"TKT-[0-9]{6}"}
ALL_SECRETS = "\n".join(f"{kind}: {secret} ." for kind, (secret, _) in SECRETS.items())

ORDINARY = """\
Commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it; see issue
0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c. The file's sha256 is
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 as expected.
```python
def total(items: list[int]) -> int:
    password = input("password: ")  # prompts, no secret here
    return sum(x ** 2 for x in items)
```
Connect to https://ana@example.com:8080/path?q=1 with header `Bearer $TOKEN`.
The page is /docs/sk-some-long-page-name and the bearer of bad news was late.
"""


@pytest.fixture
def redacting_store(db_url: str) -> Iterator[ConversationStore]:
    settings = Settings.load(redact_patterns=EXTRA_PATTERNS)
    with open_store(db_url, settings=settings) as opened:
        yield opened


def _plant(store: ConversationStore) -> None:
    """Every secret in content, metadata (a value and a key), title, context and a tag."""
    conversation = store.create_conversation(
        title=ALL_SECRETS,
        context={"env": ALL_SECRETS, "nested": [{"token": SECRETS["openai"][0]}]},
        tags=["plain", SECRETS["aws"][0]],
    )
    store.append_message(
        conversation.id,
        "user",
        ALL_SECRETS,
        metadata={"raw": ALL_SECRETS, SECRETS["github"][0]: "as a key"},
    )
    store.append_message(conversation.id, "assistant", ORDINARY)


@pytest.mark.parametrize("name", ["out.json", "out.jsonl", "out.md", "out.jsonl.gz"])
def test_no_secret_survives_an_export(
    redacting_store: ConversationStore, tmp_path: Path, name: str
) -> None:
    """Guards against any secret kind leaking through any field of any export format,
    and against the report miscounting what was masked."""
    _plant(redacting_store)
    path = tmp_path / name
    report = export_to_path(redacting_store, path)
    raw = path.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    text = raw.decode()
    for kind, (secret, part) in SECRETS.items():
        assert part not in text, f"{kind} survived in {name}"
        assert secret not in text
    assert set(report.redacted) == set(SECRETS)
    # title, context, content and metadata each hold one of every kind.
    assert all(report.redacted[kind] >= 4 for kind in SECRETS)
    assert report.redacted["openai"] == 5 and report.redacted["aws"] == 5
    assert report.redacted["github"] == 5
    for kind in SECRETS:
        assert f"[REDACTED:{kind}]" in text


def test_redaction_can_be_turned_off(redacting_store: ConversationStore, tmp_path: Path) -> None:
    """Guards: redact=False exports secrets as they are (and the test above can see
    them), and the redact_exports setting is what the default follows."""
    _plant(redacting_store)
    report = export_to_path(redacting_store, tmp_path / "raw.json", redact=False)
    text = (tmp_path / "raw.json").read_text()
    assert report.redacted == {}
    assert SECRETS["openai"][0] in text and SECRETS["ticket"][0] in text


def test_setting_turns_export_redaction_off(db_url: str, tmp_path: Path) -> None:
    """Guards: redact_exports=false is honoured when the caller does not choose."""
    with open_store(db_url, settings=Settings.load(redact_exports=False)) as store:
        conversation = store.create_conversation(title="key " + SECRETS["openai"][0])
        report = export_to_path(store, tmp_path / "x.jsonl")
    assert report.redacted == {}
    assert SECRETS["openai"][0] in (tmp_path / "x.jsonl").read_text()
    assert conversation.title is not None


def test_ordinary_text_is_not_mangled(redacting_store: ConversationStore, tmp_path: Path) -> None:
    """Guards against redaction eating UUIDs, git SHAs, hashes in prose, code, URLs
    without passwords, placeholders and words that merely start like a key prefix."""
    conversation = redacting_store.create_conversation(title="Review of 3f786850e387")
    redacting_store.append_message(conversation.id, "user", ORDINARY, metadata={"t": ORDINARY})
    path = tmp_path / "ordinary.jsonl"
    report = export_to_path(redacting_store, path)
    assert report.redacted == {}
    message = next(
        json.loads(line)
        for line in path.read_text().splitlines()
        if json.loads(line).get("type") == "message"
    )
    assert message["content"] == ORDINARY
    assert message["metadata"] == {"t": ORDINARY}


# -- redaction on write ------------------------------------------------------------------


@pytest.fixture
def scrubbing_store(db_url: str) -> Iterator[ConversationStore]:
    settings = Settings.load(redact_on_write=True, redact_patterns=EXTRA_PATTERNS)
    with open_store(db_url, settings=settings) as opened:
        yield opened


def _stored_text(store: ConversationStore) -> str:
    return json.dumps(snapshot(store), default=str, ensure_ascii=False)


def test_redact_on_write_keeps_secrets_out_of_the_database(
    scrubbing_store: ConversationStore,
) -> None:
    """Guards against a secret reaching the database through create, rename, context
    (replace and merge), append, update or fork when redact_on_write is on."""
    store = scrubbing_store
    conversation = store.create_conversation(title=ALL_SECRETS, context={"env": ALL_SECRETS})
    store.update_conversation(conversation.id, title="renamed " + SECRETS["jwt"][0])
    store.update_conversation(conversation.id, context_merge={"more": SECRETS["slack"][0]})
    message = store.append_message(
        conversation.id, "user", ALL_SECRETS, metadata={"raw": ALL_SECRETS}
    )
    assert SECRETS["openai"][0] not in message.content
    store.update_message(
        conversation.id, message.id, content=ALL_SECRETS, metadata=[SECRETS["aws"][0]]
    )
    fork = store.fork_conversation(conversation.id, title="fork " + SECRETS["google"][0])
    other = store.create_conversation(context={"x": 1})
    store.update_conversation(other.id, context={"key": SECRETS["stripe"][0]})

    stored = _stored_text(store)
    for kind, (secret, part) in SECRETS.items():
        assert part not in stored, f"{kind} reached the database"
        assert secret not in stored
    assert "[REDACTED:ticket]" in stored and fork.title == "fork [REDACTED:google]"


def test_redact_on_write_applies_to_imports(
    scrubbing_store: ConversationStore, tmp_path: Path
) -> None:
    """Guards: an import obeys redact_on_write too, and reports what it masked."""
    source = tmp_path / "chat.json"
    source.write_text(
        json.dumps(
            {
                "title": ALL_SECRETS,
                "messages": [
                    {"role": "user", "content": ALL_SECRETS},
                ],
            }
        )
    )
    report = import_paths(scrubbing_store, [source], format="openai-messages")
    assert report.conversations_imported == 1
    assert set(report.redacted) == set(SECRETS)
    stored = _stored_text(scrubbing_store)
    for kind, (_, part) in SECRETS.items():
        assert part not in stored, f"{kind} reached the database through an import"


def test_imports_keep_secrets_when_redact_on_write_is_off(store: ConversationStore) -> None:
    """Guards: import redaction follows redact_on_write only (off by default), so a
    backup restores exactly what it holds."""
    result = store.import_conversations(
        [
            ConversationImport(
                import_key="t:1",
                title=SECRETS["openai"][0],
                messages=[MessageImport(role="user", content=SECRETS["aws"][0])],
            )
        ]
    )
    assert result.redacted == {}
    stored: Any = _stored_text(store)
    assert SECRETS["openai"][0] in stored and SECRETS["aws"][0] in stored
