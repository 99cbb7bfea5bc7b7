"""Settings: one validated model, from ``THREADKEEP_*`` env > ``threadkeep.toml`` > defaults.

The data directory is the platform's user data dir for ``threadkeep`` (``platformdirs``),
or ``THREADKEEP_HOME`` when set; it holds the default database (``threadkeep.db``) and
the settings file (``threadkeep.toml``). Command-line flags (S7.4) are passed as keyword
arguments and win over everything: ``Settings(database_url=...)``.

A secret (``openai_api_key``, see ``SECRET_SETTINGS``) is a ``SecretStr``: it prints as
``**********`` and only the code that sends it calls ``get_secret_value()``.

An invalid value fails at start with ``InvalidInput`` naming the setting, the source it
came from (environment variable or TOML key) and what is accepted — never later, deep in
a request.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from threadkeep.errors import InvalidInput

__all__ = ["Settings", "data_dir"]

SETTINGS_FILE = "threadkeep.toml"
DEFAULT_DB_FILE = "threadkeep.db"


def data_dir() -> Path:
    """The data directory: ``THREADKEEP_HOME`` or the platform's user data dir."""
    home = os.environ.get("THREADKEEP_HOME")
    if home:
        return Path(home).expanduser()
    return Path(platformdirs.user_data_dir("threadkeep", appauthor=False))


class _TomlSource(PydanticBaseSettingsSource):
    """Reads ``threadkeep.toml`` from the data directory (flat ``key = value`` pairs)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = data_dir() / SETTINGS_FILE
        self.values: dict[str, Any] = {}
        if self.path.is_file():
            try:
                self.values = tomllib.loads(self.path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"settings file {self.path} is not valid TOML: {exc}") from exc
            unknown = sorted(set(self.values) - set(settings_cls.model_fields))
            if unknown:
                raise InvalidInput(
                    f"settings file {self.path} has unknown setting(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(settings_cls.model_fields))}"
                )

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _source_of(name: str, overrides: dict[str, Any]) -> str:
    """Where the value of setting ``name`` came from, in the order they are consulted."""
    env = f"THREADKEEP_{name.upper()}"
    if name in overrides:
        return "given as an argument or command-line flag"
    if any(key.upper() == env for key in os.environ):
        return f"environment variable {env}"
    path = data_dir() / SETTINGS_FILE
    if path.is_file():
        try:
            if name in tomllib.loads(path.read_text(encoding="utf-8")):
                return f"key {name!r} in {path}"
        except (OSError, ValueError):
            pass
    return f"env {env} or key {name!r} in {path}"


class Settings(BaseSettings):
    """Every setting threadkeep reads. Env var: ``THREADKEEP_<NAME>``; TOML key: ``name``."""

    model_config = SettingsConfigDict(
        env_prefix="THREADKEEP_", frozen=True, extra="forbid", validate_default=True
    )

    database_url: str | None = Field(
        default=None,
        description="Database: a SQLAlchemy URL (sqlite:///file.db, postgresql+psycopg://...) "
        "or a path to a SQLite file. Default: threadkeep.db in the data directory.",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite durability. FULL: an acknowledged append survives power loss. "
        "NORMAL: survives a process crash; faster.",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        le=600_000,
        description="How long a SQLite writer waits for another writer's lock, in ms.",
    )
    sqlite_driver: Literal["auto", "pysqlite3", "sqlite3"] = Field(
        default="auto",
        description="Which SQLite library to use: auto picks pysqlite3 (a SQLite with the "
        "WAL-reset fix) when installed, else the standard library's sqlite3.",
    )
    max_message_bytes: int = Field(
        default=1_048_576,
        ge=1,
        le=1_073_741_824,
        description="Largest message content accepted, in UTF-8 bytes (TooLarge beyond).",
    )
    migrate_on_open: bool = Field(
        default=True,
        description="Bring the database to the current schema revision when it is opened.",
    )
    backup_before_migrate: bool = Field(
        default=True,
        description="Copy a SQLite file that holds data before migrating it; restore on failure.",
    )
    pool_size: int = Field(
        default=5, ge=1, le=100, description="Database connections kept open per store."
    )
    preview_chars: int = Field(
        default=120,
        ge=0,
        le=1000,
        description="Length of the preview of the latest message shown in listings.",
    )

    max_messages_per_conversation: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Message cap per conversation: appending past it deletes the oldest "
        "messages. Off (unset) by default.",
    )
    redact_exports: bool = Field(
        default=True,
        description="Mask secrets (API keys, tokens, private keys, URL passwords, JWTs) "
        "as [REDACTED:kind] in exports.",
    )
    redact_on_write: bool = Field(
        default=False,
        description="Also mask secrets when messages, titles and context are written, so "
        "they never reach the database.",
    )
    redact_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="Extra secret patterns, kind -> regular expression (a (?P<secret>...) "
        'group masks only that part). Env: JSON, e.g. {"ticket": "TKT-[0-9]{6}"}.',
    )
    cleanup_inactive_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="Cleanup moves conversations not updated for this many days to the "
        "trash (pinned ones are exempt). Off (unset) by default.",
    )
    cleanup_max_per_owner: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Cleanup moves each owner's oldest conversations beyond this many to "
        "the trash (pinned ones are exempt). Off (unset) by default.",
    )
    cleanup_purge_after_days: int | None = Field(
        default=None,
        ge=0,
        le=36_500,
        description="Cleanup deletes for good conversations that have been in the trash "
        "this many days. Off (unset): the trash is kept.",
    )
    storage_warning_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Warn (CLI, server log, web page) when the database is larger than "
        "this many bytes. Off (unset) by default.",
    )
    audit_log: bool = Field(
        default=False,
        description="Record who created, renamed, archived, deleted, exported, imported "
        "or cleaned up what, and when.",
    )
    audit_retention_days: int = Field(
        default=90,
        ge=1,
        le=36_500,
        description="How long audit log entries are kept, in days.",
    )
    import_max_bytes: int = Field(
        default=2_147_483_648,
        ge=1,
        description="Largest file import reads, in bytes (a zip's compressed size).",
    )
    import_max_unpacked_bytes: int = Field(
        default=1_073_741_824,
        ge=1,
        description="Largest total uncompressed size of a zip or .gz import, in bytes "
        "(guards against zip bombs; a zip is judged by the sizes it declares first).",
    )
    import_max_entries: int = Field(
        default=10_000,
        ge=1,
        description="Most files a zip import may hold.",
    )
    import_max_depth: int = Field(
        default=64,
        ge=4,
        le=1_000,
        description="Deepest JSON nesting an import accepts.",
    )
    import_max_messages: int = Field(
        default=5_000_000,
        ge=1,
        description="Most messages one import may write.",
    )
    server_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address `threadkeep serve` binds. Any non-loopback address needs API "
        "keys (`threadkeep users add`).",
    )
    server_port: int = Field(
        default=8765, ge=1, le=65_535, description="Port `threadkeep serve` listens on."
    )
    web_session_days: int = Field(
        default=30,
        ge=1,
        le=3_650,
        description="Days a web page sign-in lasts before the browser must sign in again "
        "(revoking the key ends it sooner).",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL people reach the server at (for share links); default: the "
        "URL of the request that made the link.",
    )
    max_request_bytes: int = Field(
        default=16_777_216,
        ge=1_024,
        description="Largest request body the server reads, in bytes (imports use "
        "import_max_bytes); larger bodies get 413 before they are read in full.",
    )
    cleanup_hour_utc: int | None = Field(
        default=None,
        ge=0,
        le=23,
        description="Hour (UTC) at which the server runs the cleanup daily; off when unset "
        "(and it only does what the cleanup_* settings ask).",
    )
    sse_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3_600,
        description="Seconds between keep-alive comments on idle event streams.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Server log lines: `text` for people, `json` for log collectors.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe server log level written."
    )
    group_commit: bool = Field(
        default=True,
        description="SQLite: appends that arrive while another is being written commit "
        "together (one transaction, one sync); each is still acknowledged only after "
        "its commit.",
    )

    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        description="The `openai` provider's endpoint: any OpenAI-compatible chat-completions "
        "API (OpenAI, Ollama http://localhost:11434/v1, vLLM, llama.cpp server).",
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        description="API key for openai_base_url, sent as a bearer token and never shown. "
        "Unset: OPENAI_API_KEY, for api.openai.com only; other endpoints get no key.",
    )
    openai_model: str | None = Field(
        default=None,
        description="Model the `openai` provider uses when a send names none (gpt-4o-mini, "
        "llama3.2, ...). Unset: every send must name one.",
    )

    anthropic_base_url: str = Field(
        default="https://api.anthropic.com",
        description="The `anthropic` provider's endpoint (the Messages API), without /v1.",
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        description="API key for anthropic_base_url, sent as x-api-key and never shown. "
        "Unset: ANTHROPIC_API_KEY, for api.anthropic.com only.",
    )
    anthropic_model: str | None = Field(
        default=None,
        description="Model the `anthropic` provider uses when a send names none "
        "(claude-sonnet-4-5, ...). Unset: every send must name one.",
    )
    anthropic_max_tokens: int = Field(
        default=4096,
        ge=1,
        description="The `anthropic` provider's max_tokens per reply (the API requires one).",
    )
    claude_code_command: str = Field(
        default="claude",
        description="The `claude-code` provider's executable: a name looked up on PATH, or a path.",
    )
    codex_command: str = Field(
        default="codex",
        description="The `codex` provider's executable: a name looked up on PATH, or a path.",
    )
    cli_provider_cwd: str | None = Field(
        default=None,
        description="Working directory the `claude-code` and `codex` providers run in "
        "(their sessions are kept per directory). Unset: the current directory.",
    )

    @field_validator("redact_patterns")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for kind, pattern in value.items():
            if not kind or not kind.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"kind {kind!r} must be letters, digits, - or _")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern for {kind!r} is not a valid regex: {exc}") from None
        return value

    @field_validator("openai_base_url", "anthropic_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.openai.com/v1")
        return value

    # An emptied variable (THREADKEEP_OPENAI_API_KEY=) means unset, not an empty key.
    @field_validator(
        "openai_api_key",
        "openai_model",
        "anthropic_api_key",
        "anthropic_model",
        "cli_provider_cwd",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sqlite_synchronous", "log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from every source, turning validation errors into ``InvalidInput``."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "settings"
                got = "(hidden)" if name in SECRET_SETTINGS else f"{err.get('input')!r:.60}"
                problems.append(
                    f"setting {name!r} ({_source_of(name, overrides)}): {err['msg']} (got {got})"
                )
            raise InvalidInput("invalid settings: " + "; ".join(problems)) from None

    def resolved_database_url(self) -> str:
        """The database URL in use: the setting, or the default file in the data dir."""
        if self.database_url:
            return self.database_url
        return str(data_dir() / DEFAULT_DB_FILE)


#: Settings that hold a secret — those typed ``SecretStr``, read off the model so a new
#: one cannot be missed: ``**********`` in a repr and in ``config show``, never echoed
#: in an error or by ``config set`` either.
SECRET_SETTINGS = frozenset(
    name
    for name, field in Settings.model_fields.items()
    if SecretStr in (field.annotation, *get_args(field.annotation))
)
