"""Routes: share links (being built)."""

from fastapi import APIRouter

router = APIRouter()
public_router = APIRouter()
