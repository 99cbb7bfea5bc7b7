"""Routes: transfer (being built)."""

from fastapi import APIRouter

router = APIRouter()
