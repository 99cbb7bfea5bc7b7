"""The HTTP server: REST API under ``/api/v1``, live events, share pages, metrics.

Build it with :func:`threadkeep.server.app.create_app`; ``threadkeep serve`` runs it
under uvicorn. Routes parse input, resolve the owner and call the store; they hold no
SQL and no policy (ARCHITECTURE.md).
"""

from threadkeep.server.app import create_app

__all__ = ["create_app"]
