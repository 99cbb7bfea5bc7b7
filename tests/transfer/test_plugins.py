"""Formats from plugins: registered through the ``register_formats`` hook (pluggy), found
through the ``threadkeep`` entry point group, detected and imported like the built-ins."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.transfer.helpers import snapshot
from threadkeep import ConversationStore
from threadkeep.errors import InvalidInput
from threadkeep.hookspecs import hookimpl
from threadkeep.plugins import build_plugin_manager, plugin_manager
from threadkeep.transfer.formats import Format
from threadkeep.transfer.importer import detect_format, import_paths
from threadkeep.transfer.limits import ImportLimits
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source
from threadkeep.transfer.registry import export_format_names, format_names, formats


def _read_log(path: Path, limits: ImportLimits) -> Iterator[ImportedConversation]:
    """A toy format: ``role: text`` per line, one conversation per file."""
    messages = []
    for line in path.read_text().splitlines():
        role, _, text = line.partition(": ")
        messages.append(ImportedMessage(role=role, content=text))
    yield ImportedConversation(
        source=Source("fake-log", path.name, path.stem), title=path.stem, messages=tuple(messages)
    )


class FakeLogPlugin:
    """A third-party plugin object, as a package would provide it."""

    def __init__(self, load: Any = _read_log) -> None:
        self.load = load

    @hookimpl
    def register_formats(self, register: Any) -> None:
        register(
            Format(
                name="fake-log",
                description="A toy chat log",
                detect=lambda path: path.suffix == ".fakelog",
                load=self.load,
            )
        )


@pytest.fixture
def registered() -> Iterator[list[Any]]:
    """Plugins registered on the process's manager for the test, unregistered after."""
    plugins: list[Any] = []
    yield plugins
    for plugin in plugins:
        plugin_manager().unregister(plugin)


def _log(path: Path) -> Path:
    path.write_text("user: hello\nassistant: hi there\n")
    return path


def test_a_plugin_format_is_detected_and_imported(
    store: ConversationStore, tmp_path: Path, registered: list[Any]
) -> None:
    """Guards: a format registered through the hook is listed after the built-ins,
    detected, and imported through the same checks and idempotency."""
    plugin = FakeLogPlugin()
    plugin_manager().register(plugin)
    registered.append(plugin)
    assert format_names()[-1] == "fake-log"
    assert format_names()[0] == "threadkeep"
    path = _log(tmp_path / "chat.fakelog")
    assert detect_format(path) == "fake-log"

    report = import_paths(store, [path])
    assert (report.format, report.conversations_imported, report.messages_imported) == (
        "fake-log",
        1,
        2,
    )
    ((conversation, messages),) = snapshot(store).values()
    source = conversation["context"]["source"]
    assert {key: source[key] for key in ("format", "file", "source_id", "messages")} == {
        "format": "fake-log",
        "file": "chat.fakelog",
        "source_id": "chat",
        "messages": 2,
    }
    assert [m["content"] for m in messages] == ["hello", "hi there"]
    assert import_paths(store, [path]).conversations_skipped == 1


def test_plugins_load_from_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards: an installed package declaring a ``threadkeep`` entry point is loaded."""
    (tmp_path / "tk_fake_plugin.py").write_text(
        textwrap.dedent(
            """
            from threadkeep.hookspecs import hookimpl
            from threadkeep.transfer.formats import Format

            @hookimpl
            def register_formats(register):
                register(Format(name="from-entry-point", description="installed",
                                detect=lambda path: False, load=lambda path, limits: iter(())))
            """
        )
    )
    info = tmp_path / "tk_fake_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tk-fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[threadkeep]\nfake = tk_fake_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        manager = build_plugin_manager()
        assert "from-entry-point" in format_names(manager)
        assert "from-entry-point" not in format_names(build_plugin_manager(entry_points=False))
    finally:
        sys.modules.pop("tk_fake_plugin", None)


def test_two_formats_with_one_name_are_an_error(registered: list[Any]) -> None:
    """Guards against a plugin silently replacing a built-in format."""

    class Impostor:
        @hookimpl
        def register_formats(self, register: Any) -> None:
            register(Format(name="chatgpt", description="not really", load=_read_log))

    plugin = Impostor()
    plugin_manager().register(plugin)
    registered.append(plugin)
    with pytest.raises(InvalidInput, match="two plugins register a format named 'chatgpt'"):
        formats()


def test_a_format_failing_while_writing_leaves_nothing(
    store: ConversationStore, tmp_path: Path, registered: list[Any]
) -> None:
    """Guards the one transaction: a loader that fails only on the second (writing)
    pass — a file changed in between — rolls back everything already written."""
    calls: dict[str, int] = {}

    def flaky(path: Path, limits: ImportLimits) -> Iterator[ImportedConversation]:
        calls[path.name] = calls.get(path.name, 0) + 1
        yield from _read_log(path, limits)
        if path.name == "b.fakelog" and calls[path.name] == 2:
            raise InvalidInput(f"{path.name}: changed while importing")

    plugin = FakeLogPlugin(flaky)
    plugin_manager().register(plugin)
    registered.append(plugin)
    first, second = _log(tmp_path / "a.fakelog"), _log(tmp_path / "b.fakelog")
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="changed while importing"):
        import_paths(store, [first, second])
    # a.fakelog was written in the second pass before b.fakelog failed.
    assert calls == {"a.fakelog": 2, "b.fakelog": 2}
    assert snapshot(store) == before


def test_export_formats_are_registered_too() -> None:
    """Guards: JSON, JSON Lines and Markdown exports go through the same registry."""
    assert export_format_names()[:3] == ["json", "jsonl", "markdown"]
