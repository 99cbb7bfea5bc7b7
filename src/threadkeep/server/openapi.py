"""The checked-in OpenAPI document, ``docs/openapi.json``, generated from the app.

The app publishes its OpenAPI at ``/api/v1/openapi.json``; this module renders the
same document for the source tree, so a client author can read it without running a
server and a change to the API shows up in review. ``tests/test_docs.py`` fails when
the checked-in file differs from what the code renders now. Regenerate it with::

    python -m threadkeep.server.openapi

(``--check`` only compares, and exits 1 when the file is stale). The output is
deterministic: keys sorted, two-space indent, UTF-8, one trailing newline. The app is
built over a throwaway SQLite file in a temporary directory with default settings, so
neither the environment nor a settings file changes the document.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from threadkeep import generated
from threadkeep.server.app import create_app
from threadkeep.settings import Settings

__all__ = ["REGENERATE", "default_path", "document", "render"]

REGENERATE = "python -m threadkeep.server.openapi"


def default_path() -> Path:
    """``docs/openapi.json`` of the source tree this module is in."""
    return generated.docs_path("openapi.json")


def document() -> dict[str, Any]:
    """The app's OpenAPI document, as the server publishes it."""
    with tempfile.TemporaryDirectory(prefix="threadkeep-openapi-") as directory:
        # The defaults, not the environment's or a settings file's values.
        settings = Settings.model_construct(database_url=str(Path(directory) / "openapi.db"))
        app = create_app(settings, loopback=True)
        try:
            return app.openapi()
        finally:
            app.state.threadkeep.store.close()


def render() -> str:
    """The document as it is checked in."""
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    return generated.main(
        argv, what="docs/openapi.json", default=default_path(), render=render, regenerate=REGENERATE
    )


if __name__ == "__main__":
    raise SystemExit(main())
