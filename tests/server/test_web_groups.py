"""The sidebar's last-activity groups and relative times (``server/web/groups.py``).

Guards against conversations landing in the wrong group at the bounds (midnight in the
reader's zone, the 7th and 30th day, the turn of a month and of a year) and against an
unknown time zone breaking the list.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from threadkeep.server.web.groups import group_of, relative_time, zone_of

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def _days_ago(days: float, hours: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, hours=hours)


@pytest.mark.parametrize(
    ("at", "key", "label"),
    [
        (NOW, "today", "Today"),
        (dt.datetime(2026, 11, 21, 0, 0, tzinfo=UTC), "today", "Today"),
        (dt.datetime(2026, 11, 20, 23, 59, tzinfo=UTC), "yesterday", "Yesterday"),
        (_days_ago(2), "previous-7-days", "Previous 7 days"),
        (_days_ago(6), "previous-7-days", "Previous 7 days"),
        (_days_ago(7), "previous-30-days", "Previous 30 days"),
        (_days_ago(29), "previous-30-days", "Previous 30 days"),
        (_days_ago(30), "2026-10", "October"),
        (dt.datetime(2026, 1, 1, tzinfo=UTC), "2026-01", "January"),
        (dt.datetime(2025, 12, 31, 23, 0, tzinfo=UTC), "2025", "2025"),
        (dt.datetime(2019, 6, 1, tzinfo=UTC), "2019", "2019"),
        (NOW + dt.timedelta(minutes=5), "today", "Today"),  # a clock a little ahead
    ],
)
def test_groups_by_the_day_of_last_activity(at: dt.datetime, key: str, label: str) -> None:
    group = group_of(at, NOW, UTC)
    assert (group.key, group.label) == (key, label)


def test_days_are_the_readers_days() -> None:
    """03:00 UTC on the 21st is still the 20th in Los Angeles: yesterday there."""
    at = dt.datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert group_of(at, NOW, UTC).key == "today"
    assert group_of(at, NOW, ZoneInfo("America/Los_Angeles")).key == "yesterday"


def test_month_and_year_follow_the_readers_zone() -> None:
    """The last minutes of 2025 in UTC are already 2026 in Tokyo."""
    at = dt.datetime(2025, 12, 31, 20, 0, tzinfo=UTC)
    assert group_of(at, NOW, UTC).key == "2025"
    assert group_of(at, NOW, ZoneInfo("Asia/Tokyo")).key == "2026-01"


def test_pinned_ones_are_a_group_of_their_own_whatever_their_age() -> None:
    group = group_of(dt.datetime(2019, 1, 1, tzinfo=UTC), NOW, UTC, pinned=True)
    assert (group.key, group.label) == ("pinned", "Pinned")


@pytest.mark.parametrize("name", [None, "", "Not/A_Zone", "../../etc/passwd", "x" * 100])
def test_an_unknown_zone_is_utc(name: str | None) -> None:
    assert zone_of(name) is UTC


def test_a_known_zone_is_used() -> None:
    assert zone_of("Europe/Lisbon") == ZoneInfo("Europe/Lisbon")


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (NOW, "just now"),
        (NOW - dt.timedelta(seconds=59), "just now"),
        (NOW - dt.timedelta(minutes=5), "5 min ago"),
        (NOW - dt.timedelta(hours=3), "3 h ago"),
        (NOW - dt.timedelta(days=2), "2 d ago"),
        (dt.datetime(2026, 3, 4, tzinfo=UTC), "Mar 4"),
        (dt.datetime(2024, 3, 4, tzinfo=UTC), "Mar 4, 2024"),
        (NOW + dt.timedelta(minutes=1), "just now"),
    ],
)
def test_relative_times(at: dt.datetime, text: str) -> None:
    assert relative_time(at, NOW) == text
