"""What an import costs in memory, measured in a child process (peak RSS growth).

QA found a 5.2 MB zip of 5 GiB of spaces driving ``threadkeep import`` to 4.3 GB RSS
before it was refused, and a 72 MB JSON export peaking at 361 MB. Each test here runs
the import in a fresh interpreter and compares ``ru_maxrss`` before and after, so what
is asserted is memory, not time. The child also caps its address space a little above
what it holds, so a regression fails with a MemoryError instead of taking the
machine's memory.
"""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest

from threadkeep.transfer.document import Checksum, canonical

MB = 1 << 20
GIB = 1 << 30

_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path

    from threadkeep import Settings, open_store
    from threadkeep.errors import ThreadkeepError
    from threadkeep.transfer.importer import import_paths

    database, path, settings = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    with open_store(f"sqlite:///{database}", settings=Settings.load(**settings)) as store:
        status = open("/proc/self/status").read().split("VmSize:")[1]
        size = int(status.split()[0]) * 1024
        _, hard = resource.getrusage, resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (size + 2 * 2**30, hard))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            report = import_paths(store, [path]).to_dict()
            error = None
        except ThreadkeepError as exc:
            report, error = None, [type(exc).__name__, str(exc)]
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth": (after - before) * 1024, "error": error, "report": report}))
    """
)


def _import_in_child(tmp_path: Path, path: Path, **settings: Any) -> dict[str, Any]:
    """Import ``path`` into a fresh SQLite database in a child; its growth and outcome."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "child.db"), str(path), json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- zip bombs --------------------------------------------------------------------------


def _spaces_deflated(mebibytes: int) -> bytes:
    """Raw deflate data that inflates to ``mebibytes`` MiB of spaces, made in O(output):
    after a full flush the compressor starts afresh, so every 1 MiB block after the
    first is the same bytes and is repeated rather than compressed again."""
    chunk = b" " * MB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH) == again
    end = compressor.flush(zlib.Z_FINISH)
    data = first + again * (mebibytes - 1) + end
    probe = zlib.decompressobj(-15)
    assert probe.decompress(first + again + end) == chunk * 2  # the blocks do chain
    return data


def _zip_of(path: Path, name: str, deflated: bytes, *, declared: int) -> Path:
    """A zip holding one deflated member that says it unpacks to ``declared`` bytes."""
    encoded = name.encode()
    crc = 0  # never checked: the bomb is refused (or the liar caught) before the end
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(deflated), declared,
        len(encoded), 0,
    )  # fmt: skip
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(deflated),
        declared, len(encoded), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    offset = len(local) + len(encoded) + len(deflated)
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(encoded), offset, 0
    )
    path.write_bytes(local + encoded + deflated + central + encoded + end)
    return path


@pytest.mark.slow
def test_a_zip_bomb_is_refused_at_default_limits_without_growing(tmp_path: Path) -> None:
    """Guards against QA's zip bomb: 3 GiB of spaces in a 3 MB zip, at the default
    limits, drove the import to read the member whole (4.3 GB RSS). It must be refused
    from the size the zip declares, before anything is decompressed."""
    bomb = _zip_of(
        tmp_path / "bomb.zip", "conversations.json", _spaces_deflated(3072), declared=3 * GIB
    )
    assert bomb.stat().st_size < 8 * MB
    result = _import_in_child(tmp_path, bomb)
    assert result["error"][0] == "TooLarge"
    assert (
        "bomb.zip: unpacks to 3,221,225,472 bytes (as its directory declares)"
        in (result["error"][1])
    )
    assert result["growth"] < 300 * MB


@pytest.mark.slow
def test_a_zip_whose_header_lies_is_stopped_without_growing(tmp_path: Path) -> None:
    """Guards against a zip that declares a small member and holds 3 GiB: the member is
    read as a stream and never past what it declared (the CRC then gives the lie away)."""
    liar = _zip_of(
        tmp_path / "liar.zip", "conversations.json", _spaces_deflated(3072), declared=4096
    )
    result = _import_in_child(tmp_path, liar)
    assert result["error"][0] == "InvalidInput"
    assert result["error"][1].startswith("liar.zip/conversations.json: ")
    assert result["growth"] < 300 * MB


@pytest.mark.slow
def test_a_gzip_bomb_is_decompressed_as_a_bounded_stream(tmp_path: Path) -> None:
    """Guards against a .gz document being unpacked whole before it is refused: 300 MB
    of whitespace under a 200 MB limit is refused at the limit, holding little of it."""
    path = tmp_path / "doc.json.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b'{"format": "threadkeep", "format_version": 1,')
        for _ in range(300):
            out.write(b" " * MB)
        out.write(b'"conversations": []}')
    result = _import_in_child(tmp_path, path, import_max_unpacked_bytes=200_000_000)
    assert result["error"][0] == "TooLarge"
    assert result["error"][1].endswith(
        "doc.json.gz: unpacks to more than 200,000,000 bytes (setting import_max_unpacked_bytes)"
    )
    assert result["growth"] < 100 * MB


# -- JSON documents ---------------------------------------------------------------------


def _document(path: Path, conversations: int, messages: int, size: int) -> Path:
    """A threadkeep JSON document written record by record (as the exporter does)."""
    checksum = Checksum()
    with path.open("w") as out:
        out.write('{"format":"threadkeep","format_version":1,')
        out.write('"exported_at":"2025-03-01T12:00:00.000000+00:00","threadkeep_version":"0.1.0",')
        out.write('"conversations":[')
        for number in range(conversations):
            conversation: dict[str, Any] = {
                "id": f"0195a000-0000-7000-8000-{number:012d}",
                "title": f"conversation {number}",
                "mode": "chat",
                "provider": None,
                "provider_session_id": None,
                "model": None,
                "context": {},
                "status": "active",
                "pinned": False,
                "tags": [],
                "created_at": "2025-03-01T12:00:00.000000+00:00",
                "updated_at": "2025-03-01T12:00:00.000000+00:00",
                "trashed_at": None,
                "forked_from": None,
            }
            checksum.add(canonical(conversation))
            out.write(("," if number else "") + json.dumps(conversation)[:-1] + ',"messages":[')
            for seq in range(1, messages + 1):
                message = {
                    "id": f"0195a000-{number:04d}-7000-8000-{seq:012d}",
                    "seq": seq,
                    "role": "user" if seq % 2 else "assistant",
                    "kind": "text",
                    "content": f"message {seq} " + "lorem ipsum " * (size // 12),
                    "status": "complete",
                    "metadata": {"n": seq},
                    "tokens": 10,
                    "run_id": None,
                    "created_at": "2025-03-01T12:00:00.000000+00:00",
                    "updated_at": "2025-03-01T12:00:00.000000+00:00",
                }
                checksum.add(canonical(message))
                out.write(("," if seq > 1 else "") + json.dumps(message))
            out.write("]}")
        total = {"conversations": conversations, "messages": conversations * messages}
        out.write(f'],"counts":{json.dumps(total)},"checksum":"{checksum.value()}"}}')
    return path


@pytest.mark.slow
def test_a_large_json_document_imports_in_flat_memory(tmp_path: Path) -> None:
    """Guards against a threadkeep JSON document being decoded whole (a 72 MB export
    peaked at 361 MB): it is read a message at a time, so importing 48 MB grows the
    process by far less than the document's size."""
    path = _document(tmp_path / "big.json", conversations=24, messages=2_000, size=1_000)
    assert path.stat().st_size > 45 * MB
    result = _import_in_child(tmp_path, path)
    assert result["error"] is None
    assert result["report"]["messages_imported"] == 48_000
    assert result["growth"] < 40 * MB
