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

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from threadkeep.server.app import create_app
from threadkeep.settings import Settings

__all__ = ["REGENERATE", "default_path", "document", "render"]

REGENERATE = "python -m threadkeep.server.openapi"


def default_path() -> Path:
    """``docs/openapi.json`` of the source tree this module is in."""
    return Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


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
    parser = argparse.ArgumentParser(description="Write docs/openapi.json from the app's code.")
    parser.add_argument(
        "path", nargs="?", type=Path, default=None, help="default: docs/openapi.json"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    options = parser.parse_args(argv)
    path: Path = options.path or default_path()
    text = render()
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if options.check:
        if current != text:
            print(f"{path} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
