"""Command line: `python -m handler optimize PATH... --out DIR`, the same core as the Lambda functions."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TextIO

from handler import cores
from handler.core import optimize
from handler.errors import ConfigError
from handler.quality import model as model_module
from handler.settings import PRESETS, Settings


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


FAILED = "failed"


class PlanError(ValueError):
    """The arguments cannot be turned into jobs (a missing input, two inputs for one output)."""


RUN_RECORD = ".optimal-image-run.json"
"""Kept in --out: the settings its outputs are made with, so that a run with other settings (another --target)
redoes them instead of taking them for current."""


def _walk(path: Path, out: Path) -> Iterator[tuple[Path, Path]]:
    """(file, its path relative to the argument's root) for a file or, recursively, a folder; files under
    `out` are skipped, so that an output folder inside an input folder is not read back as input, and so is
    a run record (a folder of outputs given as input holds one)."""
    if path.is_dir():
        resolved_out = out.resolve()
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != RUN_RECORD):
            if not file.resolve().is_relative_to(resolved_out):
                yield file, file.relative_to(path)
    elif path.is_file():
        yield path, Path(path.name)
    else:
        raise PlanError(f"{path}: no such file or folder")


def plan(paths: Iterable[Path], out: Path) -> list[Job]:
    """One job per input file; the output mirrors the file's place below its argument (a folder's files
    keep their sub-folders, a file argument lands at the top of `out`)."""
    jobs = [Job(file, out / relative) for path in paths for file, relative in _walk(path, out)]
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.output in seen:
            raise PlanError(f"{seen[job.output]} and {job.source} would both be written to {job.output}")
        seen[job.output] = job.source
    return jobs


def is_current(job: Job, since: float) -> bool:
    """An output written after its input was last changed, and `since` its folder's settings last changed,
    needs no second run."""
    return job.output.exists() and job.output.stat().st_mtime >= max(job.source.stat().st_mtime, since)


def settings_since(out: Path, settings: Settings) -> float:
    """When `out` began to be filled with these settings: its run record's time, the record written anew
    (so, now) where it is missing or names other settings. Writing it before any output means that an
    interrupted run at new settings leaves the old outputs older than the record, so a resumed run redoes them."""
    record, wanted = out / RUN_RECORD, asdict(settings)
    try:
        previous = json.loads(record.read_text())
    except (OSError, ValueError):
        previous = None
    if previous != wanted:
        if isinstance(previous, dict):
            changed = ", ".join(f"{k} {previous.get(k)} -> {v}" for k, v in wanted.items() if previous.get(k) != v)
            print(f"{out} holds outputs made with other settings ({changed}): they are redone", file=sys.stderr)
        write_whole(record, json.dumps(wanted, sort_keys=True).encode())
    return record.stat().st_mtime


def write_whole(path: Path, data: bytes) -> None:
    """Write beside the output and rename, so that a full disk or a killed run never leaves a partial file
    that the next run's `is_current` would take for a finished one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


_worker_state: dict[str, object] = {}


def _init_worker(settings: Settings) -> None:
    _worker_state.update(settings=settings, model=model_module.load())


def run_job(job: Job) -> dict[str, object]:
    """Optimize one file. A file that cannot be read or written is a 'failed' record, not a crash; so is a fault
    in this program (with its traceback on stderr), so that one file cannot end a run over thousands."""
    settings: Settings = _worker_state["settings"]
    paths = {"input": str(job.source), "output": str(job.output)}
    try:
        data, result = optimize(job.source.read_bytes(), settings, _worker_state["model"])
        write_whole(job.output, data)
    except OSError as exc:
        return {**paths, "outcome": FAILED, "reason": "io-error", "detail": str(exc)}
    except Exception as exc:  # noqa: BLE001 - recorded and shown below, and the run's status is 1
        traceback.print_exc(file=sys.stderr)
        return {**paths, "outcome": FAILED, "reason": "internal-error", "detail": f"{type(exc).__name__}: {exc}"}
    return {**paths, **result.as_dict()}


def _progress(done: int, total: int, stream: TextIO) -> None:
    """A bar redrawn in place, on a terminal only (in a log or a pipe it would be noise)."""
    if stream.isatty():
        width = 30
        filled = width * done // max(total, 1)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        stream.write("\n" if done == total else "")
        stream.flush()


def summary(records: list[dict[str, object]], skipped: int) -> str:
    bytes_in = sum(int(r.get("bytes_in", 0)) for r in records)
    bytes_out = sum(int(r.get("bytes_out", 0)) for r in records)
    saving = 1 - bytes_out / bytes_in if bytes_in else 0.0
    outcomes = Counter(r["outcome"] + ("" if r["outcome"] == "optimized" else f" ({r['reason']})") for r in records)
    lines = [
        f"files: {len(records)} processed, {skipped} already current",
        f"bytes: {bytes_in} -> {bytes_out} (saving {saving:.1%})",
        *(f"  {count:5d}  {outcome}" for outcome, count in sorted(outcomes.items())),
    ]
    return "\n".join(lines)


def run_all(todo: list[Job], settings: Settings, workers: int, report: TextIO | None) -> list[dict[str, object]]:
    """Run the jobs on `workers` processes; each record goes to stdout (and the report) as soon as it is in."""
    records: list[dict[str, object]] = []
    if not todo:
        return records
    with ProcessPoolExecutor(min(workers, len(todo)), initializer=_init_worker, initargs=(settings,)) as pool:
        for record in pool.map(run_job, todo, chunksize=1):
            records.append(record)
            line = json.dumps(record, sort_keys=True)
            print(line, flush=True)
            if report:
                report.write(line + "\n")
            _progress(len(records), len(todo), sys.stderr)
    return records


def optimize_command(args: argparse.Namespace) -> int:
    """JSON lines on stdout, progress and summary on stderr. Exit 1 when a file (or --out) could not be read or
    written, 2 for bad arguments or a bad setting in the environment."""
    try:
        settings = Settings.from_env()
        jobs = plan(args.paths, args.out)
    except (ConfigError, PlanError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = replace(settings, target=args.target or settings.target, verify=settings.verify and not args.no_verify)
    try:
        since = settings_since(args.out, settings)
    except OSError as exc:
        print(f"error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    todo = jobs if args.force else [job for job in jobs if not is_current(job, since)]
    # appended to, so that after a resumed run the report still covers the files the first run did
    with open(args.report, "a", encoding="utf-8") if args.report else nullcontext() as report:
        records = run_all(todo, settings, args.jobs or cores(), report)
    print(summary(records, len(jobs) - len(todo)), file=sys.stderr)
    return 1 if any(r["outcome"] == FAILED for r in records) else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m handler", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    opt = commands.add_parser("optimize", help="recompress files or folders (recursively) into --out")
    opt.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files or folders")
    opt.add_argument("--out", required=True, type=Path, help="output folder (same file names, same sub-folders)")
    opt.add_argument("--target", type=int, choices=PRESETS, help="SSIMULACRA2 target (default: TARGET or 80)")
    opt.add_argument("--no-verify", action="store_true", help="trust the prediction, skip the check")
    opt.add_argument("--jobs", type=int, help="worker processes (default: the cores this process may use)")
    opt.add_argument("--force", action="store_true", help="redo inputs whose output is already current")
    opt.add_argument("--report", type=Path, help="also append the JSON lines to this file")
    opt.set_defaults(func=optimize_command)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)
