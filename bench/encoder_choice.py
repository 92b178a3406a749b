"""What choosing the encoder per picture gives: on the train split in `make tune` (`python -m bench.encoder_choice`),
on the held-out split in `make bench` (`--split test`).

The function runs on each picture of the draw at every preset three times: with its search weighing jpegli beside
Pillow (handler.quality.search.OFFER_JPEGLI, as shipped), the same with every answer published as the search encoded
it (handler.image.recode.ENABLED off: no answer recoded), and with Pillow alone (as before jpegli). Per target: bytes
as published against Pillow alone and against the oracle (bench.quality.oracle: libjpeg's tables, 4:2:0,
sequential), the share of outputs whose whole image reaches the target by the project's SSIMULACRA2 (a kept
original counts as 100) with the worst, the pictures jpegli coded, and the median time per picture as a multiple
of one decode + encode (bench.quality.baseline) with the mean whole-image checks. Writes
bench/results/train/encoder-choice.md, or with --split test bench/results/encoder-choice.md (a report: nothing is
tuned on it).
"""

from __future__ import annotations

import statistics

from bench import on_draw, publish, train_arguments
from bench.quality import oracle, output_score, per_picture, published, shipped_model, timed
from handler.core import optimize
from handler.image import recode
from handler.image.jpegli import JPEGLI
from handler.quality import search
from handler.quality.ssim2 import Reference
from handler.settings import PRESETS, Settings
from training import corpus

CHOICES = {"Pillow alone": (False, True), "Pillow or jpegli, not recoded": (True, False),
           "Pillow or jpegli": (True, True)}
"""Each way the function runs, by the values of search.OFFER_JPEGLI and recode.ENABLED."""


@per_picture
def measure(item: corpus.Item, data: bytes, whole: Reference, base: float) -> list[dict[str, object]]:
    model, rows = shipped_model(), []
    for target in PRESETS:
        oracle_bytes = published(oracle(item, target).data, data)
        for choice, (offered, recoded) in CHOICES.items():
            search.OFFER_JPEGLI, recode.ENABLED = offered, recoded  # this worker process's copies of the modules
            (out, result), seconds = timed(optimize, data, Settings(target=target), model)
            kept = result.outcome != "optimized"
            rows.append({"target": target, "choice": choice, "oracle_bytes": oracle_bytes,
                         "published": published(out, data), "jpegli": not kept and result.tables == JPEGLI,
                         "score": 100.0 if kept else output_score(whole, out), "decode_encode": seconds / base,
                         "checks": result.whole_image_checks or 0})
    return rows


def table(rows: list[dict[str, object]]) -> list[str]:
    lines = ["| target | choice | bytes vs Pillow alone | bytes vs oracle | pass | worst | coded by jpegli "
             "| x decode+encode (median) | whole-image checks (mean) |", "|---|---|---|---|---|---|---|---|---|"]
    for target in PRESETS:
        alone = sum(r["published"] for r in rows if r["target"] == target and r["choice"] == "Pillow alone")
        for choice in CHOICES:
            group = [r for r in rows if r["target"] == target and r["choice"] == choice]
            total = sum(r["published"] for r in group)
            lines.append(
                f"| {target} | {choice} | {total / alone:.3f} | {total / sum(r['oracle_bytes'] for r in group):.3f} "
                f"| {sum(r['score'] >= target for r in group) / len(group):.0%} "
                f"| {min(r['score'] for r in group):.1f} | {sum(r['jpegli'] for r in group)} of {len(group)} "
                f"| {statistics.median(r['decode_encode'] for r in group):.2f} "
                f"| {statistics.mean(r['checks'] for r in group):.2f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = train_arguments(__doc__)
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="train (for tuning, bench/results/train/) or test (the report, in make bench)")
    args = parser.parse_args(argv)
    rows, drawn = on_draw(args, measure, args.split)
    used = len(rows) // (len(CHOICES) * len(PRESETS))
    split = "" if args.split == "train" else " --split test"
    lines = [f"# Choosing the encoder per picture ({args.split} split)", "",
             f"Command: `python -m bench.encoder_choice{split} --pictures {args.pictures} --jobs {args.jobs}`: {drawn} "
             f"{args.split} pictures drawn, {used} recompressed. Bytes as published (the input's where the original is "
             "kept).", ""]
    name = "train/encoder-choice.md" if args.split == "train" else "encoder-choice.md"
    publish(name, "\n".join(lines + table(rows) + [""]))


if __name__ == "__main__":
    main()
