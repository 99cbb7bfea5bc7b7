"""Routes: export (streamed download) and import (upload), SPEC S6.

Export: ``GET /export`` (everything of the caller, or chosen ids, or a filter) and
``GET /conversations/{id}/export`` (one, its file named after its title), as
threadkeep JSON, JSONL or Markdown, optionally gzipped; secrets redacted as the
``redact_exports`` setting says unless ``redact`` is given. The document is produced by
``transfer.exporter`` and streamed as it is written (``downloads.py``): memory stays
flat however large the export, and everything that can be checked is checked before
the first byte, so a bad request is an ordinary JSON error.

Import: ``POST /import`` takes the file as the raw request body (any media type),
spools it to a private temporary file within ``import_max_bytes`` (``limits.py``,
``uploads.py``) and runs ``transfer.importer`` on it: the format detected (or given),
everything checked, then written in one transaction, all or nothing; importing the
same document again duplicates nothing. The response is the import's summary.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from threadkeep.errors import ThreadkeepError
from threadkeep.server.deps import OwnerStore
from threadkeep.server.downloads import content_disposition, safe_filename, stream_export
from threadkeep.server.errors import ApiError
from threadkeep.server.filters import Filters
from threadkeep.server.schemas import (
    ConversationId,
    ImportSummary,
    ListStatus,
    error_responses,
)
from threadkeep.server.uploads import new_upload, receive_upload, upload_name
from threadkeep.store import ConversationStore
from threadkeep.transfer.exporter import export_conversations, export_redactor
from threadkeep.transfer.importer import ImportReport, import_paths
from threadkeep.transfer.registry import export_format, import_format

__all__ = ["router"]

router = APIRouter(tags=["transfer"])

#: Media types of the built-in export formats (a plugin's: application/octet-stream).
MEDIA_TYPES = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "markdown": "text/markdown; charset=utf-8",
}
GZIP_MEDIA_TYPE = "application/gzip"

#: The responses of both export routes.
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export document, streamed (gzipped with `gzip=true`), as an "
        "attachment named in `Content-Disposition`.",
        "content": {
            media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
            for media in (*MEDIA_TYPES.values(), GZIP_MEDIA_TYPE)
        },
    },
    **error_responses(401, 404, 422, 503),
}

ExportFormat = Annotated[
    str,
    Query(
        max_length=48,
        description="json (threadkeep document), jsonl (JSON Lines) or markdown; "
        "a plugin may add more.",
    ),
]
Gzip = Annotated[bool, Query(description="Compress the document (a .gz file).")]
Redact = Annotated[
    bool | None,
    Query(description="Mask secrets as [REDACTED:kind]; default: the redact_exports setting."),
]


async def _download(
    store: ConversationStore,
    *,
    format: str,
    compress: bool,
    stem: str,
    fallback_stem: str,
    conversation_ids: list[str] | None = None,
    filters: dict[str, Any] | None = None,
    redact: bool | None = None,
) -> StreamingResponse:
    chosen = export_format(format)
    suffix = chosen.suffixes[0] if chosen.suffixes else ""
    filename = safe_filename(stem, suffix + (".gz" if compress else ""), default=fallback_stem)

    def export(out: BinaryIO) -> object:
        return export_conversations(
            store,
            out,
            format=chosen.name,  # type: ignore[arg-type]
            conversation_ids=conversation_ids,
            filters=filters,
            redact=redact,
        )

    chunks = await stream_export(export, compress=compress)
    media_type = (
        GZIP_MEDIA_TYPE if compress else MEDIA_TYPES.get(chosen.name, "application/octet-stream")
    )
    headers = {
        "Content-Disposition": content_disposition(filename, fallback_stem=fallback_stem),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses=_DOWNLOAD,
    summary="Export conversations (streamed download)",
)
async def export(
    store: OwnerStore,
    listing: Filters,
    format: ExportFormat = "json",
    gzip: Gzip = False,
    redact: Redact = None,
    conversation_id: Annotated[
        list[str] | None,
        Query(
            max_length=1000,
            description="Export these conversations (repeat the parameter); not with "
            "the filters. 404 if one is not the caller's.",
        ),
    ] = None,
    status: Annotated[ListStatus | None, Query(description="Default: every status.")] = None,
) -> StreamingResponse:
    """Every conversation of the caller (any status), the ones given by
    `conversation_id`, or those the filters choose, with their messages."""
    filters = listing.given()
    if status is not None:
        filters["status"] = status
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return await _download(
        store,
        format=format,
        compress=gzip,
        stem=f"threadkeep-export-{today}",
        fallback_stem="threadkeep-export",
        conversation_ids=conversation_id,
        filters=filters or None,
        redact=redact,
    )


@router.get(
    "/conversations/{conversation_id}/export",
    response_class=StreamingResponse,
    responses=_DOWNLOAD,
    summary="Export one conversation (streamed download)",
)
async def export_conversation(
    conversation_id: ConversationId,
    store: OwnerStore,
    format: ExportFormat = "json",
    gzip: Gzip = False,
    redact: Redact = None,
) -> StreamingResponse:
    """The conversation and its messages; the file is named after its title (with
    secrets masked, as in the document, when the export is redacted)."""
    conversation = await run_in_threadpool(store.get_conversation, conversation_id)
    title = conversation.title or ""
    redactor = export_redactor(store.settings, redact)
    if redactor is not None:
        title = redactor.redact_text(title)[0]
    return await _download(
        store,
        format=format,
        compress=gzip,
        stem=title,
        fallback_stem="conversation-" + conversation.id[:8],
        conversation_ids=[conversation.id],
        redact=redact,
    )


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file to import, as the raw body: a threadkeep JSON or JSONL "
        "document, a ChatGPT export (zip or conversations.json), a Claude Code or Codex "
        "transcript, an Open WebUI export, OpenAI chat messages, … (any media type; "
        "gzip and zip are unpacked within the import limits).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/import",
    response_model=ImportSummary,
    responses=error_responses(401, 409, 413, 422, 503),
    openapi_extra=_UPLOAD_BODY,
    summary="Import a file (the raw request body)",
)
async def import_file(
    request: Request,
    store: OwnerStore,
    format: Annotated[
        str,
        Query(
            max_length=48,
            description="auto (detect it) or an import format: threadkeep, chatgpt, "
            "claude-code, codex, open-webui, openai-messages, agents-sqlite, langchain-sql.",
        ),
    ] = "auto",
    filename: Annotated[
        str | None,
        Query(
            max_length=255,
            description="The file's name (its suffix helps detection, and it is recorded "
            "as the conversations' source).",
        ),
    ] = None,
) -> ImportReport:
    """Import every conversation of the uploaded file, all or nothing.

    The body streams to a temporary file (413 past `import_max_bytes`, before it is
    read in full); the import is then checked whole before anything is written.
    Importing the same file again imports nothing new.
    """
    chosen = None if format == "auto" else import_format(format).name
    name = upload_name(filename, request.headers.get("content-type"))
    with new_upload() as upload:
        try:
            await receive_upload(upload, request.stream(), name)
        except ClientDisconnect:
            raise ApiError(
                400, "bad_request", "the upload ended before the body was complete"
            ) from None
        try:
            return await run_in_threadpool(import_paths, store, [upload.path], format=chosen)
        except ThreadkeepError as error:
            raise upload.public_message(error) from None
