"""``python -m bench``: run the benchmark and print the Markdown table.

Parses the command line into a :class:`bench.runner.RunConfig`, runs every job in fresh
subprocesses (progress on stderr), prints the report on stdout and writes
``bench/results/latest.md`` and ``latest.json`` (or into ``--output``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import cast, get_args

from bench.machine import describe_machine, load_average
from bench.report import render_markdown, to_json, write_outputs
from bench.runner import REPO_ROOT, RunConfig, ScaleConfig, run_all
from bench.systems import SYSTEMS, Synchronous, SystemName
from bench.workloads import FULL_SIZES, QUICK_SIZES

__all__ = ["main"]

_WORKLOADS = ("w1", "w2", "w3", "w4")


def _choices(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
        )
    return chosen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="threadkeep side by side with a raw-SQLite baseline, the OpenAI Agents "
        "SDK SQLiteSession and LangChain SQLChatMessageHistory.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts and 1 repeat: a smoke run of a few seconds",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per workload; the median is reported (default 3, quick 1)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also measure W3 and W4 on 1,000,000 conversations / 10,000,000 "
        "messages (builds a multi-GB fixture per system; takes a while)",
    )
    parser.add_argument(
        "--scale-conversations",
        type=int,
        default=1_000_000,
        metavar="N",
        help="conversations in the scale fixture (default 1,000,000)",
    )
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated subset of {','.join(SYSTEMS)}",
    )
    parser.add_argument(
        "--settings",
        default="FULL,NORMAL",
        help="synchronous levels for the baseline and threadkeep",
    )
    parser.add_argument(
        "--workloads", default=",".join(_WORKLOADS), help="comma-separated subset of w1,w2,w3,w4"
    )
    parser.add_argument(
        "--tmpdir",
        type=Path,
        default=None,
        help="where the database files go (default: the system temp dir)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO_ROOT / "bench" / "results",
        help="directory for latest.md and latest.json",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        systems = _choices(args.systems, SYSTEMS, "system")
        settings = _choices(args.settings.upper(), get_args(Synchronous), "setting")
        workloads = _choices(args.workloads.lower(), _WORKLOADS, "workload")
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    scale = None
    if args.scale:
        scale = ScaleConfig(conversations=args.scale_conversations)
        if args.quick:
            scale = ScaleConfig(
                conversations=min(args.scale_conversations, 20_000),
                long_conversation=1_000,
                reads=50,
                full_scan_reads=2,
            )
    config = RunConfig(
        sizes=QUICK_SIZES if args.quick else FULL_SIZES,
        repeat=repeat,
        settings=cast(tuple[Synchronous, ...], settings),
        systems=cast(tuple[SystemName, ...], systems),
        workloads=frozenset(workloads),
        scale=scale,
        tmpdir=args.tmpdir,
        quick=args.quick,
    )

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    machine = describe_machine(REPO_ROOT)
    progress(machine.header())
    started = dt.datetime.now(dt.UTC)
    load_start = load_average()
    clock = time.perf_counter()
    rows = run_all(config, progress)
    seconds = time.perf_counter() - clock
    load = (load_start, load_average())
    markdown = render_markdown(machine, config, rows, started, seconds, load)
    document = to_json(machine, config, rows, started, seconds, load)
    paths = write_outputs(markdown, document, args.output)
    print(markdown)
    progress("written: " + ", ".join(str(path) for path in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
