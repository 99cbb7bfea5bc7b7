"""Totals for an owner: conversations by status, messages, tokens (``threadkeep stats``)."""

from __future__ import annotations

from threadkeep.db import stats as stats_rows
from threadkeep.models import CONVERSATION_STATUSES, OwnerStats
from threadkeep.store._base import StoreBase, _check_bool

__all__ = ["StatsMixin"]


class StatsMixin(StoreBase):
    """The owner-totals part of :class:`~threadkeep.store.ConversationStore`."""

    def owner_stats(self, *, all_owners: bool = False) -> OwnerStats:
        """How many conversations the owner has in each status, and their messages and
        tokens in total, from the per-conversation counters (no message is read).

        ``all_owners=True``: the totals over every owner (``owner`` is ``None``), as
        the server's metrics report them.
        """
        _check_bool(all_owners, "all_owners")
        owner = None if all_owners else self._owner
        with self._db.read() as conn:
            totals = stats_rows.owner_totals(conn, owner)
        statuses = sorted(CONVERSATION_STATUSES | set(totals), key=_status_order)
        return OwnerStats(
            owner=owner,
            conversations={status: totals.get(status, (0, 0, 0))[0] for status in statuses},
            messages=sum(messages for _, messages, _ in totals.values()),
            tokens=sum(tokens for _, _, tokens in totals.values()),
        )


def _status_order(status: str) -> tuple[int, str]:
    order = ("active", "archived", "trash")
    return (order.index(status) if status in order else len(order), status)
