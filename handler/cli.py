"""Command line: `python -m handler optimize PATH... --out DIR`, the same core as the Lambda functions."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TextIO

from handler import cores
from handler.core import optimize
from handler.errors import ConfigError
from handler.quality import model as model_module
from handler.result import OPTIMIZED, Decision, jpeg_name
from handler.settings import JPEG_ONLY, PRESETS, Settings, formats


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    key: str
    """The output's path below --out, by which the index finds what was last written for this input."""
    converted: Path | None = None
    """Where the output goes if it is optimized, so a JPEG: `output` named as a JPEG (see `converted_names`)."""

    def written_to(self, outcome: str) -> Path:
        """An optimized output is named by its format; an original kept or rejected keeps its name."""
        return self.converted if outcome == OPTIMIZED and self.converted else self.output


FAILED = "failed"


class PlanError(ValueError):
    """The arguments cannot be turned into jobs (a missing input, two inputs for one output)."""


RUN_RECORD = ".optimal-image-run.json"
"""Kept in --out: the settings its outputs are made with, so that a run with other settings (another --target)
can say which one changed."""

INDEX = ".optimal-image-index.jsonl"
"""Kept in --out, one line per output written: the sha256 of the input bytes it was made from and the settings'
digest. Resuming decides by these, not by file times, which cp -p, rsync -a and unzip carry over from elsewhere."""

BOOKKEEPING = (RUN_RECORD, INDEX)


def _walk(path: Path, out: Path) -> Iterator[tuple[Path, Path]]:
    """(file, its path relative to the argument's root) for a file or, recursively, a folder; files under
    `out` are skipped, so that an output folder inside an input folder is not read back as input, and so is
    a run record (a folder of outputs given as input holds one)."""
    if path.is_dir():
        resolved_out = out.resolve()
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name not in BOOKKEEPING):
            if not file.resolve().is_relative_to(resolved_out):
                yield file, file.relative_to(path)
    elif path.is_file():
        yield path, Path(path.name)
    else:
        raise PlanError(f"{path}: no such file or folder")


def check_out(paths: Iterable[Path], out: Path) -> None:
    """Refuse an --out whose outputs would replace inputs or be skipped as outputs: an input folder itself (or
    a folder holding one), or an input file."""
    resolved = out.resolve()
    for path in paths:
        inside = path.resolve().is_relative_to(resolved)
        if path.is_dir() and inside:
            raise PlanError(f"--out {out} is the input folder {path} or holds it: its outputs would replace its "
                            "inputs or be skipped as outputs; choose another folder")
        if out.is_file() and (inside or resolved.is_relative_to(path.resolve())):
            raise PlanError(f"--out {out} is an input file; choose a folder that is not an input")


def plan(paths: Iterable[Path], out: Path) -> list[Job]:
    """One job per input file; the output mirrors the file's place below its argument (a folder's files
    keep their sub-folders, a file argument lands at the top of `out`)."""
    paths = list(paths)
    check_out(paths, out)
    jobs = [Job(file, out / relative, relative.as_posix()) for path in paths for file, relative in _walk(path, out)]
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.output in seen:
            raise PlanError(f"{seen[job.output]} and {job.source} would both be written to {job.output}")
        if job.output.resolve() == job.source.resolve():
            raise PlanError(f"{job.source} would be written over itself; choose another --out")
        seen[job.output] = job.source
    return converted_names(jobs)


def converted_names(jobs: list[Job]) -> list[Job]:
    """The jobs with the path each output takes if it is optimized: its name as a JPEG's (x.png -> x.jpg); where
    another input's output would have that name too (x.jpg beside x.png, or x.tif), its whole name with .jpg
    (x.png.jpg). Names are compared ignoring case, as macOS's and Windows's file systems do."""
    outputs = {str(job.output).casefold() for job in jobs}
    wanted = Counter(jpeg_name(str(job.output)).casefold() for job in jobs)
    named, claimed = [], set(outputs)
    for job in jobs:
        name = jpeg_name(str(job.output))
        if name != str(job.output):
            if name.casefold() in outputs or wanted[name.casefold()] > 1:
                name = f"{job.output}.jpg"
            if name.casefold() in claimed:
                raise PlanError(f"{job.source}: its optimized output would be written to {name}, another input's")
            claimed.add(name.casefold())
        named.append(replace(job, converted=Path(name)))
    return named


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def settings_digest(settings: Settings) -> str:
    """What the index records of the settings an output was made with: the run record's content, hashed."""
    return hashlib.sha256(json.dumps(recorded(settings), sort_keys=True).encode()).hexdigest()[:16]


def is_current(job: Job, entry: dict[str, object] | None, out: Path) -> bool:
    """True where the index's last entry for this job was made, with these settings (the caller's filter), from
    bytes whose sha256 the input still has, and its output is still there, whole. A size that differs needs
    no hash."""
    if entry is None:
        return False
    output = out / str(entry["output"])
    try:
        whole = output.is_file() and output.stat().st_size == entry["bytes_out"]
        return whole and job.source.stat().st_size == entry["bytes_in"] and sha256_of(job.source) == entry["sha256"]
    except OSError:
        return False


def read_index(out: Path) -> dict[str, dict[str, object]]:
    """The last entry per job key. A line cut short by a killed run is skipped: its file is redone."""
    entries: dict[str, dict[str, object]] = {}
    try:
        lines = (out / INDEX).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return entries
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            entries[entry["key"]] = entry
    return entries


def index_entry(job: Job, record: dict[str, object], out: Path, digest: str) -> dict[str, object]:
    """What the index keeps of one output: where it is, what it was made from and with, and its outcome."""
    return {"key": job.key, "output": Path(str(record["output"])).relative_to(out).as_posix(),
            "sha256": record["input_sha256"], "settings": digest, "bytes_in": record["bytes_in"],
            "bytes_out": record["bytes_out"], "outcome": record["outcome"], "reason": record["reason"]}


@dataclass
class Index:
    """--out's index while a run writes to it: what the last run left (`previous`), the file this run's entries
    are appended to, and every path this run's jobs may write (`claimed`)."""

    out: Path
    digest: str
    previous: dict[str, dict[str, object]]
    file: TextIO
    claimed: frozenset[Path]

    @classmethod
    def open(cls, out: Path, digest: str, jobs: list[Job]) -> Index:
        """The index rewritten with one line per key (so it does not grow with every resumption, and a cut line
        is gone), open for appending this run's entries."""
        previous = read_index(out)
        write_whole(out / INDEX, "".join(json.dumps(e, sort_keys=True) + "\n" for e in previous.values()).encode())
        claimed = frozenset(path for job in jobs for path in (job.output, job.converted) if path)
        return cls(out, digest, previous, open(out / INDEX, "a", encoding="utf-8"), claimed)

    def add(self, job: Job, record: dict[str, object]) -> None:
        """Keep what `record`'s output was made from, and remove the output the job's input had before where it
        was written under another name (x.jpg, now that x.png is kept as x.png) that no other input claims."""
        written = Path(str(record["output"]))
        self.file.write(json.dumps(index_entry(job, record, self.out, self.digest), sort_keys=True) + "\n")
        self.file.flush()
        before = self.previous.get(job.key)
        if before is not None:
            old = self.out / str(before["output"])
            if old != written and old not in self.claimed - {job.output, job.converted}:
                old.unlink(missing_ok=True)


def recorded(settings: Settings) -> dict[str, object]:
    """The settings that shape an output, as the run record keeps them (as JSON reads them back). FORMATS is left out
    at its default, jpeg alone, so that a folder written before variants existed is not taken for another run's."""
    fields = asdict(settings)
    if settings.formats == JPEG_ONLY:
        del fields["formats"]
    return json.loads(json.dumps(fields))


def note_settings(out: Path, settings: Settings) -> None:
    """Keep the settings in the run record and, where it names others, say which changed (their outputs are
    redone: the index's entries carry the old settings' digest)."""
    record, wanted = out / RUN_RECORD, recorded(settings)
    try:
        previous = json.loads(record.read_text())
    except (OSError, ValueError):
        previous = None
    if previous != wanted:
        if isinstance(previous, dict):
            changed = ", ".join(f"{k} {previous.get(k)} -> {v}" for k, v in wanted.items() if previous.get(k) != v)
            print(f"{out} holds outputs made with other settings ({changed}): they are redone", file=sys.stderr)
        write_whole(record, json.dumps(wanted, sort_keys=True).encode())
    elif not (out / INDEX).exists():
        print(f"{out} has no index of what its outputs were made from (written by an earlier version): every file "
              "is redone", file=sys.stderr)


def write_whole(path: Path, data: bytes) -> None:
    """Write beside the output and rename, so that a full disk or a killed run never leaves a partial file
    where an output (or the index) is expected."""
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


@contextmanager
def fd2_captured(lines: list[str]) -> Iterator[None]:
    """Collect into `lines` what is written to file descriptor 2 while the block runs: C libraries (libtiff)
    write their messages there directly, where they would reach the terminal without the file's name."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip())


def with_messages(record: dict[str, object], messages: list[str]) -> dict[str, object]:
    """The record with what the libraries wrote to stderr for its file added to its detail."""
    new = [m for m in dict.fromkeys(messages) if m not in str(record.get("detail", ""))]
    if not new:
        return record
    detail = [str(record.get("detail", "")), *(f"stderr: {m}" for m in new)]
    return {**record, "detail": "; ".join(filter(None, detail))}


def run_job(job: Job) -> dict[str, object]:
    """Optimize one file. A file that cannot be read or written is a 'failed' record, not a crash; so is a fault
    in this program (with its traceback on stderr), so that one file cannot end a run over thousands."""
    settings: Settings = _worker_state["settings"]
    paths = {"input": str(job.source), "output": str(job.output)}
    messages: list[str] = []
    try:
        data = job.source.read_bytes()
        with fd2_captured(messages):
            decision = optimize(data, settings, _worker_state["model"])
        paths["output"] = str(job.written_to(decision.result.outcome))
        write_whole(Path(paths["output"]), decision.data)
        write_variants(Path(paths["output"]), decision, settings)
    except OSError as exc:
        return {**paths, "outcome": FAILED, "reason": "io-error", "detail": str(exc)}
    except Exception as exc:  # noqa: BLE001 - recorded and shown below, and the run's status is 1
        traceback.print_exc(file=sys.stderr)
        return {**paths, "outcome": FAILED, "reason": "internal-error", "detail": f"{type(exc).__name__}: {exc}"}
    record = {**paths, **decision.result.as_dict(), "input_sha256": hashlib.sha256(data).hexdigest()}
    return with_messages(record, messages)


def write_variants(output: Path, decision: Decision, settings: Settings) -> None:
    """Each variant beside the output (x.jpg.avif, x.jpg.webp); for a format --formats asks for that got none this
    time, an earlier run's file there is removed, so that the folder never pairs a JPEG with an older picture."""
    made = {variant.suffix: variant.data for variant in decision.variants}
    for name in settings.formats[1:]:
        beside = output.with_name(output.name + "." + name)
        if "." + name in made:
            write_whole(beside, made["." + name])
        else:
            beside.unlink(missing_ok=True)


def _progress(done: int, total: int, stream: TextIO) -> None:
    """A bar redrawn in place, on a terminal only (in a log or a pipe it would be noise)."""
    if stream.isatty():
        width = 30
        filled = width * done // max(total, 1)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        stream.write("\n" if done == total else "")
        stream.flush()


def _bytes(rows: Iterable[dict[str, object]]) -> str:
    rows = list(rows)
    bytes_in = sum(int(r.get("bytes_in", 0)) for r in rows)
    bytes_out = sum(int(r.get("bytes_out", 0)) for r in rows)
    return f"{bytes_in} -> {bytes_out} (saving {1 - bytes_out / bytes_in if bytes_in else 0.0:.1%})"


def summary(records: list[dict[str, object]], current: list[dict[str, object]]) -> str:
    """Files and bytes over every input, those already current (by their index entries) as well as those
    processed now; the outcomes of the files processed now."""
    outcomes = Counter(r["outcome"] + ("" if r["outcome"] == "optimized" else f" ({r['reason']})") for r in records)
    bytes_line = f"bytes: {_bytes([*records, *current])}"
    if current:
        bytes_line += f" over all {len(records) + len(current)} files"
        bytes_line += f"; processed now: {_bytes(records)}" if records else ""
    lines = [
        f"files: {len(records)} processed, {len(current)} already current",
        bytes_line,
        *(f"  {count:5d}  {outcome}" for outcome, count in sorted(outcomes.items())),
    ]
    return "\n".join(lines)


def _input_size(job: Job) -> int:
    """The input's bytes on disk, the scheduling's guess at its work (0 if it cannot be read: it fails fast)."""
    try:
        return job.source.stat().st_size
    except OSError:
        return 0


def run_all(todo: list[Job], settings: Settings, workers: int, report: TextIO | None,
            index: Index) -> list[dict[str, object]]:
    """Run the jobs on `workers` processes; each record goes to stdout (and the report) as soon as it is in, and
    each output written to the index."""
    records: list[dict[str, object]] = []
    if not todo:
        return records
    with ProcessPoolExecutor(min(workers, len(todo)), initializer=_init_worker, initargs=(settings,)) as pool:
        # Largest inputs first, so that no worker is left with a large photo while the others idle; the
        # records still come out in the order of the inputs.
        running = {id(job): pool.submit(run_job, job) for job in sorted(todo, key=_input_size, reverse=True)}
        for job, record in ((job, running[id(job)].result()) for job in todo):
            if record["outcome"] != FAILED:
                index.add(job, record)
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
    settings = replace(settings, target=args.target or settings.target, verify=settings.verify and not args.no_verify,
                       formats=args.formats or settings.formats)
    digest = settings_digest(settings)
    try:
        note_settings(args.out, settings)
        index = Index.open(args.out, digest, jobs)
    except OSError as exc:
        print(f"error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    entries = index.previous
    mine = {job.key: entries[job.key] for job in jobs if entries.get(job.key, {}).get("settings") == digest}
    current = [] if args.force else [mine[job.key] for job in jobs if is_current(job, mine.get(job.key), args.out)]
    done = {str(entry["key"]) for entry in current}
    todo = [job for job in jobs if job.key not in done]
    # appended to, so that after a resumed run the report still covers the files the first run did
    with index.file, open(args.report, "a", encoding="utf-8") if args.report else nullcontext() as report:
        records = run_all(todo, settings, args.jobs or cores(), report, index)
    print(summary(records, current), file=sys.stderr)
    return 1 if any(r["outcome"] == FAILED for r in records) else 0


def workers(value: str) -> int:
    """--jobs: a whole number of at least 1 (argparse turns the error into status 2 with the usage)."""
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: at least 1 worker is needed")
    return count


def formats_argument(value: str) -> tuple[str, ...]:
    """--formats, as FORMATS (handler.settings.formats); argparse turns the error into status 2 with the usage."""
    try:
        return formats(value, "--formats")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m handler", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    opt = commands.add_parser("optimize", help="recompress files or folders (recursively) into --out")
    opt.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files or folders")
    opt.add_argument("--out", required=True, type=Path, help="output folder (same file names, same sub-folders)")
    opt.add_argument("--target", type=int, choices=PRESETS, help="SSIMULACRA2 target (default: TARGET or 80)")
    opt.add_argument("--no-verify", action="store_true", help="trust the prediction, skip the check")
    opt.add_argument("--formats", type=formats_argument, metavar="jpeg[,avif][,webp]",
                     help="also write AVIF/WebP variants beside each JPEG where smaller (default: FORMATS or jpeg)")
    opt.add_argument("--jobs", type=workers, help="worker processes (default: the cores this process may use)")
    opt.add_argument("--force", action="store_true", help="redo inputs whose output is already current")
    opt.add_argument("--report", type=Path, help="also append the JSON lines to this file")
    opt.set_defaults(func=optimize_command)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)
