"""The server's logs: one line per record, for people (``text``) or collectors (``json``),
and nothing secret in either, at any level.

Never in a log line: message content, titles, API keys, ``Authorization`` headers,
share tokens, passwords. Four things keep them out, each covering what the one before
cannot:

1. **Routes, not paths.** A request is named by its route template
   (``/share/{token}``, ``/api/v1/conversations/{conversation_id}``), never by its raw
   path or query string (a search query is what a person typed). The request observer
   of ``metrics.py`` records the method, template and status of the request being
   served in :data:`current_request`; :class:`RequestFilter` rewrites uvicorn's access
   line to that template, and a path that matched no route is shown with its query
   dropped and every segment that is not a plain word masked.
2. **Threadkeep's code logs counts, ids and error classes**, never values it was given.
3. **Third-party loggers are held at WARNING** whatever ``log_level`` says:
   SQLAlchemy logs every statement *with its parameters* (message content) at INFO,
   and libraries' DEBUG output is not ours to vet. Only ``threadkeep.*``, ``uvicorn.*``
   and ``alembic`` (revision names) follow ``log_level``.
4. **Redaction last.** Every line is formatted, then passed through
   :mod:`threadkeep.redact` (the patterns exports use: provider keys, bearer tokens,
   JWTs, private keys, URL passwords; plus threadkeep's own API keys and the
   ``redact_patterns`` setting), tracebacks included.

Request fields: a record logged while a request is served carries it (JSON:
``"request": {"method", "route", "status"}``; text: ``[GET /route]`` at the end).

:func:`log_config` is the ``logging.config.dictConfig`` dictionary; ``threadkeep
serve`` passes it to uvicorn as ``log_config`` (so ``--workers`` processes configure
themselves the same way) and :func:`configure_logging` applies it in this process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO

from threadkeep.redact import Redactor
from threadkeep.settings import Settings

__all__ = [
    "JsonFormatter",
    "RequestFilter",
    "RequestInfo",
    "TextFormatter",
    "configure_logging",
    "current_request",
    "log_config",
    "masked_path",
]

#: Loggers that follow ``log_level``; every other logger is held at WARNING or above.
OWN_LOGGERS = ("threadkeep", "uvicorn", "uvicorn.error", "uvicorn.access")

#: Logs also mask a threadkeep API key cut short (redact.py wants its whole secret).
LOG_PATTERNS = {"threadkeep": r"\btk_[0-9a-f]{16}_[A-Za-z0-9_-]{8,}"}


@dataclass(slots=True)
class RequestInfo:
    """The request being served: what a log line may say about it."""

    method: str
    #: The route template once routing has matched (``None`` before, or unmatched).
    route: str | None = None
    status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "route": self.route, "status": self.status}


#: Set by the request observer for the duration of each HTTP request.
current_request: ContextVar[RequestInfo | None] = ContextVar(
    "threadkeep_current_request", default=None
)

# A path segment shown as it is: a word, or an API version. Anything else (ids, tokens,
# a mistyped key) is masked. Segments after these are masked whatever they look like.
_WORD = re.compile(r"[A-Za-z][A-Za-z_.-]{0,31}|v[0-9]{1,2}")
_SECRET_PARENTS = frozenset({"share", "shares", "s", "keys", "token", "tokens"})


def masked_path(path: str) -> str:
    """``path`` with its query string dropped and every non-word segment masked (``*``).

    For requests no route matched, which have no template: ``/share/abc123?x=1`` →
    ``/share/*``.
    """
    path = path.split("?", 1)[0]
    shown: list[str] = []
    previous = ""
    for segment in path.split("/"):
        keep = segment == "" or (
            _WORD.fullmatch(segment) is not None and previous.lower() not in _SECRET_PARENTS
        )
        shown.append(segment if keep else "*")
        previous = segment
    return "/".join(shown)


class RequestFilter(logging.Filter):
    """Attaches the current request to each record and takes the raw path out of
    uvicorn's access line (installed on the handler, so it sees every record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request.get()
        record.request = info.as_dict() if info is not None else None
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn: '%s - "%s %s HTTP/%s" %d' % (client, method, path?query, version, status)
            args = list(record.args)
            if len(args) >= 3:
                if info is not None and info.route is not None:
                    args[2] = info.route
                else:
                    args[2] = masked_path(str(args[2]))
                record.args = tuple(args)
        return True


def _time(record: logging.LogRecord) -> str:
    at = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _RedactingFormatter(logging.Formatter):
    """A formatter that masks secrets in what it writes."""

    def __init__(self, patterns: dict[str, str] | None = None) -> None:
        super().__init__()
        self._redactor = Redactor({**LOG_PATTERNS, **(patterns or {})})

    def _redacted(self, text: str) -> str:
        return self._redactor.redact_text(text)[0]


class TextFormatter(_RedactingFormatter):
    """``2025-05-01T09:30:00.123Z INFO threadkeep.server.schedule: message [GET /route]``,
    redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        request = getattr(record, "request", None)
        if request:
            line += f" [{request['method']} {request['route'] or '-'}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return self._redacted(line)


class JsonFormatter(_RedactingFormatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, and
    ``request`` and ``exception`` when there are; every string redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redacted(record.getMessage()),
        }
        request = getattr(record, "request", None)
        if request:
            entry["request"] = request
        if record.exc_info:
            entry["exception"] = self._redacted(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self._redacted(record.exc_text)
        if record.stack_info:
            entry["stack"] = self._redacted(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _level_number(name: str) -> int:
    return logging.getLevelNamesMapping()[name]


def log_config(settings: Settings, *, stream: TextIO | None = None) -> dict[str, Any]:
    """The ``dictConfig`` for ``settings.log_format`` and ``settings.log_level``.

    One handler on the root logger, writing to ``stream`` (default: standard error);
    uvicorn's loggers propagate to it. ``stream`` must stay ``None`` for a config given
    to uvicorn with several workers (it is sent to each process).
    """
    level = settings.log_level
    others = logging.getLevelName(max(_level_number(level), logging.WARNING))
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    handler: dict[str, Any] = {
        "class": "logging.StreamHandler",
        "formatter": "threadkeep",
        "filters": ["request"],
        "stream": stream if stream is not None else "ext://sys.stderr",
    }
    loggers: dict[str, Any] = {
        name: {"level": level, "handlers": [], "propagate": True} for name in OWN_LOGGERS
    }
    loggers["uvicorn.asgi"] = {"level": others, "handlers": [], "propagate": True}
    loggers["alembic"] = {
        "level": logging.getLevelName(max(_level_number(level), logging.INFO)),
        "handlers": [],
        "propagate": True,
    }
    # Named explicitly as well as held by the root level: their own level may have been
    # set lower by a library (echo=True, a debug flag).
    for noisy in ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "python_multipart"):
        loggers[noisy] = {"level": others, "handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": f"{__name__}.RequestFilter"}},
        "formatters": {
            "threadkeep": {
                "()": f"{__name__}.{formatter.__name__}",
                "patterns": dict(settings.redact_patterns),
            }
        },
        "handlers": {"threadkeep": handler},
        "root": {"level": others, "handlers": ["threadkeep"]},
        "loggers": loggers,
    }


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure this process's logging from ``settings`` (see :func:`log_config`).

    Replaces the root logger's handlers, so calling it again reconfigures rather than
    duplicating lines.
    """
    logging.config.dictConfig(log_config(settings, stream=stream))
