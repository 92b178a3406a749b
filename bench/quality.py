"""Quality, size and speed of every way to pick a quality, side by side: `python -m bench.quality`.

On the held-out split of the corpus (training/data/images.csv), for each target:
- oracle: the lowest quality reaching the target (full-image SSIMULACRA2), found by an interpolating search;
  the same found by plain bisection is timed too, as the speed goal is stated against it;
- model+verify: the function as shipped (prediction, then the check on a sample);
- model: the shipped model's prediction alone; seed: the seed model's prediction alone;
- q75, q85: fixed qualities.
Every output that is not smaller than its input counts as the input (score 100). Scores are by this
project's SSIMULACRA2 (handler/quality/ssim2.py) and, for the function's outputs at --reference-target,
also by the PyPI `ssimulacra2` reference. Writes bench/results/quality.md and PNG plots.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from bench import corpus_arguments
from handler.core import optimize
from handler.image import decode, encode
from handler.image.metadata import NONE, carried
from handler.quality import model as model_module
from handler.quality.ssim2 import Reference
from handler.result import Result
from handler.settings import PRESETS, Settings
from training import corpus
from training.label import pictures
from training.oracle import Curve, bisected_quality, oracle_quality

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SEED_PATH = ROOT / "models" / "seed.joblib"
METHODS = ("oracle", "model+verify", "model", "seed", "q75", "q85")
REFERENCE_METHOD = "model+verify"
"""The reference scorer (2 s and up to 7 GB per 16 MP) checks only the function's own outputs: the
project's SSIMULACRA2 agrees with it within 0.001 (bench/results/ssim2_agreement.md)."""
ROW_FIELDS = ("name", "target", "method", "quality", "bytes_in", "bytes_out", "sequential_bytes", "seconds",
              "baseline_seconds", "oracle_seconds", "score", "reference_score", "oracle_quality", "oracle_probes",
              "one_check_seconds", "bisection_seconds", "bisection_quality")

_state: dict[str, object] = {}


def _init(corpus_dir: Path, targets: list[int], reference_target: int | None) -> None:
    _state.update(corpus=corpus_dir, targets=targets, reference_target=reference_target,
                  model=shipped_model(), seed=model_module.load(SEED_PATH))


@functools.cache
def shipped_model() -> model_module.Model:
    """The bundled model, loaded once per worker process."""
    return model_module.load()


def published(out: bytes, data: bytes) -> int:
    """Bytes published for an output: the input's where there is no output (b'') or it is not smaller."""
    return len(out) if out and len(out) < len(data) else len(data)


def timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def baseline(data: bytes) -> float:
    """One plain decode + encode of the image: the unit the function's speed is measured in."""
    start = time.perf_counter()
    image = Image.open(io.BytesIO(data))
    image.load()
    encode.encode(image.convert("RGB") if image.mode not in ("RGB", "L") else image, 80, "4:2:0", NONE)
    return time.perf_counter() - start


def prepared(path: Path, corpus_dir: Path) -> tuple[corpus.Item, bytes, Reference, float] | None:
    """A picture the function would recompress (None otherwise), with what benchmarks measure its outputs against:
    its bytes, its pixels prepared for `output_score`, and the fastest of three plain decode + encodes (`baseline`)."""
    item = corpus.load(path, corpus_dir)
    if item is None:
        return None
    data = path.read_bytes()
    return item, data, Reference(np.asarray(item.pixels.convert("RGB"))), min(baseline(data) for _ in range(3))


Rows = list[dict[str, object]]


def per_picture(measure: Callable[..., Rows]) -> Callable[[tuple[Path, Path]], Rows]:
    """`measure(item, data, original, base)` (see `prepared`) as a worker's job on (path, corpus dir): no rows for a
    picture the function would not recompress."""
    @functools.wraps(measure)
    def job(paths: tuple[Path, Path]) -> Rows:
        picture = prepared(*paths)
        return [] if picture is None else measure(*picture)

    return job


def fixed(item: corpus.Item, quality: int) -> bytes:
    """The image at `quality`, with its metadata kept as the function keeps it, so sizes compare."""
    return encode.encode(item.pixels, quality, "4:2:0", carried(item.image, "keep")[0])


@dataclass(frozen=True)
class OracleRun:
    data: bytes
    """The output; b'' when no quality reaches the target."""
    quality: int | None
    probes: int
    one_check: float
    """Seconds to prepare the original and score one encoding of it (the oracle's mean probe): the least that
    any verifier checking the whole image must spend, whatever it does before."""


def oracle(item: corpus.Item, target: int) -> OracleRun:
    start = time.perf_counter()
    curve = Curve(item.pixels, "4:2:0")
    prepared = time.perf_counter() - start
    quality = oracle_quality(curve, target, curve.scores())
    probes = len(curve.points)
    one_check = prepared + (time.perf_counter() - start - prepared) / probes
    return OracleRun(fixed(item, quality) if quality is not None else b"", quality, probes, one_check)


def bisection(item: corpus.Item, target: int) -> int | None:
    """The oracle quality by plain bisection over 1-100, from a freshly prepared original, as a peer would run it."""
    return bisected_quality(Curve(item.pixels, "4:2:0"), target)


def sequential(item: corpus.Item, result: Result, settings: Settings) -> int:
    """The size of the function's answer as the search encoded it, in one sequential scan as the oracle's (a jpegli
    one with standard Huffman tables): what recoding it saved (encode.leaner)."""
    metadata = carried(item.image, settings.metadata)[0]
    pixels = decode.grey_as_l(item.pixels, metadata)
    return len(encode.encode(pixels, result.quality, result.subsampling or "4:2:0", metadata, tables=result.tables))


def outputs(item: corpus.Item, data: bytes, target: int) -> tuple[dict[str, tuple[bytes, int | None, float, int]],
                                                                  OracleRun]:
    """method -> (output bytes, quality, seconds, sequential bytes), and the oracle's run. Output b'' means
    the input is kept."""
    settings = Settings(target=target)
    model, seed = _state["model"], _state["seed"]
    run, oracle_s = timed(oracle, item, target)
    found = {"oracle": (run.data, run.quality, oracle_s, len(run.data))}
    unchecked = replace(settings, verify=False)
    for method, chosen_model, chosen_settings in (("model+verify", model, settings), ("model", model, unchecked),
                                                  ("seed", seed, unchecked)):
        (out, result), seconds = timed(optimize, data, chosen_settings, chosen_model)
        kept = result.outcome != "optimized"
        sequential_bytes = 0 if kept else sequential(item, result, settings)
        found[method] = (b"" if kept else out, result.quality, seconds, sequential_bytes)
    for quality in (75, 85):
        out, seconds = timed(fixed, item, quality)
        found[f"q{quality}"] = (out, quality, seconds, len(out))
    return found, run


def output_score(original: Reference, out: bytes) -> float:
    """SSIMULACRA2 (handler/quality/ssim2.py) of an output's decoded pixels against the prepared original."""
    return original.score(np.asarray(Image.open(io.BytesIO(out)).convert("RGB")))


def reference_score(original: Path, data: bytes) -> float:
    from ssimulacra2 import compute_ssimulacra2  # the reference: slow, scipy, benchmark only

    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        Image.open(io.BytesIO(data)).convert("RGB").save(f.name)
        return float(compute_ssimulacra2(str(original), f.name))


def measure(path: Path) -> list[dict[str, object]]:
    item, data, ref, base = prepared(path, _state["corpus"])
    rows = []
    scores: dict[bytes, float] = {}  # one score per distinct output: methods and targets often agree

    def score_of(out: bytes) -> float:
        digest = hashlib.sha1(out).digest()
        if digest not in scores:
            scores[digest] = output_score(ref, out)
        return scores[digest]

    for target in _state["targets"]:
        found, run = outputs(item, data, target)
        bisected, bisection_s = timed(bisection, item, target)
        for method, (out, quality, seconds, sequential_bytes) in found.items():
            bytes_out = published(out, data)
            kept = bytes_out == len(data)
            score = 100.0 if kept else score_of(out)
            reference = ""
            if target == _state["reference_target"] and method == REFERENCE_METHOD:
                reference = 100.0 if kept else round(reference_score(path, out), 3)
            rows.append({"name": item.name, "target": target, "method": method, "quality": quality,
                         "bytes_in": len(data), "bytes_out": bytes_out,
                         "sequential_bytes": len(data) if kept else sequential_bytes, "seconds": round(seconds, 5),
                         "baseline_seconds": round(base, 5), "oracle_seconds": round(found["oracle"][2], 5),
                         "score": round(score, 3), "reference_score": reference,
                         "oracle_quality": run.quality, "oracle_probes": run.probes,
                         "one_check_seconds": round(run.one_check, 5), "bisection_seconds": round(bisection_s, 5),
                         "bisection_quality": bisected})
    return rows


def summarize(rows: list[dict[str, object]], target: int) -> list[str]:
    by_method = {m: [r for r in rows if r["method"] == m and int(r["target"]) == target] for m in METHODS}
    oracle_bytes = sum(int(r["bytes_out"]) for r in by_method["oracle"])
    lines = [f"### Target {target}", "",
             ("| method | pass rate | worst score | pass rate (reference) | worst (reference) | bytes vs oracle "
              "| same, coded sequentially | saving vs input | median s/image | x decode+encode | x faster than oracle "
              "| x faster than bisection |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, group in by_method.items():
        if not group:
            continue
        scores = [float(r["score"]) for r in group]
        refs = [float(r["reference_score"]) for r in group if r["reference_score"] not in ("", None)]
        total_out, total_in = sum(int(r["bytes_out"]) for r in group), sum(int(r["bytes_in"]) for r in group)
        total_sequential = sum(int(r["sequential_bytes"]) for r in group)
        ratios = [float(r["seconds"]) / float(r["baseline_seconds"]) for r in group]
        speedups = [float(r["oracle_seconds"]) / float(r["seconds"]) for r in group]
        bisection = [float(r["bisection_seconds"]) / float(r["seconds"]) for r in group]
        ref_cols = (f"{np.mean(np.array(refs) >= target):.1%} | {min(refs):.1f}" if refs else "- | -")
        lines.append(
            f"| {method} | {np.mean(np.array(scores) >= target):.1%} | {min(scores):.1f} | {ref_cols} | "
            f"{total_out / oracle_bytes:.3f} | {total_sequential / oracle_bytes:.3f} | "
            f"{1 - total_out / total_in:.1%} | "
            f"{statistics.median(float(r['seconds']) for r in group):.3f} | {statistics.median(ratios):.2f} | "
            f"{statistics.median(speedups):.2f} | {statistics.median(bisection):.2f} |")
    return lines + ["", ceiling(by_method["oracle"]), ""]


def ceiling(oracle_rows: list[dict[str, object]]) -> str:
    """What the speed goals allow: a verifier that only prepares the original and scores one encoding of the
    whole image (no prediction, no sample, no second try) against the oracle and against decode + encode."""
    one_check = [float(r["one_check_seconds"]) for r in oracle_rows]
    speedup = statistics.median(float(r["seconds"]) / c for r, c in zip(oracle_rows, one_check, strict=False))
    pairs = list(zip(oracle_rows, one_check, strict=True))
    cost = statistics.median(c / float(r["baseline_seconds"]) for r, c in pairs)
    probes = statistics.median(int(r["oracle_probes"]) for r in oracle_rows)
    bisection = statistics.median(float(r["bisection_seconds"]) / c for r, c in pairs)
    agree = sum(r["bisection_quality"] == r["oracle_quality"] for r in oracle_rows)
    return (f"One whole-image check alone (the original prepared, one encoding scored): median {speedup:.2f}x "
            f"faster than the oracle ({probes:g} scores per image), {bisection:.2f}x faster than bisection over "
            f"1-100 (7 scores at most), {cost:.2f}x one decode + encode. Bisection found the oracle's quality for "
            f"{agree} of {len(oracle_rows)} pictures (a score curve that dips can mislead either search).")


def plots(rows: list[dict[str, object]], target: int, results: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [r for r in rows if int(r["target"]) == target]
    fig, ax = plt.subplots(figsize=(6, 6))
    for method, marker in (("model", "o"), ("seed", "x"), ("model+verify", ".")):
        pts = [(int(r["oracle_quality"]), int(r["quality"])) for r in chosen
               if r["method"] == method and r["quality"] not in ("", None) and r["oracle_quality"] not in ("", None)]
        if pts:
            ax.scatter(*zip(*pts, strict=False), marker=marker, label=method, alpha=0.6)
    ax.plot([0, 100], [0, 100], "k--", linewidth=0.8)
    ax.set(xlabel="oracle quality", ylabel="chosen quality", title=f"Chosen vs oracle quality, target {target}",
           xlim=(0, 101), ylim=(0, 101))
    ax.legend()
    scatter = results / f"quality-vs-oracle-{target}.png"
    fig.savefig(scatter, dpi=90, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    for method in METHODS:
        savings = sorted(1 - int(r["bytes_out"]) / int(r["bytes_in"]) for r in chosen if r["method"] == method)
        ax.plot(savings, label=method)
    ax.set(xlabel="image (sorted by saving)", ylabel="saving vs input", title=f"Saving per image, target {target}")
    ax.legend()
    saving = results / f"saving-per-image-{target}.png"
    fig.savefig(saving, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return [f"![chosen vs oracle]({scatter.name}) ![saving per image]({saving.name})", ""]


def main(argv: list[str] | None = None) -> None:
    parser = corpus_arguments(__doc__)
    parser.add_argument("--targets", type=int, nargs="+", default=list(PRESETS))
    parser.add_argument("--reference-target", type=int, default=80,
                        help="also score this target's outputs with the PyPI reference (slow); 0 for none")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="test (held out: the figures to report) or train (to tune on)")
    args = parser.parse_args(argv)
    paths = [args.corpus / name for name in pictures(args.split)][: args.limit]
    results = RESULTS if args.split == "test" else RESULTS / "train"
    results.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    with Pool(args.jobs, _init, (args.corpus, args.targets, args.reference_target or None)) as pool:
        for count, found in enumerate(pool.imap_unordered(measure, paths), 1):
            rows += found
            print(f"{count}/{len(paths)}", flush=True)
    with (results / "quality-rows.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ROW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["# Choosing the quality: oracle, model, seed, fixed", "",
             (f"Command: `make bench` (`python -m bench.quality --targets {' '.join(map(str, args.targets))}`), "
              f"{len(paths)} pictures of the {args.split} split of {args.corpus.name}/, "
              f"{args.jobs} worker processes."), ""]
    for target in args.targets:
        lines += summarize(rows, target) + plots(rows, target, results)
    (results / "quality.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
