"""Secrets in text and JSON values, replaced by ``[REDACTED:<kind>]`` and counted by kind.

Exports and shares (SPEC S6.2) pass every title, content and metadata value through a
:class:`Redactor`; each call returns the new value and a :class:`collections.Counter`
of what it masked, so an export can say "3 openai, 1 private_key".

What is matched — each provider's published token format, never "long random strings":

* ``private_key``  whole ``-----BEGIN … PRIVATE KEY-----`` … ``-----END … PRIVATE KEY-----``
  blocks (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ``… KEY BLOCK``), also with escaped
  ``\\n`` as in a JSON string; an unterminated block loses its header and base64 lines.
* ``openai`` ``sk-…``, ``sk-proj-…``, ``sk-svcacct-…``, ``sk-admin-…``;
  ``anthropic`` ``sk-ant-api03-…``, ``sk-ant-admin01-…`` (any ``sk-ant-<word><NN>-``);
  ``google`` ``AIza`` + 35 characters and ``ya29.`` OAuth access tokens;
  ``aws`` key ids ``AKIA``/``ASIA`` + 16 upper-case alphanumerics, and secret access keys
  only after a label (``aws_secret_access_key =``, ``AWS_SECRET_ACCESS_KEY=``,
  ``"SecretAccessKey": "…"``) because a bare 40-character base64 string cannot be told
  from a hash; ``github`` ``ghp_/gho_/ghu_/ghs_/ghr_`` + 36 and ``github_pat_…``;
  ``slack`` ``xoxb-/xoxp-/xoxa-/xoxr-/xoxs-/xoxe-/xoxo-`` tokens and the secret path of
  ``hooks.slack.com`` webhook URLs; ``stripe`` ``sk_/rk_`` + ``live_/test_``.
* ``jwt`` three base64url segments whose first *two* start ``eyJ`` (a JSON object), so a
  base64 blob that happens to start ``eyJ`` is left alone.
* ``bearer`` the token after ``Bearer`` (the word is kept); ``url_password`` the password
  of ``scheme://user:password@host`` (user and host are kept).
* Extra patterns from settings (:class:`Redactor` ``extra_patterns``): a pattern with a
  ``(?P<secret>…)`` group masks only that group, otherwise the whole match.

How patterns are anchored, and why:

* Every token pattern starts with its literal prefix (so the regex engine scans for it
  quickly) and must not be glued to a longer word on either side: ``task-ant-api…``,
  ``ghost_…`` or ``risk_test_…`` are words, not keys. The left edge is checked on the
  match rather than with a look-behind, which would cost the literal-prefix scan.
* Lengths are the providers' own (exactly 35 after ``AIza``, 16 after ``AKIA``, at least
  36 after ``ghp_``); where a prefix is short and a word could follow it (``sk-``,
  ``sk_test_``, ``xoxb-``, a bare ``Bearer x``), the rest must also look random — at
  least two of lower case, upper case and digits, or a digit — so a slug such as
  ``sk-some-long-page-name`` or the phrase "the bearer of bad news" survives.
* Provider patterns run before ``jwt``, ``bearer`` and ``url_password``, so
  ``Bearer sk-proj-…`` is counted as ``openai``, once.

Deliberately not matched, to avoid mangling ordinary text: hex digests (git SHAs,
sha256), UUIDs, generic base64, ``password=`` assignments, e-mail addresses, URLs
without a password (``https://user@host``, ``https://host:8080/x``), placeholders such
as ``Bearer $TOKEN`` or ``Bearer {token}``, and Google/AWS ids outside their exact lengths.

Guarantees: the functions are pure (no I/O, inputs never mutated) and never raise on any
text. Redaction is idempotent: a marker is never matched again, and a call repeats its
passes until one masks nothing (a replacement can expose a neighbour, as when a key glued
to another key is replaced), so redacting redacted text changes and counts nothing. Text
without any candidate prefix costs one lower-casing and a few substring tests.
"""

from __future__ import annotations

import bisect
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from threadkeep.errors import InvalidInput

__all__ = [
    "BUILTIN_KINDS",
    "DEFAULT_REDACTOR",
    "Redactor",
    "marker",
    "redact_text",
    "redact_value",
]

# A kind is what appears inside the marker, so it is restricted to what the marker
# pattern below recognises (otherwise a custom kind's marker could be matched again).
_KIND = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MARKER = re.compile(r"\[REDACTED:[A-Za-z0-9_.-]{1,64}\]")
_MARKER_START = "[REDACTED:"

# Each pass masks at least one more character outside markers, so passes terminate on
# their own; the cap only bounds adversarial input.
_MAX_PASSES = 32

_ALNUM = frozenset(string.ascii_letters + string.digits)
_TOKEN_CHARS = _ALNUM | {"_", "-"}


def marker(kind: str) -> str:
    """The text that replaces a secret of ``kind``."""
    return f"[REDACTED:{kind}]"


def _looks_random(token: str) -> bool:
    """At least two of lower case, upper case and digits: keys are random, words are not."""
    lower = upper = digit = False
    for char in token:
        if char.isdigit():
            digit = True
        elif char.islower():
            lower = True
        elif char.isupper():
            upper = True
    return lower + upper + digit >= 2


def _has_digit(token: str) -> bool:
    return any(char.isdigit() for char in token)


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    # Lower-case substrings, one of which must occur in the text for the rule to run
    # (the fast path); empty means always run (extra patterns).
    literals: tuple[str, ...] = ()
    # A match preceded by one of these characters is the tail of a longer word.
    left: frozenset[str] = frozenset()
    # Receives the match and the secret text; False keeps the match as it is.
    check: Callable[[re.Match[str], str], bool] | None = None


def _random_token(_match: re.Match[str], secret: str) -> bool:
    return _looks_random(secret)


def _digit_token(_match: re.Match[str], secret: str) -> bool:
    return _has_digit(secret)


def _bearer_token(match: re.Match[str], secret: str) -> bool:
    # After an Authorization header anything token-shaped is a credential; in free text
    # "Bearer" is also an English word, so the token must look random and be long.
    if match.group("auth"):
        return len(secret) >= 8
    return len(secret) >= 16 and (_has_digit(secret) or _looks_random(secret))


_PEM_LABEL = r"[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
# Newlines inside the block: real ones, or escaped as in a JSON string or a .env value.
_PEM_NEWLINE = r"(?:\r?\n|\\r\\n|\\n)[ \t]*"
# A base64 line or a "Proc-Type: 4,ENCRYPTED" header line, ending at a newline.
_PEM_LINE = r"(?:[A-Za-z0-9+/=]+|[A-Za-z][A-Za-z-]*:[^\r\n\\]*)(?=[\r\n\\\"']|-----|\Z)"

_BUILTIN_RULES: tuple[_Rule, ...] = (
    _Rule(
        "private_key",
        re.compile(
            # A terminated block: anything up to the END line, but never across another
            # "-----", which keeps the scan linear however many headers the text holds.
            rf"-----BEGIN {_PEM_LABEL}"
            r"(?:[^-]*(?:-(?!----)[^-]*)*"
            rf"-----END {_PEM_LABEL}"
            # An unterminated block (a truncated paste): its header and key lines only.
            rf"|(?:(?:{_PEM_NEWLINE})+{_PEM_LINE})*)"
        ),
        ("private key",),
    ),
    _Rule(
        "slack",
        re.compile(
            r"hooks\.slack\.com/(?:services|workflows|triggers)/"
            r"(?P<secret>[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*)"
        ),
        ("hooks.slack.com",),
    ),
    _Rule(
        "anthropic",
        re.compile(r"sk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"),
        ("sk-ant-",),
        _ALNUM,
    ),
    _Rule(
        "openai",
        re.compile(r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"),
        ("sk-",),
        _ALNUM,
        _random_token,
    ),
    _Rule(
        "stripe",
        re.compile(r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,}(?![A-Za-z0-9_])"),
        ("k_live_", "k_test_"),
        _ALNUM,
        _random_token,
    ),
    _Rule(
        "github",
        re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}(?![A-Za-z0-9_])"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        _ALNUM,
        _random_token,
    ),
    _Rule(
        "github",
        re.compile(r"github_pat_[A-Za-z0-9_]{30,}(?![A-Za-z0-9_])"),
        ("github_pat_",),
        _ALNUM,
        _random_token,
    ),
    _Rule(
        "threadkeep",
        # threadkeep's own API keys (accounts.py): tk_<16 hex key id>_<secret>.
        re.compile(r"tk_[0-9a-f]{16}_[A-Za-z0-9_-]{20,128}(?![A-Za-z0-9_-])"),
        ("tk_",),
        _ALNUM,
    ),
    _Rule(
        "slack",
        re.compile(r"xox[abeoprs]-[A-Za-z0-9-]{10,}(?![A-Za-z0-9_-])"),
        ("xox",),
        _ALNUM,
        _digit_token,
    ),
    _Rule(
        "google",
        re.compile(r"AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
        ("aiza",),
        _ALNUM,
    ),
    _Rule(
        "google",
        # Service-account tokens have dots inside (ya29.c.c0…); a final dot is prose.
        re.compile(r"ya29\.[A-Za-z0-9_.-]{19,}[A-Za-z0-9_-](?![A-Za-z0-9_-])"),
        ("ya29.",),
        _ALNUM,
        _random_token,
    ),
    _Rule(
        "aws",
        re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
        ("akia", "asia"),
        _ALNUM,
    ),
    _Rule(
        "aws",
        re.compile(
            r"(?i:(?:aws[_-]?)?secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key)"
            r"(?:[\"']?[ \t]*(?::=|=>|[:=])[ \t]*[\"']?|[ \t]+)"
            r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        ("access_key", "accesskey", "access-key", "secret_key", "secretkey", "secret-key"),
    ),
    _Rule(
        "jwt",
        re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?![A-Za-z0-9_-])"),
        ("eyj",),
        _ALNUM,
    ),
    _Rule(
        "bearer",
        re.compile(
            r"(?i:(?P<auth>authorization[\"']?[ \t]*[:=][ \t]*[\"']?)?bearer)[ \t]+"
            # RFC 6750 b64token; a trailing dot is the end of a sentence.
            r"(?P<secret>[A-Za-z0-9._~+/-]*[A-Za-z0-9_~+/-]=*)"
            r"(?![A-Za-z0-9_~+/=-]|\.[A-Za-z0-9_~+/-])"
        ),
        ("bearer",),
        _ALNUM,
        _bearer_token,
    ),
    _Rule(
        "url_password",
        # Anchored on "://" (fast to scan for); "user" may be empty (redis://:pw@host), a
        # port ("host:8080/") never reaches the "@", and the password runs to the last "@"
        # before the host.
        re.compile(
            r"://(?P<user>[^\s:/?#\[\]\"'<>]*):"
            r"(?P<secret>[^\s/?#\[\]\"'<>]+)@(?=[^\s/?#@\"'<>])"
        ),
        ("://",),
    ),
)

BUILTIN_KINDS: frozenset[str] = frozenset(rule.kind for rule in _BUILTIN_RULES)


def _compile_extra(extra_patterns: Mapping[str, str] | Sequence[str]) -> tuple[_Rule, ...]:
    if isinstance(extra_patterns, str):
        raise InvalidInput(
            "extra redaction patterns must be a list of regular expressions or a "
            f"name-to-expression mapping, not the single string {extra_patterns!r}"
        )
    named: list[tuple[str, str]]
    if isinstance(extra_patterns, Mapping):
        named = [(str(name), pattern) for name, pattern in extra_patterns.items()]
    else:
        named = [("custom", pattern) for pattern in extra_patterns]
    rules: list[_Rule] = []
    for kind, source in named:
        if not _KIND.fullmatch(kind):
            raise InvalidInput(
                f"redaction pattern name {kind!r} must be 1-64 letters, digits, '_', '.' or '-'"
            )
        if not isinstance(source, str):
            raise InvalidInput(f"redaction pattern {kind!r} must be a string, not {source!r}")
        try:
            compiled = re.compile(source)
        except re.error as exc:
            raise InvalidInput(
                f"redaction pattern {kind!r} ({source!r}) is not a valid regular expression: {exc}"
            ) from exc
        rules.append(_Rule(kind, compiled))
    return tuple(rules)


class Redactor:
    """Masks the built-in secret kinds plus ``extra_patterns``; immutable and thread-safe.

    ``extra_patterns`` is a name→regex mapping (the name is the kind) or a list of regexes
    (kind ``custom``); an invalid one raises :class:`~threadkeep.errors.InvalidInput`.
    """

    __slots__ = ("_rules",)

    def __init__(self, extra_patterns: Mapping[str, str] | Sequence[str] = ()) -> None:
        self._rules: tuple[_Rule, ...] = _BUILTIN_RULES + _compile_extra(extra_patterns)

    def redact_text(self, text: str) -> tuple[str, Counter[str]]:
        """Return ``text`` with every secret masked, and the count of masks by kind."""
        counts: Counter[str] = Counter()
        for _ in range(_MAX_PASSES):
            masked_before = counts.total()
            text = self._pass(text, counts)
            if counts.total() == masked_before:
                break
        return text, counts

    def redact_value(self, value: Any) -> tuple[Any, Counter[str]]:
        """Return a redacted copy of a JSON value (dict keys too) and the counts by kind.

        Dicts, lists and tuples are rebuilt, strings redacted, other scalars returned as
        they are; the input is never mutated. If masking makes two keys equal, the later
        one gets a `` (2)``, `` (3)`` … suffix so no value is lost.
        """
        counts: Counter[str] = Counter()
        return self._walk(value, counts), counts

    def _walk(self, value: Any, counts: Counter[str]) -> Any:
        if isinstance(value, str):
            text, found = self.redact_text(value)
            counts.update(found)
            return text
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = self._walk(key, counts) if isinstance(key, str) else key
                if new_key in out:
                    suffix = 2
                    while f"{new_key} ({suffix})" in out:
                        suffix += 1
                    new_key = f"{new_key} ({suffix})"
                out[new_key] = self._walk(item, counts)
            return out
        if isinstance(value, list):
            return [self._walk(item, counts) for item in value]
        if isinstance(value, tuple):
            return tuple(self._walk(item, counts) for item in value)
        return value

    def _pass(self, text: str, counts: Counter[str]) -> str:
        folded = text.lower()
        for rule in self._rules:
            if rule.literals and not any(literal in folded for literal in rule.literals):
                continue
            text = _apply(rule, text, counts)
        return text


def _apply(rule: _Rule, text: str, counts: Counter[str]) -> str:
    """One rule over ``text``, skipping matches that touch an existing marker."""
    spans = [found.span() for found in _MARKER.finditer(text)] if _MARKER_START in text else []
    starts = [start for start, _ in spans]
    has_secret_group = "secret" in rule.pattern.groupindex
    replacement = marker(rule.kind)

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        start, end = match.span("secret") if has_secret_group else match.span()
        if start >= end:  # an empty match, or an optional group that took no part
            return whole
        if rule.left and match.start() > 0 and text[match.start() - 1] in rule.left:
            return whole
        index = bisect.bisect_right(starts, end - 1) - 1
        if index >= 0 and spans[index][1] > start:
            return whole
        if rule.check is not None and not rule.check(match, text[start:end]):
            return whole
        counts[rule.kind] += 1
        offset = match.start()
        return whole[: start - offset] + replacement + whole[end - offset :]

    return rule.pattern.sub(replace, text)


DEFAULT_REDACTOR = Redactor()


def redact_text(text: str) -> tuple[str, Counter[str]]:
    """:meth:`Redactor.redact_text` with the built-in kinds only."""
    return DEFAULT_REDACTOR.redact_text(text)


def redact_value(value: Any) -> tuple[Any, Counter[str]]:
    """:meth:`Redactor.redact_value` with the built-in kinds only."""
    return DEFAULT_REDACTOR.redact_value(value)
