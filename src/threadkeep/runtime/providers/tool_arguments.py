"""A tool call's arguments as a streamed API sends them: JSON text, decoded (``openai``,
``anthropic``; SPEC S4.3).

Both APIs stream a call's arguments as pieces of JSON text, joined by the reader.
:func:`decoded` turns the whole into a value. Arguments that are not JSON are kept as
the raw string: they are the model's output, not a failure of the endpoint, and the
reply stays readable. Empty arguments are ``{}``, since servers differ for a call
without arguments: ``"{}"`` (OpenAI) or ``""`` (some others).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["decoded"]


def decoded(arguments: str) -> Any:
    """``arguments`` decoded from JSON; ``{}`` when blank; the string itself when it is
    not JSON."""
    if not arguments.strip():
        return {}
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments
