"""Request body size limits (filled in by the API work)."""

from __future__ import annotations

from fastapi import FastAPI

from threadkeep.settings import Settings

__all__ = ["install"]


def install(app: FastAPI, settings: Settings) -> None:
    del app, settings
