"""An output given to the function again: `python -m bench.rounds` (part of `make bench`).

Each round is verified against its own input, not the original, so re-encoding an output adds loss to
loss. The function marks every output with a JPEG comment and publishes a marked upload as it came
(README, "Mark"). On the held-out split this feeds each output back for three rounds at each target:
as shipped, and with the comment removed between rounds (an output that passed through a tool that
strips comments, which is also what every round did before the mark). Scores are against the original
(handler/quality/ssim2.py). Writes bench/results/rounds.md.
"""

from __future__ import annotations

import statistics
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from bench import corpus_arguments, publish
from bench.quality import output_score, shipped_model
from handler.core import optimize
from handler.image.jpeg import header_segments
from handler.quality.ssim2 import Reference
from handler.settings import PRESETS, Settings
from training import corpus
from training.label import pictures

ROUNDS = 3
COMMENT = 0xFE


def without_comments(jpeg: bytes) -> bytes:
    """`jpeg` with the comment segments of its header cut out."""
    cuts = [(at, at + 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big"))
            for marker, at in header_segments(jpeg) if marker == COMMENT]
    kept, start = [], 0
    for begin, end in cuts:
        kept.append(jpeg[start:begin])
        start = end
    return b"".join(kept) + jpeg[start:]


def measure(job: tuple[Path, Path, tuple[int, ...]]) -> list[dict[str, object]]:
    path, corpus_dir, targets = job
    item = corpus.load(path, corpus_dir)
    if item is None:
        return []
    original, model, rows = Reference(np.asarray(item.pixels.convert("RGB"))), shipped_model(), []
    for target in targets:
        settings = Settings(target=target)
        for variant, between in (("as shipped", lambda data: data), ("comment stripped", without_comments)):
            data = path.read_bytes()
            for round_ in range(1, ROUNDS + 1):
                data, result = optimize(between(data) if round_ > 1 else data, settings, model)
                rows.append({"target": target, "variant": variant, "round": round_, "name": item.name,
                             "reason": result.reason, "bytes": len(data), "score": output_score(original, data)})
    return rows


def table(rows: list[dict[str, object]], targets: tuple[int, ...]) -> list[str]:
    lines = ["| target | variant | round | re-encoded | pass rate vs original | median score | worst score "
             "| bytes vs round 1 |", "|---|---|---|---|---|---|---|---|"]
    first = {(r["target"], r["variant"], r["name"]): r["bytes"] for r in rows if r["round"] == 1}
    for target in targets:
        for variant in ("as shipped", "comment stripped"):
            for round_ in range(1, ROUNDS + 1):
                group = [r for r in rows if (r["target"], r["variant"], r["round"]) == (target, variant, round_)]
                scores = [r["score"] for r in group]
                re_encoded = sum(r["reason"] in ("verified", "verified-on-sample") for r in group)
                ratio = sum(r["bytes"] for r in group) / sum(first[target, variant, r["name"]] for r in group)
                passing = sum(s >= target for s in scores) / len(scores)
                lines.append(f"| {target} | {variant} | {round_} | {re_encoded} of {len(group)} "
                             f"| {passing:.1%} | {statistics.median(scores):.1f} "
                             f"| {min(scores):.1f} | {ratio:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = corpus_arguments(__doc__)
    parser.add_argument("--targets", type=int, nargs="+", default=list(PRESETS))
    args = parser.parse_args(argv)
    targets = tuple(args.targets)
    jobs = [(args.corpus / name, args.corpus, targets) for name in pictures("test")][: args.limit]
    with Pool(args.jobs) as pool:
        rows = [row for found in pool.imap_unordered(measure, jobs) for row in found]
    pictures_done = len({r["name"] for r in rows})
    lines = ["# An output given to the function again (test split)", "",
             (f"Command: `python -m bench.rounds`: {pictures_done} pictures, {ROUNDS} rounds each, the output of one "
              "round the input of the next. \"Comment stripped\": the comment segments (the mark among them) cut "
              "out between rounds. Scores and pass rates against the original; \"re-encoded\": rounds that "
              "published a new encoding (verified) rather than their input."), "",
             *table(rows, targets), ""]
    publish("rounds.md", "\n".join(lines))


if __name__ == "__main__":
    main()
