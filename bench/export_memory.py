"""Export memory: peak RSS of exporting 1,000,000 messages (SPEC S6.1: memory stays flat).

``python -m bench.export_memory`` builds a SQLite store of 1,000 conversations of 1,000
messages (``--quick``: 100 of them) through the public ``append_messages``, one
conversation per call, then exports it once per format (JSON Lines, JSON, Markdown) in
a fresh subprocess each, with redaction on (the default), and prints a table: time,
throughput, file size, and the subprocess's peak resident memory
(``getrusage(RUSAGE_SELF).ru_maxrss``) next to its resident memory just before the
export began (interpreter, threadkeep and SQLAlchemy loaded, store open). The target
is a peak under 200 MB at 1,000,000 messages.

Messages are ~200 characters of varied text, every fifth with a small metadata
object, every fiftieth with something redaction masks. Settings come from defaults
only (``THREADKEEP_HOME`` points into the temporary directory), except
``sqlite_synchronous=NORMAL`` while the fixture is built.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from threadkeep import MessageDraft, Settings, open_store
from threadkeep.transfer.exporter import export_to_path

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("jsonl", "json", "markdown")
_SUFFIX = {"jsonl": ".jsonl", "json": ".json", "markdown": ".md"}
_WORDS = (
    "the store keeps every conversation safe across restarts and crashes while the agent "
    "resumes with the right context and people search rename archive export and import"
).split()


def _content(index: int) -> str:
    words = [_WORDS[(index * 7 + k * 3) % len(_WORDS)] for k in range(34)]
    text = f"message {index}: " + " ".join(words)
    if index % 50 == 0:
        text += " token sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    return text


def build(path: Path, conversations: int, per_conversation: int) -> float:
    """Fill a new store at ``path``; return the seconds it took."""
    started = time.perf_counter()
    settings = Settings(sqlite_synchronous="NORMAL")
    with open_store(path, settings=settings) as store:
        number = 0
        for c in range(conversations):
            conversation = store.create_conversation(title=f"Conversation {c}", tags=["bench"])
            drafts = []
            for _ in range(per_conversation):
                role = "user" if number % 2 == 0 else "assistant"
                metadata = {"n": number, "model": "gpt-bench"} if number % 5 == 0 else None
                drafts.append(
                    MessageDraft(role=role, content=_content(number), metadata=metadata, tokens=48)
                )
                number += 1
            store.append_messages(conversation.id, drafts)
    return time.perf_counter() - started


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1_000_000


def child(database: Path, format: str, out: Path) -> dict[str, Any]:
    """Run in the subprocess: export ``database`` to ``out``; return the measurements."""
    with open_store(database, settings=Settings()) as store:
        before = _rss_mb()
        started = time.perf_counter()
        report = export_to_path(store, out, format=format)
        seconds = time.perf_counter() - started
    return {
        "format": format,
        "messages": report.messages,
        "conversations": report.conversations,
        "seconds": seconds,
        "bytes": report.bytes_written,
        "redacted": sum(report.redacted.values()),
        "rss_before_mb": before,
        "peak_rss_mb": _rss_mb(),
    }


def _measure(database: Path, format: str, out: Path, home: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADKEEP_")}
    env["THREADKEEP_HOME"] = str(home)
    command = [
        sys.executable,
        "-m",
        "bench.export_memory",
        "--child",
        str(database),
        format,
        str(out),
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def render(rows: list[dict[str, Any]], build_seconds: float) -> str:
    lines = [
        f"fixture built in {build_seconds:.1f} s",
        "",
        "| format | messages | seconds | messages/s | file | RSS before | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        rate = row["messages"] / row["seconds"] if row["seconds"] else 0.0
        lines.append(
            f"| {row['format']} | {row['messages']:,} | {row['seconds']:.1f} | {rate:,.0f} "
            f"| {row['bytes'] / 1_000_000:,.0f} MB | {row['rss_before_mb']:.0f} MB "
            f"| {row['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.export_memory",
        description="Peak memory of exporting a large store, per format.",
    )
    parser.add_argument("--quick", action="store_true", help="100,000 messages, not 1,000,000")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the files go")
    parser.add_argument("--child", nargs=3, metavar=("DB", "FORMAT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        database, format, out = args.child
        print(json.dumps(child(Path(database), format, Path(out))))
        return
    conversations = 100 if args.quick else 1_000
    with tempfile.TemporaryDirectory(dir=args.tmpdir, prefix="tk-export-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        os.environ["THREADKEEP_HOME"] = str(home)
        database = root / "threadkeep.db"
        print(f"building {conversations * 1_000:,} messages ...", file=sys.stderr)
        build_seconds = build(database, conversations, 1_000)
        rows = []
        for format in FORMATS:
            print(f"exporting {format} ...", file=sys.stderr)
            out = root / f"export{_SUFFIX[format]}"
            rows.append(_measure(database, format, out, home))
            out.unlink()
    print(render(rows, build_seconds))


if __name__ == "__main__":
    main()
