"""The HTTP floor: the cheapest FastAPI app that answers the load generator's appends.

``python -m uvicorn bench.http_floor:app`` (what ``bench/http_load.py`` starts, on the
same uvicorn, uvloop and httptools as ``threadkeep serve``) takes the same requests and
does no work: the append route validates the same body shape (``role``, ``content``)
and counts the message in memory; there is no database, no auth, no middleware. It is
the practical limit of an append over HTTP with this stack on this machine, beside
threadkeep's rows in one run, as the raw-SQLite baseline is for the store — in
particular, the best "64 clients ÷ 1 client" ratio any FastAPI route can show here.
"""

from __future__ import annotations

import uuid
from collections import Counter

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["app"]

app = FastAPI()
_messages: Counter[str] = Counter()


class _Append(BaseModel):
    role: str
    content: str


@app.get("/api/v1/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/conversations", status_code=201)
async def create() -> dict[str, str]:
    return {"id": str(uuid.uuid4())}


@app.post("/api/v1/conversations/{conversation_id}/messages", status_code=201)
async def append(conversation_id: str, body: _Append) -> dict[str, int]:
    _messages[conversation_id] += 1
    return {"seq": _messages[conversation_id]}


@app.get("/api/v1/conversations/{conversation_id}")
async def get(conversation_id: str) -> dict[str, int]:
    count = _messages[conversation_id]
    return {"message_count": count, "last_seq": count}
