"""Is the oracle's answer the lowest quality reaching the target? `python -m bench.oracle_scan` (part of
`make bench`).

Both oracle searches (`training/oracle.py`: the interpolating one that labels and that the benchmarks
compare with, and plain bisection) take the score as rising with quality. It does not always: a JPEG
re-encoded at or near its own quality keeps most of its coefficients and scores higher than at qualities
a little above it. On the held-out split this scores every quality 1-100 of each picture (4:2:0, as the
oracle is defined), takes the lowest that reaches each target, and compares it, in qualities and in
bytes, with what the searches find on the same scores and with the function as shipped. An output that
is not smaller than its input counts as the input, as in `bench.quality`. Writes
bench/results/oracle_scan.md.
"""

from __future__ import annotations

from multiprocessing import Pool
from pathlib import Path

from bench import corpus_arguments, publish
from bench.quality import fixed, published, shipped_model
from handler.core import optimize
from handler.settings import PRESETS, Settings
from training import corpus
from training.label import pictures
from training.oracle import HIGHEST, LOWEST, Curve, bisected_quality, oracle_quality


def at_quality(item: corpus.Item, quality: int | None) -> bytes:
    """The picture coded at a search's answer; b'' where it found none."""
    return b"" if quality is None else fixed(item, quality)


def measure(job: tuple[Path, Path]) -> list[dict[str, object]]:
    path, corpus_dir = job
    item, data = corpus.load(path, corpus_dir), path.read_bytes()
    curve = Curve(item.pixels, "4:2:0")
    scores = {quality: curve(quality) for quality in range(LOWEST, HIGHEST + 1)}
    model, rows = shipped_model(), []
    for target in PRESETS:
        lowest = min((q for q, score in scores.items() if score >= target), default=None)
        searched, bisected = oracle_quality(curve, target), bisected_quality(curve, target)  # cached scores
        out, _ = optimize(data, Settings(target=target), model)
        rows.append({"name": item.name, "target": target, "lowest": lowest, "searched": searched,
                     "bisected": bisected, "lowest_bytes": published(at_quality(item, lowest), data),
                     "searched_bytes": published(at_quality(item, searched), data), "function_bytes": len(out)})
    return rows


def table(rows: list[dict[str, object]]) -> list[str]:
    lines = [("| target | pictures | search misses the lowest | bisection misses the lowest "
              "| lowest vs search, bytes | function vs search, bytes | function vs lowest, bytes |"),
             "|---|---|---|---|---|---|---|"]
    for target in PRESETS:
        group = [r for r in rows if r["target"] == target]
        total = {key: sum(r[key] for r in group) for key in ("lowest_bytes", "searched_bytes", "function_bytes")}
        missed = sum(r["searched"] != r["lowest"] for r in group)
        bisection_missed = sum(r["bisected"] != r["lowest"] for r in group)
        lines.append(f"| {target} | {len(group)} | {missed} | {bisection_missed} "
                     f"| {total['lowest_bytes'] / total['searched_bytes']:.3f} "
                     f"| {total['function_bytes'] / total['searched_bytes']:.3f} "
                     f"| {total['function_bytes'] / total['lowest_bytes']:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = corpus_arguments(__doc__).parse_args(argv)
    jobs = [(args.corpus / name, args.corpus) for name in pictures("test")][: args.limit]
    with Pool(args.jobs) as pool:
        rows = [row for found in pool.imap_unordered(measure, jobs) for row in found]
    lines = ["# The oracle against every quality (test split)", "",
             (f"Command: `python -m bench.oracle_scan`: {len(jobs)} pictures, every quality 1-100 scored "
              "(4:2:0, optimize=True, whole image). \"Search misses the lowest\": pictures where the oracle "
              "search's answer (none included) is not the lowest quality reaching the target. Bytes: totals published "
              "(metadata kept; the input where the output would not be smaller)."), "",
             *table(rows), "", "Pictures where the search misses the lowest passing quality (empty: none found):", "",
             "| target | picture | lowest | search | bisection |", "|---|---|---|---|---|",
             *(f"| {r['target']} | {r['name']} | {r['lowest'] or ''} | {r['searched'] or ''} | {r['bisected'] or ''} |"
               for r in sorted(rows, key=lambda r: (r["target"], r["name"]))
               if r["searched"] != r["lowest"]), ""]
    publish("oracle_scan.md", "\n".join(lines))


if __name__ == "__main__":
    main()
