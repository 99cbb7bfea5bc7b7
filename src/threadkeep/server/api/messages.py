"""Routes: messages (being built)."""

from fastapi import APIRouter

router = APIRouter()
