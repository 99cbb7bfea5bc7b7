"""The options that narrow a listing (``ls``, ``export``, ``search``), and dates as typed.

Each option is declared once here, as an ``Annotated`` alias a command lists among its
parameters (Typer reads options from the signature); the command hands its parameters
(``ctx.params``) to :func:`listing_filters`, which turns those it knows into store
arguments, so the parsing is written once too.

A date is accepted the way a person writes it:

* a day, ``2026-11-01`` (midnight UTC), or a full ISO 8601 time,
  ``2026-11-01T09:30``, ``2026-11-01 09:30:00+02:00``, ``2026-11-01T09:30:00Z``
  (a time without an offset is UTC);
* a time ago: ``30m``, ``12h``, ``7d``, ``2w`` (minutes, hours, days, weeks);
* ``today`` or ``yesterday`` (midnight UTC).

Dates are options of type ``str`` parsed in the command, not Click types, so a bad one
is an ``InvalidInput`` — one line on stderr and exit code 2 — like every other mistake.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import typer

from threadkeep.errors import InvalidInput

__all__ = [
    "CreatedAfterOption",
    "CreatedBeforeOption",
    "CursorOption",
    "ModeOption",
    "ModelOption",
    "ProviderOption",
    "Status",
    "StatusOption",
    "TagOption",
    "UpdatedAfterOption",
    "UpdatedBeforeOption",
    "listing_filters",
    "parse_when",
]

Status = Literal["active", "archived", "trash", "all"]

_DATE_HELP = "A day (2026-11-01), an ISO time, or a time ago (30m, 12h, 7d, 2w)."
_FILTERS = "Filters"


def _date_option(flag: str, what: str) -> Any:
    return typer.Option(
        flag,
        help=f"Only conversations {what}. {_DATE_HELP}",
        metavar="DATE",
        show_default=False,
        rich_help_panel=_FILTERS,
    )


def _text_option(flag: str, help: str, metavar: str) -> Any:
    return typer.Option(
        flag, help=help, metavar=metavar, show_default=False, rich_help_panel=_FILTERS
    )


StatusOption = Annotated[
    Status,
    typer.Option(
        help="Which conversations: active, archived, trash or all.",
        metavar="STATUS",
        rich_help_panel=_FILTERS,
    ),
]
ProviderOption = Annotated[
    str | None, _text_option("--provider", "Only this provider (openai, claude-code, …).", "NAME")
]
ModelOption = Annotated[str | None, _text_option("--model", "Only this model.", "NAME")]
ModeOption = Annotated[
    str | None, _text_option("--mode", "Only this mode (chat, batch, …).", "MODE")
]
TagOption = Annotated[str | None, _text_option("--tag", "Only conversations with this tag.", "TAG")]
UpdatedAfterOption = Annotated[str | None, _date_option("--updated-after", "updated after DATE")]
UpdatedBeforeOption = Annotated[str | None, _date_option("--updated-before", "updated before DATE")]
CreatedAfterOption = Annotated[str | None, _date_option("--created-after", "created after DATE")]
CreatedBeforeOption = Annotated[str | None, _date_option("--created-before", "created before DATE")]
CursorOption = Annotated[
    str | None,
    typer.Option(
        "--cursor",
        metavar="CURSOR",
        help="Continue a listing where the previous page ended (its next cursor), with "
        "the same filters.",
        show_default=False,
    ),
]

_AGO = re.compile(r"(\d{1,6})\s*(m|min|mins|h|d|w)", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "mins": "minutes", "h": "hours", "d": "days"}


def parse_when(
    value: str | None, option: str, *, now: dt.datetime | None = None
) -> dt.datetime | None:
    """``value`` (see the module docstring) as an aware UTC datetime; ``None`` stays ``None``.

    Raises ``InvalidInput`` naming ``option`` and the accepted forms.
    """
    if value is None:
        return None
    text = value.strip()
    now = now if now is not None else dt.datetime.now(dt.UTC)
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lowered = text.lower()
    if lowered == "today":
        return midnight
    if lowered == "yesterday":
        return midnight - dt.timedelta(days=1)
    ago = _AGO.fullmatch(text)
    if ago is not None:
        amount, unit = int(ago.group(1)), ago.group(2).lower()
        if unit == "w":
            return now - dt.timedelta(weeks=amount)
        return now - dt.timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option} {value!r:.60} is not a date: use a day (2026-11-01), an ISO time "
            "(2026-11-01T09:30:00+02:00) or a time ago (30m, 12h, 7d, 2w)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def listing_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    """A command's filter options, from its parameters (``ctx.params``), as
    ``list_conversations`` keyword arguments: dates parsed, ``--status all`` as no status
    filter; an option the command does not have is ``None``."""
    status: Status | None = params.get("status", "active")
    return {
        "status": None if status == "all" else status,
        "provider": params.get("provider"),
        "model": params.get("model"),
        "mode": params.get("mode"),
        "tag": params.get("tag"),
        "updated_after": parse_when(params.get("updated_after"), "--updated-after"),
        "updated_before": parse_when(params.get("updated_before"), "--updated-before"),
        "created_after": parse_when(params.get("created_after"), "--created-after"),
        "created_before": parse_when(params.get("created_before"), "--created-before"),
    }
