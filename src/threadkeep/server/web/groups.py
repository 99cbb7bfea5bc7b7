"""When things happened, as the sidebar says it: last-activity groups and relative times.

The sidebar groups conversations by their last activity (``updated_at``) the way people
read a chat history (SPEC S10.1): Today, Yesterday, Previous 7 days, Previous 30 days,
then each earlier month of this year by name, then each earlier year. Days are the
*reader's* days: the page sends its IANA time zone (``X-Timezone``, from the browser's
``Intl`` API) and the bounds are that zone's midnights; an unknown or missing zone is
UTC. "Previous 7 days" holds the five days before yesterday: together with Today and
Yesterday that is a week, as the peer tools count it; "Previous 30 days" the rest of
the 30.

Pinned conversations are listed first, in a group of their own, whatever their age.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Group", "group_of", "relative_time", "zone_of"]

PINNED = "pinned"


@dataclass(frozen=True, slots=True)
class Group:
    """A sidebar group: ``key`` is stable (``today``, ``2026-09``, ``2024``), ``label``
    what the person reads."""

    key: str
    label: str


_PINNED_GROUP = Group(PINNED, "Pinned")


def zone_of(name: str | None) -> dt.tzinfo:
    """The time zone an IANA name names; UTC for a missing or unknown one."""
    if not name or len(name) > 64:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def group_of(at: dt.datetime, now: dt.datetime, zone: dt.tzinfo, *, pinned: bool = False) -> Group:
    """The group of a conversation last active ``at``, seen at ``now`` in ``zone``."""
    if pinned:
        return _PINNED_GROUP
    local = at.astimezone(zone)
    today = now.astimezone(zone).date()
    days = (today - local.date()).days
    if days <= 0:
        return Group("today", "Today")
    if days == 1:
        return Group("yesterday", "Yesterday")
    if days < 7:
        return Group("previous-7-days", "Previous 7 days")
    if days < 30:
        return Group("previous-30-days", "Previous 30 days")
    if local.year == today.year:
        return Group(f"{local.year:04d}-{local.month:02d}", local.strftime("%B"))
    return Group(f"{local.year:04d}", str(local.year))


def relative_time(at: dt.datetime, now: dt.datetime) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``, then the date."""
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 30 * 86400:
        return f"{seconds // 86400} d ago"
    if at.year == now.year:
        return f"{at:%b} {at.day}"
    return f"{at:%b} {at.day}, {at.year}"
