"""Where the AVIF variant's bytes part from an exact search (train split, target 80): `python -m bench.avif_gap`.

For each picture of the fixed train draw: the function's AVIF variant (variants.one) against the exact lowest
passing quality on the whole image, at the function's settings (faster over LARGE_PIXELS) and at speed 6; with
the quality each path's walk started from and how many whole-image encodes the function spent. Writes
bench/results/train/avif-gap.md (without --fn-only and the overrides, which only print).
"""

from __future__ import annotations

import io
import json
import statistics
import sys

import numpy as np
from PIL import Image

from bench import on_train_draw, publish, train_arguments
from handler.core import optimize
from handler.image.metadata import carried
from handler.quality import model as model_module
from handler.quality import search, variants
from handler.quality.metric import Reference
from handler.settings import Settings

TARGET = 80
_state: dict[str, object] = {}


def one_picture(job) -> list[dict[str, object]]:
    from handler.image import decode, intake

    path, _ = job
    data = path.read_bytes()
    decision = optimize(data, Settings(target=TARGET), model_module.load())
    if decision.result.outcome != "optimized":
        return []
    image = intake.open_image(data, 100_000_000)
    metadata = carried(image, "keep")[0]
    pixels = variants.upright(decode.decode(image), metadata)
    reference = Reference(np.asarray(pixels.convert("RGB")))
    jq, jbytes = decision.result.quality, len(decision.data)
    codec = variants.tuned(variants.CODECS["avif"], **_state.get("changes", {}))
    row: dict[str, object] = {"name": path.name, "mp": round(pixels.width * pixels.height / 1e6, 2), "jq": jq,
                              "start": codec.start(jq, TARGET), "sampled": search.sample(pixels) is not pixels}
    encodes: list[int] = []
    original = variants.Scored.measure

    def counted(self, quality, original=original):
        if self.image is pixels and quality not in self.tried:
            encodes.append(quality)
        return original(self, quality)

    variants.Scored.measure = counted
    try:
        found = variants.one(pixels, metadata, codec, jq, TARGET)
    finally:
        variants.Scored.measure = original
    row["fn_q"] = found.variant.quality if found else None
    row["fn_ratio"] = len(found.data) / jbytes if found else None
    row["fn_whole"] = encodes
    if _state.get("fn_only"):
        return [row]
    for label, exact in (("exact_fn", codec.for_pixels(pixels.width * pixels.height)),
                         ("exact_s6", variants.tuned(codec, large=()))):
        curve: dict[int, tuple[float, int]] = {}

        def score(q, exact=exact, curve=curve):
            out = exact.encode(pixels, q, metadata)
            curve[q] = (reference.score(np.asarray(Image.open(io.BytesIO(out)).convert("RGB"))), len(out))
            return curve[q][0]

        q = variants.lowest(score, exact.start(jq, TARGET), search.Bounds(1, 100), TARGET) or 100
        if q not in curve:
            score(q)
        row[f"{label}_q"], row[f"{label}_ratio"] = q, curve[q][1] / jbytes
        row[f"{label}_curve"] = {k: (round(s, 2), b) for k, (s, b) in sorted(curve.items())}
    return [row]


def main(argv=None) -> None:
    parser = train_arguments(__doc__.splitlines()[0])
    parser.add_argument("--fn-only", action="store_true", help="only the function's variant (no exact search)")
    parser.add_argument("--surplus", type=float, help="the AVIF codec's surplus instead of its own")
    parser.add_argument("--refine-margin", type=float, help="the AVIF codec's refine_margin instead of its own")
    parser.add_argument("--option", nargs="*", default=[], help="AVIF encoder options KEY=VALUE over its own")
    args = parser.parse_args(argv)
    _state["fn_only"] = args.fn_only
    _state["changes"] = {k: v for k, v in (("surplus", args.surplus), ("refine_margin", args.refine_margin))
                         if v is not None}
    if args.option:
        options = dict(variants.CODECS["avif"].options)
        for pair in args.option:
            key, value = pair.split("=", 1)
            options[key] = int(value) if value.lstrip("-").isdigit() else value
        _state["changes"]["options"] = options
    rows, drawn = on_train_draw(args, one_picture)
    rows.sort(key=lambda r: r["name"])
    for r in rows:
        print(json.dumps(r), file=sys.stderr)
    lines = ["| picture | MP | JPEG q | function: AVIF q, bytes vs JPEG, whole-image qualities tried "
             "| exact at the function's settings | exact at speed 6 |", "|---|---|---|---|---|---|"]
    for r in rows:
        fn = f"q{r['fn_q']} {r['fn_ratio']:.3f}x" if r["fn_q"] is not None else "none"
        exact = [f"q{r[k + '_q']} {r[k + '_ratio']:.3f}x" if k + "_q" in r else "-" for k in ("exact_fn", "exact_s6")]
        lines.append(f"| {r['name']} | {r['mp']} | {r['jq']} | {fn}, {r['fn_whole']} | {exact[0]} | {exact[1]} |")
    medians = []
    for key, label in (("fn_ratio", "function"), ("exact_fn_ratio", "exact at its settings"),
                       ("exact_s6_ratio", "exact at speed 6")):
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            medians.append(f"{label} {statistics.median(values):.3f}x (mean {statistics.mean(values):.3f}x, "
                           f"{len(values)} pictures)")
    changes = "".join(f" --{k.replace('_', '-')} {v}" for k, v in _state["changes"].items() if k != "options")
    changes += "".join(f" --option {o}" for o in args.option)
    text = ["# AVIF: the function against an exact search (train split, target 80)", "",
            f"Command: `python -m bench.avif_gap --pictures {args.pictures}{' --fn-only' if args.fn_only else ''}"
            f"{changes}` ({drawn} train pictures drawn). Bytes vs the function's JPEG output; exact: "
            "variants.lowest on whole-image scores from the same start.", "", *lines, "",
            "Medians: " + "; ".join(medians) + f". Whole-image encodes a picture (function): "
            f"{statistics.mean(len(r['fn_whole']) for r in rows):.2f}.", ""]
    if not args.fn_only and not _state["changes"]:
        publish("train/avif-gap.md", "\n".join(text))
    else:
        print("\n".join(text))

if __name__ == "__main__":
    main()
