"""Routes: runs (being built)."""

from fastapi import APIRouter

router = APIRouter()
