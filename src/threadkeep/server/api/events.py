"""Routes: events (being built)."""

from fastapi import APIRouter

router = APIRouter()
