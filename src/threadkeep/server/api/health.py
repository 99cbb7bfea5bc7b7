"""Routes: health (being built)."""

from fastapi import APIRouter

router = APIRouter()
