"""The listing filters a request may pass (SPEC S3.3), declared once for every route
that lists or exports conversations by them.

``ListingFilters`` is a dependency: FastAPI reads its fields from the query string, so
each route documents the same parameters with the same descriptions. It is ``async``
(it does no I/O) so it costs no thread-pool hop. ``given()`` keeps only the filters the
caller set, ready for ``store.list_conversations(**...)`` or an export's ``filters``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import Depends

from threadkeep.server.schemas import AwareTime

__all__ = ["Filters", "ListingFilters"]


@dataclass(frozen=True, slots=True)
class ListingFilters:
    """The filters of a listing; ``None`` is "not filtered on"."""

    provider: str | None
    model: str | None
    mode: str | None
    tag: str | None
    updated_after: dt.datetime | None
    updated_before: dt.datetime | None
    created_after: dt.datetime | None
    created_before: dt.datetime | None

    def given(self) -> dict[str, Any]:
        """The filters the caller set, by name."""
        return {name: value for name, value in asdict(self).items() if value is not None}


async def listing_filters(
    provider: str | None = None,
    model: str | None = None,
    mode: str | None = None,
    tag: str | None = None,
    updated_after: AwareTime = None,
    updated_before: AwareTime = None,
    created_after: AwareTime = None,
    created_before: AwareTime = None,
) -> ListingFilters:
    return ListingFilters(
        provider=provider,
        model=model,
        mode=mode,
        tag=tag,
        updated_after=updated_after,
        updated_before=updated_before,
        created_after=created_after,
        created_before=created_before,
    )


Filters = Annotated[ListingFilters, Depends(listing_filters)]
