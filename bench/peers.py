"""jpeg-recompress (jpeg-archive on mozjpeg) side by side with this function: `make peers`
(`python -m bench.peers`).

A fixed draw of held-out (test split) pictures. jpeg-recompress takes JPEG input: JPEG sources are given to it as
they are, as a user would run it; other sources (PNG) as a PPM of the pixels the function decodes, through its
--ppm option, so that no lossy intermediate stands between the original and either output. Each of its settings
below runs with its defaults otherwise (metadata kept, as the function keeps it by default). The function runs at
each preset with the shipped model, as bench/quality.py runs it. Every output is scored by this project's
SSIMULACRA2 against the original's decoded pixels, as bench/quality.py scores them: stored pixels on both
sides, since the function and the peer both keep the EXIF orientation tag and the pixels as stored. An output
that is not smaller than its input counts as the input (score 100), for both. Seconds are CPU seconds (the
peer's process; the function's, one BLAS thread), so that other load on the machine moves them little. The
peer binary is built by scripts/build_peers.sh. Writes bench/results/peers.md and peers-rows.csv (one row per
picture and runner).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from bench import corpus_arguments, on_draw, publish
from bench.quality import RESULTS, output_score, published, shipped_model
from handler.core import optimize
from handler.quality.ssim2 import Reference
from handler.settings import PRESETS, Settings
from training import corpus

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "build" / "peers" / "bin" / "jpeg-recompress"
PEER_SETTINGS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "--accurate": ("--accurate",),
    "--method ms-ssim": ("--method", "ms-ssim"),
    "--method smallfry": ("--method", "smallfry"),
    "--method mpe": ("--method", "mpe"),
    "--quality low": ("--quality", "low"),
    "--quality high": ("--quality", "high"),
    "--quality veryhigh": ("--quality", "veryhigh"),
    "--quality veryhigh --accurate": ("--quality", "veryhigh", "--accurate"),
    "--target 0.9994": ("--target", "0.9994"),
    "--subsample disable": ("--subsample", "disable"),
}
"""The peer's settings compared: its default (SSIM on luma, preset medium: target 0.9999), each other method and
preset, --accurate, 4:4:4, and one SSIM target between the presets low (0.999) and medium."""
PEER_TIMEOUT = 600
FUNCTION = "function"
PEER_NAME = "jpeg-recompress"


@dataclass(frozen=True)
class Row:
    """One output: `runner` is the function at a target or the peer at a setting."""

    name: str
    runner: str
    bytes_in: int
    bytes_out: int
    score: float
    seconds: float
    error: str = ""
    """Why the runner gave no output (the input counts as kept then); empty where it gave one."""


def function_runner(target: int) -> str:
    return f"{FUNCTION} at {target}"


def peer_runner(setting: str) -> str:
    return f"{PEER_NAME} {setting}"


def peer_input(item: corpus.Item, data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """What the peer is given: the JPEG itself, else a PPM of the decoded pixels with --ppm."""
    if item.info.format in ("JPEG", "MPO"):
        return data, ()
    buffer = io.BytesIO()
    item.pixels.convert("RGB").save(buffer, "PPM")
    return buffer.getvalue(), ("--ppm",)


def run_peer(peer: Path, given: bytes, arguments: tuple[str, ...]) -> tuple[bytes, float, str]:
    """The peer's output for `given`, its CPU seconds, and an error message (empty on success)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in", Path(tmp) / "out.jpg"
        source.write_bytes(given)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            done = subprocess.run([str(peer), "--quiet", *arguments, str(source), str(target)],
                                  capture_output=True, timeout=PEER_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return b"", PEER_TIMEOUT, f"no output within {PEER_TIMEOUT} s"
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if done.returncode != 0 or not target.exists():
            message = done.stderr.decode(errors="replace").strip().splitlines()
            return b"", seconds, f"exit {done.returncode}: {message[-1] if message else 'no message'}"
        return target.read_bytes(), seconds, ""


def run_function(data: bytes, target: int) -> tuple[bytes, float, str]:
    """The function's output at `target` (b'' where it keeps the input), its CPU seconds, and no error."""
    start = time.process_time()
    out, result = optimize(data, Settings(target=target), shipped_model())
    seconds = time.process_time() - start
    return (out if result.outcome == "optimized" else b""), seconds, ""


def measure(job: tuple[Path, Path], peer: Path, targets: tuple[int, ...]) -> list[Row]:
    """Every runner's row for one picture."""
    path, corpus_dir = job
    item = corpus.load(path, corpus_dir)
    data = path.read_bytes()
    original = Reference(np.asarray(item.pixels.convert("RGB")))
    given, ppm = peer_input(item, data)
    runs = {function_runner(t): functools.partial(run_function, data, t) for t in targets}
    runs |= {peer_runner(s): functools.partial(run_peer, peer, given, (*ppm, *a)) for s, a in PEER_SETTINGS.items()}
    scores: dict[bytes, float] = {}  # one score per distinct output: settings often agree
    rows = []
    for runner, run in runs.items():
        out, seconds, error = run()
        bytes_out = published(out, data)
        score = 100.0
        if bytes_out < len(data):
            digest = hashlib.sha1(out).digest()
            if digest not in scores:
                scores[digest] = output_score(original, out)
            score = scores[digest]
        rows.append(Row(item.name, runner, len(data), bytes_out, round(score, 3), round(seconds, 4), error))
    print(f"{item.name}: done", flush=True)
    return rows


def passes(rows: list[Row], threshold: int) -> int:
    return sum(r.score >= threshold for r in rows)


def by_runner(rows: list[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.runner, []).append(row)
    return grouped


def runner_table(rows: list[Row], thresholds: tuple[int, ...], reference: str) -> list[str]:
    """One line per runner: passes at each threshold, worst and median score, total bytes (and against
    `reference`'s), median CPU seconds, and how many pictures it gave no output for."""
    grouped = by_runner(rows)
    reference_bytes = sum(r.bytes_out for r in grouped[reference])
    head = " | ".join(f"pass >= {t}" for t in thresholds)
    lines = [f"| runner | {head} | worst score | median score | total bytes | bytes vs {reference} "
             "| median CPU s | no output |",
             "|---|" + "---|" * (len(thresholds) + 6)]
    for runner, group in grouped.items():
        total = sum(r.bytes_out for r in group)
        cells = " | ".join(f"{passes(group, t)}/{len(group)}" for t in thresholds)
        lines.append(f"| {runner} | {cells} | {min(r.score for r in group):.1f} | "
                     f"{statistics.median(r.score for r in group):.1f} | {total:,} | {total / reference_bytes:.3f} | "
                     f"{statistics.median(r.seconds for r in group):.3f} | {sum(bool(r.error) for r in group)} |")
    return lines


@dataclass(frozen=True)
class Comparison:
    """One peer setting against the function at one target: passes at that target and total bytes of each."""

    target: int
    setting: str
    peer_passes: int
    function_passes: int
    peer_bytes: int
    function_bytes: int

    @property
    def eligible(self) -> bool:
        """The claim covers the settings that pass at least as many outputs as the function."""
        return self.peer_passes >= self.function_passes

    @property
    def holds(self) -> bool:
        return self.function_bytes < self.peer_bytes


def comparisons(rows: list[Row], targets: tuple[int, ...]) -> list[Comparison]:
    """Every peer setting against the function at each target the function ran at."""
    grouped = by_runner(rows)
    found = []
    for target in targets:
        own = grouped[function_runner(target)]
        for runner, group in grouped.items():
            if runner.startswith(PEER_NAME):
                found.append(Comparison(target, runner.removeprefix(PEER_NAME).strip(), passes(group, target),
                                        passes(own, target), sum(r.bytes_out for r in group),
                                        sum(r.bytes_out for r in own)))
    return found


def claim(found: list[Comparison]) -> list[str]:
    """The claim, per target: for each peer setting passing at least as many outputs, the function's bytes are
    fewer; every exception is named, and so are the settings that pass fewer."""
    lines = ["| target | function passes | peer setting | peer passes | peer bytes / function bytes | verdict |",
             "|---|---|---|---|---|---|"]
    for c in found:
        verdict = ("function fewer bytes" if c.holds else "**peer fewer or equal bytes**") if c.eligible \
            else "passes fewer: not compared"
        lines.append(f"| {c.target} | {c.function_passes} | {c.setting} | {c.peer_passes} | "
                     f"{c.peer_bytes / c.function_bytes:.3f} | {verdict} |")
    eligible = [c for c in found if c.eligible]
    broken = [c for c in eligible if not c.holds]
    summary = (f"Of {len(eligible)} (target, setting) pairs where the peer passed at least as many outputs as the "
               f"function, the function wrote fewer bytes in {len(eligible) - len(broken)}")
    summary += "." if not broken else ("; not in: " + ", ".join(f"{c.setting} at {c.target}" for c in broken) + ".")
    return lines + ["", summary]


def errors(rows: list[Row]) -> list[str]:
    failed = [r for r in rows if r.error]
    return [f"- {r.runner} on {r.name}: {r.error}" for r in failed] or ["- none"]


def report(rows: list[Row], targets: tuple[int, ...], command: str, drawn: int, peer: Path) -> str:
    lines = ["# jpeg-recompress side by side", "",
             f"Command: `{command}`, {drawn} pictures drawn from the test split (seed 0); peer `{peer.name}` "
             "built by `scripts/build_peers.sh` (jpeg-archive on static mozjpeg, pinned commits there). "
             "How inputs are given, scored and timed: bench/peers.py's docstring.", "",
             "## Every runner", ""]
    reference = function_runner(80 if 80 in targets else targets[0])
    lines += runner_table(rows, targets, reference)
    lines += ["", "## The claim", ""] + claim(comparisons(rows, targets))
    lines += ["", "## No output (the input counts as kept)", ""] + errors(rows)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = corpus_arguments(__doc__)
    parser.add_argument("--pictures", type=int, default=40, help="how many test pictures (a fixed random draw)")
    parser.add_argument("--targets", type=int, nargs="+", default=list(PRESETS), help="the function's targets")
    parser.add_argument("--peer", type=Path, default=PEER, help="the jpeg-recompress binary")
    parser.set_defaults(jobs=1)
    args = parser.parse_args(argv)
    if not args.peer.is_file():
        print(f"bench.peers: skipped: {args.peer} is not built (make peers, or scripts/build_peers.sh)")
        return
    targets = tuple(args.targets)
    rows, drawn = on_draw(args, functools.partial(measure, peer=args.peer, targets=targets), "test")
    command = " ".join(["python -m bench.peers", *(sys.argv[1:] if argv is None else argv)])
    with (RESULTS / "peers-rows.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, [field.name for field in fields(Row)])
        writer.writeheader()
        writer.writerows(asdict(row) for row in sorted(rows, key=lambda row: (row.name, row.runner)))
    publish("peers.md", report(rows, targets, command, drawn, args.peer))


if __name__ == "__main__":
    main()
