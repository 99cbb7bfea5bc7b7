"""Redaction of secrets in exports and shares (SPEC S6.2).

Guards against the two ways a redactor fails: a secret that survives into an export
(every kind is planted in realistic surroundings — a .env file, a curl command, a JSON
config, a stack trace, code — and inside nested JSON, dict keys included), and ordinary
text that gets mangled (hashes, UUIDs, base64, URLs, code and words that merely resemble
a prefix). Fake secrets are assembled at runtime from pieces so this file holds nothing
a secret scanner would flag.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import string
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadkeep.errors import InvalidInput
from threadkeep.redact import (
    BUILTIN_KINDS,
    DEFAULT_REDACTOR,
    Redactor,
    marker,
    redact_text,
    redact_value,
)

_ALNUM = string.ascii_letters + string.digits
_rng = random.Random(20240601)


def _random(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _b64url(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _pem(label: str, body_lines: int = 4, newline: str = "\n") -> str:
    dashes = "-" * 5
    kind = f"{label} " if label else ""
    lines = [f"{dashes}BEGIN {kind}PRIVATE KEY{dashes}"]
    lines += [_random(64, _ALNUM + "+/") for _ in range(body_lines)]
    lines.append(_random(20) + "==")
    lines.append(f"{dashes}END {kind}PRIVATE KEY{dashes}")
    return newline.join(lines)


# One fake secret per kind and variant: (kind, the secret as it appears in text).
SECRETS: list[tuple[str, str]] = [
    ("openai", "sk" + "-" + _random(48)),
    ("openai", "sk" + "-proj-" + _random(74, _ALNUM + "_-") + "T3Blbk" + _random(40)),
    ("openai", "sk" + "-svcacct-" + _random(80, _ALNUM + "_-")),
    ("anthropic", "sk" + "-ant-" + "api03-" + _random(93, _ALNUM + "_-") + "AA"),
    ("anthropic", "sk" + "-ant-" + "admin01-" + _random(93, _ALNUM + "_-") + "AA"),
    ("google", "AI" + "za" + _random(35, _ALNUM + "_-")),
    ("google", "ya" + "29." + "a0Af" + _random(120, _ALNUM + "_-")),
    ("aws", "AK" + "IA" + _random(16, string.ascii_uppercase + "234567")),
    ("aws", "AS" + "IA" + _random(16, string.ascii_uppercase + "234567")),
    ("github", "gh" + "p_" + _random(36)),
    ("github", "gh" + "o_" + _random(36)),
    ("github", "gh" + "u_" + _random(36)),
    ("github", "gh" + "s_" + _random(36)),
    ("github", "gh" + "r_" + _random(36)),
    ("github", "github" + "_pat_" + _random(22) + "_" + _random(59)),
    (
        "slack",
        "xo"
        + "xb-"
        + _random(12, string.digits)
        + "-"
        + _random(13, string.digits)
        + "-"
        + _random(24),
    ),
    (
        "slack",
        "xo"
        + "xp-"
        + _random(11, string.digits)
        + "-"
        + _random(12, string.digits)
        + "-"
        + _random(32, "abcdef0123456789"),
    ),
    ("slack", "xo" + "xa-2-" + _random(30)),
    ("slack", "xo" + "xr-" + _random(40)),
    ("slack", "xo" + "xs-" + _random(12, string.digits) + "-" + _random(30)),
    ("stripe", "sk" + "_live_" + _random(24)),
    ("stripe", "sk" + "_test_" + _random(99)),
    ("stripe", "rk" + "_live_" + _random(24)),
    ("stripe", "rk" + "_test_" + _random(24)),
    (
        "jwt",
        _b64url({"alg": "HS256", "typ": "JWT"})
        + "."
        + _b64url({"sub": "1234567890", "name": "Alice", "iat": 1516239022})
        + "."
        + _random(43, _ALNUM + "_-"),
    ),
    ("private_key", _pem("RSA")),
    ("private_key", _pem("EC", body_lines=2)),
    ("private_key", _pem("")),
    ("private_key", _pem("OPENSSH", body_lines=6)),
    ("private_key", _pem("ENCRYPTED")),
    # Fixed, not from _rng, so the other rows keep their values.
    ("threadkeep", "tk" + "_" + "3f9a0c1b7d2e4f68" + "_" + "Qv7-xR2_bN9k" * 3 + "Lm4pZ8"),
]

# Slack webhook, bearer, AWS secret and URL password only exist in context: (kind, text
# with the context, the secret part that must vanish, the context part that must stay).
WEBHOOK_SECRET = "T" + _random(8) + "/B" + _random(8) + "/" + _random(24)
AWS_SECRET = _random(40, _ALNUM + "/+")
BEARER_TOKEN = _random(40, _ALNUM + "-._~")
URL_PASSWORD = "p4ss" + _random(12)
IN_CONTEXT: list[tuple[str, str, str, str]] = [
    (
        "slack",
        "https://hooks" + ".slack.com/services/" + WEBHOOK_SECRET,
        WEBHOOK_SECRET,
        "https://hooks.slack.com/services/",
    ),
    ("aws", "aws_secret_access_key = " + AWS_SECRET, AWS_SECRET, "aws_secret_access_key = "),
    ("aws", "AWS_SECRET_ACCESS_KEY=" + AWS_SECRET, AWS_SECRET, "AWS_SECRET_ACCESS_KEY="),
    ("aws", '"SecretAccessKey": "' + AWS_SECRET + '"', AWS_SECRET, '"SecretAccessKey": "'),
    ("bearer", "Authorization: Bearer " + BEARER_TOKEN, BEARER_TOKEN, "Authorization: Bearer "),
    ("bearer", "token is Bearer " + BEARER_TOKEN + ".", BEARER_TOKEN, "token is Bearer "),
    (
        "url_password",
        "postgresql://app:" + URL_PASSWORD + "@db.internal:5432/prod",
        URL_PASSWORD,
        "postgresql://app:",
    ),
    ("url_password", "redis://:" + URL_PASSWORD + "@cache:6379/0", URL_PASSWORD, "@cache:6379/0"),
]

SURROUNDINGS = [
    "{}",
    "OPENAI_API_KEY={}\n",
    "export TOKEN='{}'; echo done",
    'curl -s -H "X-Api-Key: {}" https://api.example.com/v1/models',
    '{{"credentials": {{"key": "{}", "region": "us-east-1"}}}}',
    'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: bad key {}\n',
    'client = Client(api_key="{}")  # FIXME: move to env',
    "see ({}), then retry.",
]


def _assert_masked(out: str, counts: Counter[str], kind: str, secret: str) -> None:
    assert secret not in out
    assert marker(kind) in out
    assert counts[kind] >= 1


@pytest.mark.parametrize(("kind", "secret"), SECRETS)
@pytest.mark.parametrize("template", SURROUNDINGS)
def test_every_kind_is_masked_in_realistic_surroundings(
    kind: str, secret: str, template: str
) -> None:
    """A planted secret of each kind does not survive .env, curl, JSON, traceback or code."""
    text = template.format(secret)
    out, counts = redact_text(text)
    _assert_masked(out, counts, kind, secret)
    assert counts == Counter({kind: 1})
    assert out == template.format(marker(kind))


@pytest.mark.parametrize(("kind", "text", "secret", "kept"), IN_CONTEXT)
def test_contextual_kinds_mask_only_the_secret(
    kind: str, text: str, secret: str, kept: str
) -> None:
    """Webhook paths, labelled AWS secrets, bearer tokens and URL passwords lose only the
    secret: the label, the word Bearer, the URL's user and host stay readable."""
    out, counts = redact_text(text)
    assert secret not in out
    assert kept in out
    assert counts == Counter({kind: 1})


def test_private_key_variants() -> None:
    """PEM blocks with escaped newlines (JSON strings), encrypted headers and unterminated
    pastes are masked whole, and the text after them survives."""
    escaped = _pem("RSA", newline="\\n")
    encrypted = _pem("RSA").replace(
        "KEY-----\n", "KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,ABCDEF\n\n", 1
    )
    truncated = "\n".join(_pem("").split("\n")[:-1])
    for text in (escaped, encrypted, truncated):
        out, counts = redact_text('{"key": "' + text + '"}\nThen I ran it.')
        assert "PRIVATE KEY" not in out
        for line in re.split(r"\\n|\n", text):
            assert len(line) < 20 or line not in out
        assert out.endswith("\nThen I ran it.")
        assert counts == Counter({"private_key": 1})


def test_env_file_with_many_kinds_counts_each() -> None:
    """A whole .env file: every line's secret is masked and the report counts by kind."""
    lines = [f"VAR_{index}={secret}" for index, (_, secret) in enumerate(SECRETS[:25])]
    lines.append("DATABASE_URL=postgres://app:" + URL_PASSWORD + "@localhost/app")
    lines.append("AWS_SECRET_ACCESS_KEY=" + AWS_SECRET)
    out, counts = redact_text("\n".join(lines) + "\n")
    expected = Counter(kind for kind, _ in SECRETS[:25]) + Counter(url_password=1, aws=1)
    assert counts == expected
    for _, secret in SECRETS[:25]:
        assert secret not in out
    assert URL_PASSWORD not in out and AWS_SECRET not in out
    assert out.count("\n") == len(lines)


def test_provider_key_after_bearer_is_counted_once() -> None:
    """``Bearer sk-…`` is counted as the provider's key, not twice (provider rules run first)."""
    kind, secret = SECRETS[0]
    out, counts = redact_text(f"curl -H 'Authorization: Bearer {secret}' https://api.x")
    assert out == f"curl -H 'Authorization: Bearer {marker(kind)}' https://api.x"
    assert counts == Counter({kind: 1})


def test_nested_json_values_and_keys_are_redacted_without_mutation() -> None:
    """Secrets in dict values, dict keys, lists and tuples are masked; other scalars, and
    the input itself, are left untouched."""
    openai_key = SECRETS[0][1]
    github_key = SECRETS[9][1]
    jwt = SECRETS[24][1]
    value: dict[str, Any] = {
        "title": "debugging " + openai_key,
        github_key: {"note": "token as key"},
        "messages": [
            {"role": "user", "content": ["see", {"auth": "Bearer " + BEARER_TOKEN}]},
            {"role": "tool", "content": ("ok", jwt), "n": 3, "ok": True, "x": None, "f": 1.5},
        ],
        "count": 7,
    }
    original = copy.deepcopy(value)
    out, counts = redact_value(value)
    assert value == original
    dumped = json.dumps(out)
    for secret in (openai_key, github_key, jwt, BEARER_TOKEN):
        assert secret not in dumped
    assert counts == Counter(openai=1, github=1, bearer=1, jwt=1)
    assert out["title"] == "debugging " + marker("openai")
    assert out[marker("github")] == {"note": "token as key"}
    assert out["messages"][1]["content"] == ("ok", marker("jwt"))
    assert out["messages"][1]["n"] == 3 and out["messages"][1]["ok"] is True
    assert out["messages"][1]["x"] is None and out["count"] == 7


def test_keys_that_collide_after_masking_keep_every_value() -> None:
    """Two secret keys masking to the same marker do not overwrite each other."""
    first, second = SECRETS[9][1], SECRETS[10][1]
    out, counts = redact_value({first: 1, second: 2, "plain": 3})
    assert out == {marker("github"): 1, marker("github") + " (2)": 2, "plain": 3}
    assert counts == Counter(github=2)


@pytest.mark.parametrize("value", [None, True, 0, 1.5, "", [], {}, "plain words"])
def test_values_without_secrets_come_back_equal(value: Any) -> None:
    """Scalars, empties and plain strings are returned unchanged with an empty report."""
    out, counts = redact_value(value)
    assert out == value and type(out) is type(value)
    assert not counts


ORDINARY = [
    "request id 123e4567-e89b-12d3-a456-426614174000 failed",
    "fixed in commit 3f786850e387550fdab836ed7e6dc881de23001b (see 3f78685)",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "payload SGVsbG8sIHdvcmxkISBUaGlzIGlzIG5vdCBhIHRva2VuLg== decoded",
    "blob " + _b64url({"alg": "none", "kind": "not a jwt"}) + " is one segment",
    "config " + _b64url({"a": 1}) + "." + _b64url({"b": 2}) + " has two segments",
    "clone https://user@github.com/org/repo.git",
    "open https://example.com/path?x=1&y=2#frag and http://localhost:8080/api",
    "connect to postgresql://user@localhost/db",
    "mailto alice@example.com or bob.smith+tag@mail.example.org",
    "sk = skip_list[0]; ask-me; risk_test_cases_for_module",
    "task-ant-api is a word, so is ghost_writer and ghp_short",
    "the bearer of bad news; bearer bonds; Bearer $TOKEN; Bearer {token}; Bearer <token>",
    "headers = {'Authorization': f'Bearer {api_key}'}",
    "AKIA is a prefix, ASIA PACIFIC is a region, AKIAshort is not a key",
    "sk-learn-compatible-estimator-pipeline is a slug",
    "ya29. is where the Google token would go",
    "xoxb-your-token-goes-here",
    "the private key is kept in the vault; -----BEGIN PUBLIC KEY----- is fine",
    "aws_secret_access_key = <your secret here>",
    "ratio 3:4@home and C:\\Users\\me\\file.txt",
    "[REDACTED:openai] was already masked",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_not_mangled(text: str) -> None:
    """Hashes, UUIDs, base64, URLs without passwords, e-mails, code and look-alike words
    come back byte for byte, with an empty report."""
    assert redact_text(text) == (text, Counter())


def test_extra_patterns_mapping_list_and_secret_group() -> None:
    """Extra patterns from settings: named kinds, ``custom`` for a list, and a ``secret``
    group masks only that group."""
    named = Redactor({"employee_id": r"EMP-\d{6}", "pin": r"pin=(?P<secret>\d{4})"})
    out, counts = named.redact_text("EMP-123456 used pin=1234 and " + SECRETS[0][1])
    assert out == "[REDACTED:employee_id] used pin=[REDACTED:pin] and [REDACTED:openai]"
    assert counts == Counter(employee_id=1, pin=1, openai=1)
    listed = Redactor([r"internal-\w+", r"x*"])
    assert listed.redact_text("internal-host ok") == ("[REDACTED:custom] ok", Counter(custom=1))
    # Idempotent even for a pattern that would match the marker's own text.
    greedy = Redactor([r"REDACTED|custom"])
    once, first = greedy.redact_text("REDACTED custom")
    assert first == Counter(custom=2)
    assert greedy.redact_text(once) == (once, Counter())


@pytest.mark.parametrize(
    ("patterns", "named"),
    [
        ({"bad_one": "(unclosed"}, "bad_one"),
        (["fine", "[z-a]"], "custom"),
        ({"has space": "x"}, "has space"),
        ("just-a-string", "just-a-string"),
    ],
)
def test_invalid_extra_patterns_raise_invalid_input(patterns: Any, named: str) -> None:
    """A bad regex, a bad kind name or a bare string is refused up front, naming it."""
    with pytest.raises(InvalidInput) as caught:
        Redactor(patterns)
    assert named in caught.value.message


def test_default_redactor_and_builtin_kinds() -> None:
    """The module functions use the default redactor, which knows every documented kind."""
    assert BUILTIN_KINDS == {
        "openai", "anthropic", "google", "aws", "github", "slack", "stripe",
        "bearer", "jwt", "private_key", "url_password", "threadkeep",
    }  # fmt: skip
    text = "key " + SECRETS[3][1]
    assert redact_text(text) == DEFAULT_REDACTOR.redact_text(text)


def test_redacting_twice_changes_nothing() -> None:
    """Every planted secret, once masked, is neither changed nor counted again."""
    text = "\n".join(secret for _, secret in SECRETS) + "\n"
    text += "\n".join(context for _, context, _, _ in IN_CONTEXT)
    once, counts = redact_text(text)
    assert counts.total() == len(SECRETS) + len(IN_CONTEXT)
    assert redact_text(once) == (once, Counter())


def test_glued_secrets_are_all_masked() -> None:
    """Keys separated only by punctuation (``-``, ``,``) are each masked."""
    github, openai, jwt = SECRETS[9][1], SECRETS[0][1], SECRETS[24][1]
    out, counts = redact_text(github + "-" + openai + "," + jwt)
    assert out == marker("github") + "-" + marker("openai") + "," + marker("jwt")
    assert counts == Counter(github=1, openai=1, jwt=1)
    assert redact_text(out) == (out, Counter())


# Fragments that steer random text towards the patterns' edges.
_FRAGMENTS = [
    "sk-", "sk-ant-api03-", "sk-proj-", "sk_live_", "rk_test_", "AIza", "ya29.", "AKIA",
    "ASIA", "ghp_", "github_pat_", "xoxb-", "hooks.slack.com/services/", "Bearer ",
    "Authorization: ", "eyJ", ".", "://", ":", "@", "/", "-", "_", "=", "\n", "\\n", " ",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "Proc-Type: x",
    "aws_secret_access_key=", "[REDACTED:", "[REDACTED:openai]", "]", "A" * 16, "0" * 20,
    "aB3" * 7, "Zz9" * 12,
]  # fmt: skip
_steered = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=8), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.text() | _steered)
def test_any_text_never_raises_and_is_idempotent(text: str) -> None:
    """Property: redaction never raises, its report matches the markers it added, and a
    second pass changes and counts nothing."""
    once, counts = redact_text(text)
    assert all(count > 0 for count in counts.values())
    assert redact_text(once) == (once, Counter())


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | _steered,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=6) | _steered, children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_json_value_never_raises_and_is_idempotent(value: Any) -> None:
    """Property: any JSON-shaped value is walked without error, and walking the result
    again changes and counts nothing."""
    once, _ = redact_value(value)
    twice, counts = redact_value(once)
    assert not counts
    assert json.dumps(twice) == json.dumps(once)
