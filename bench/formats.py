"""AVIF and WebP variants beside the JPEG (FORMATS, issue 26): `python -m bench.formats`.

Held-out split (default), for each preset: the function with FORMATS=jpeg,avif,webp on every picture; for each
format, its bytes against the JPEG output's (a variant only where the function wrote one; the ratio over all
pictures counts the JPEG where it wrote none), how often it was written, its pass rate by the PyPI `ssimulacra2`
reference (each variant decoded by Pillow, scored against the upright original, as bench/quality.py scores the
JPEG outputs), and the median time of the JPEG alone and of the variants; the bytes again by upload (a JPEG or
anything else). Then a 12 MP photo's variants against the function's 60 s timeout, and what HEIC costs
(pillow-heif's import, a 12 MP decode).
Writes bench/results/formats.md and bench/results/formats-rows.csv.

`--tune` (train split, target 80): each encoder setting's lowest passing quality on the whole image, its bytes
against the JPEG output and its encode time, and the line from the JPEG's quality to the variant's that
`Codec.start` uses. Writes bench/results/train/formats-tuning.md.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from bench import corpus_arguments, on_train_draw, publish
from handler.core import optimize
from handler.image.metadata import carried
from handler.quality import model as model_module
from handler.quality import search, variants
from handler.quality.metric import Reference
from handler.settings import PRESETS, Settings
from scripts.images import encoded, photo_like
from training.label import pictures

RESULTS = Path(__file__).resolve().parent / "results"
TIMEOUT_S = 60
ALL = ("jpeg", "avif", "webp")
ROW_FIELDS = ("name", "upload", "target", "key_holds", "format", "written", "quality", "bytes", "output_bytes", "score",
              "reference_score", "jpeg_seconds", "seconds")


def reference_score(original: Image.Image, data: bytes) -> float:
    """The PyPI reference's score of `data` (decoded by Pillow) against `original`, both given to it as PNG."""
    from ssimulacra2 import compute_ssimulacra2  # the reference: slow, scipy, benchmark only

    with tempfile.TemporaryDirectory() as folder:
        first, second = Path(folder, "a.png"), Path(folder, "b.png")
        original.convert("RGB").save(first)
        Image.open(io.BytesIO(data)).convert("RGB").save(second)
        return float(compute_ssimulacra2(str(first), str(second)))


def timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def measure(path: Path) -> list[dict[str, object]]:
    """One picture at every preset: the JPEG alone, then with both variants; a row per variant format where the key
    holds the JPEG (optimized) or the upload, kept because no JPEG reaching the target was smaller or none reached it
    (`key_holds`)."""
    model, data, rows = model_module.load(), path.read_bytes(), []
    original: tuple[Image.Image, str] | None = None
    for target in PRESETS:
        settings = Settings(target=target)
        plain, jpeg_seconds = timed(optimize, data, settings, model)
        decision, seconds = timed(optimize, data, replace(settings, formats=ALL), model)
        result = decision.result
        if not (result.variants or result.variants_skipped):
            continue  # none searched: kept as it came before its pixels were verified (transparent, ...)
        key_holds = "JPEG" if result.outcome == "optimized" else "upload"
        if original is None:
            original = upright_original(data)  # once a picture, and only for one that got variants searched
        shown, upload = original
        made = {v.variant.format: v for v in decision.variants}
        for name in variants.CODECS:
            found = made.get(name)
            rows.append({"name": path.name, "upload": upload, "target": target, "key_holds": key_holds, "format": name,
                         "written": bool(found),
                         "quality": found.variant.quality if found else "", "bytes": len(found.data) if found else "",
                         "output_bytes": len(decision.data), "score": found.variant.score if found else "",
                         "reference_score": round(reference_score(shown, found.data), 3) if found else "",
                         "jpeg_seconds": round(jpeg_seconds, 3), "seconds": round(seconds, 3)})
        assert plain.data == decision.data, f"{path}: FORMATS changed the JPEG"
    return rows


JPEG_CODED = {"JPEG", "MPO"}
"""Pillow's names of uploads coded as JPEG (an MPO is JPEG pictures one after another)."""


def upright_original(data: bytes) -> tuple[Image.Image, str]:
    """The original as the variants are scored against it (decoded as the core decodes it, shown upright), and
    what was uploaded: "JPEG" (JPEG_CODED) or "other"."""
    from handler.image import decode, intake

    image = intake.open_image(data, 100_000_000)
    pixels = decode.decode(image)
    upload = "JPEG" if image.format in JPEG_CODED else "other"
    return variants.upright(pixels, carried(image, "keep")[0]), upload


def _bytes(group: list[dict[str, object]]) -> tuple[list[dict[str, object]], list[float], float]:
    """The rows with a variant written, their bytes over the output's, and all bytes (the output where none was
    written) over all the outputs'."""
    written = [r for r in group if r["written"]]
    total = sum(int(r["bytes"]) if r["written"] else int(r["output_bytes"]) for r in group)
    return written, [int(r["bytes"]) / int(r["output_bytes"]) for r in written], total / sum(
        int(r["output_bytes"]) for r in group)


def summary(rows: list[dict[str, object]], output: str) -> list[str]:
    """Per preset and format: variants written, their bytes against `output` (what the key holds), pass rate by the
    reference, median times."""
    lines = [f"| target | format | written | bytes vs {output} where written (median) | all bytes vs {output} "
             "| pass rate (reference) | worst (reference) | median s, JPEG alone | median s, with variants |",
             "|---|---|---|---|---|---|---|---|---|"]
    for target in PRESETS:
        for name in variants.CODECS:
            group = [r for r in rows if r["target"] == target and r["format"] == name]
            if not group:
                continue
            written, ratios, total = _bytes(group)
            refs = [float(r["reference_score"]) for r in written]
            passing = sum(s >= target for s in refs)
            lines.append(
                f"| {target} | {name} | {len(written)}/{len(group)} "
                f"| {statistics.median(ratios):.3f}x | {total:.3f}x "
                f"| {passing}/{len(refs)} | {min(refs, default=float('nan')):.2f} "
                f"| {statistics.median(float(r['jpeg_seconds']) for r in group):.2f} "
                f"| {statistics.median(float(r['seconds']) for r in group):.2f} |" if ratios else
                f"| {target} | {name} | 0/{len(group)} | - | 1.000x | - | - | - | - |")
    return lines


def by_upload(rows: list[dict[str, object]]) -> list[str]:
    """Bytes against the JPEG output by what was uploaded: a JPEG, or anything else (lossless PNG, TIFF, ...)."""
    lines = ["| target | format | upload | written | bytes vs JPEG where written (median) | all bytes vs JPEG output |",
             "|---|---|---|---|---|---|"]
    for target in PRESETS:
        for name in variants.CODECS:
            for upload in ("JPEG", "other"):
                group = [r for r in rows if r["target"] == target and r["format"] == name and r["upload"] == upload]
                if group:
                    written, ratios, total = _bytes(group)
                    median = f"{statistics.median(ratios):.3f}x" if ratios else "-"
                    lines.append(f"| {target} | {name} | {upload} | {len(written)}/{len(group)} | {median} "
                                 f"| {total:.3f}x |")
    return lines


def twelve_mp() -> list[str]:
    """A 12 MP photo-like JPEG (4032 x 3024, as a phone's) through the core, JPEG alone and with both variants; and
    the same picture as HEIC: pillow-heif's import (in a fresh process) and its decode."""
    import subprocess
    import sys

    from handler.image import intake

    model = model_module.load()
    data = encoded(photo_like(4032, 3024, seed=3), quality=92)
    plain, jpeg_seconds = timed(optimize, data, Settings(), model)
    decision, seconds = timed(optimize, data, Settings(formats=ALL), model)
    sizes = ", ".join(f"{v.variant.format} q{v.variant.quality} {len(v.data)} bytes" for v in decision.variants)
    import pillow_heif

    heic = io.BytesIO()
    pillow_heif.from_pillow(photo_like(4032, 3024, seed=3)).save(heic, format="HEIF", quality=80)
    opened, decode_seconds = timed(lambda b: intake.open_image(b, 50_000_000).load(), heic.getvalue())
    code = "import time; s = time.perf_counter(); import pillow_heif; print(time.perf_counter() - s)"
    imported = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    return [
        f"- 12 MP JPEG (4032 x 3024, q92, {len(data)} bytes), target 80: JPEG alone {jpeg_seconds:.2f} s; with "
        f"FORMATS=jpeg,avif,webp {seconds:.2f} s ({sizes or 'no variant smaller'}; JPEG {len(decision.data)} bytes). "
        f"Budget: the function's timeout is {TIMEOUT_S} s and the pipeline starts no object with under 30 s left "
        f"(RESERVE_MS), so one object's work should stay under 30 s: "
        f"{'within' if seconds < 30 else 'OVER'} it, {seconds / TIMEOUT_S:.0%} of the timeout.",
        f"- HEIC: importing pillow-heif {imported:.3f} s (once per process, on the first HEIF upload only); a 12 MP "
        f"HEIC ({len(heic.getvalue())} bytes) opens and decodes in {decode_seconds:.2f} s.",
    ]


def held_out(args) -> None:
    names = pictures("test")[: args.limit]
    with Pool(args.jobs) as pool:
        rows = [row for found in pool.imap_unordered(measure, [args.corpus / n for n in names]) for row in found]
    rows.sort(key=lambda r: (r["name"], r["target"], r["format"]))
    by_key = {held: [r for r in rows if r["key_holds"] == held] for held in ("JPEG", "upload")}
    with (RESULTS / "formats-rows.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, ROW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    text = [
        "# AVIF and WebP variants beside the JPEG",
        "",
        f"Command: `python -m bench.formats{f' --limit {args.limit}' if args.limit else ''}` ({len(names)} held-out "
        "pictures; a row per picture and format at each preset where the function optimized the picture or kept it "
        "as not-smaller or target-unreachable, in formats-rows.csv). Encoders: "
        + ", ".join(f"{c.name} {dict(c.options)}" + "".join(f", over {p / 1e6:g} MP {dict(o)}" for p, o in c.large)
                    for c in variants.CODECS.values()) + ". Goals (issue 26): AVIF "
        "at most 0.70x the JPEG output's bytes at 80; WebP written only where smaller; 100% pass by the reference.",
        "",
        *summary(by_key["JPEG"], "JPEG output"),
        "",
        "By upload: a JPEG (or MPO), or anything else (PNG, TIFF, ...). A JPEG upload's output re-codes blocks "
        "already quantized on the same 8x8 grid, which a variant has to reproduce, artefacts and all:",
        "",
        *by_upload(by_key["JPEG"]),
        "",
        "Uploads kept as they came because no JPEG reaching the target was smaller (`not-smaller`) or none reached "
        "it (`target-unreachable`): the key holds the upload, and a variant is written where smaller than it:",
        "",
        *(summary(by_key["upload"], "upload") if by_key["upload"] else ["None at any preset."]),
        "",
        *twelve_mp(),
        "",
    ]
    publish("formats.md", "\n".join(text))


def _avif(speed: int, subsampling: str, **advanced: str) -> variants.Codec:
    options = {"speed": speed, "subsampling": subsampling, "max_threads": 1, "autotiling": False}
    return variants.tuned(variants.CODECS["avif"], options={**options, **({"advanced": advanced} if advanced else {})})


TUNE_SETTINGS = {
    "avif speed 6 4:2:0": _avif(6, "4:2:0"),
    "avif speed 8 4:2:0": _avif(8, "4:2:0"),
    "avif speed 6 4:4:4": _avif(6, "4:4:4"),
    "avif speed 7 4:4:4": _avif(7, "4:4:4"),
    "avif speed 8 4:4:4": _avif(8, "4:4:4"),
    "avif speed 9 4:4:4": _avif(9, "4:4:4"),
    "avif speed 6 4:4:4 tune=ssim": _avif(6, "4:4:4", tune="ssim"),
    "avif speed 6 4:4:4 tune=ssimulacra2": _avif(6, "4:4:4", tune="ssimulacra2"),
    "avif speed 6 4:4:4 tune-content=screen": _avif(6, "4:4:4", **{"tune-content": "screen"}),
    "avif speed 6 4:4:4 sharpness=1": _avif(6, "4:4:4", sharpness="1"),
    "avif speed 6 4:4:4 sharpness=2": _avif(6, "4:4:4", sharpness="2"),
    "avif speed 6 4:4:4 deltaq-mode=0": _avif(6, "4:4:4", **{"deltaq-mode": "0"}),
    "avif speed 6 4:4:4 deltaq-strength=50": _avif(6, "4:4:4", **{"deltaq-strength": "50"}),
    "avif speed 6 4:4:4 deltaq-strength=150": _avif(6, "4:4:4", **{"deltaq-strength": "150"}),
    "avif speed 6 4:4:4 enable-chroma-deltaq=0": _avif(6, "4:4:4", **{"enable-chroma-deltaq": "0"}),
    "avif speed 6 4:4:4 qm-min=4": _avif(6, "4:4:4", **{"qm-min": "4"}),
    "avif speed 6 4:4:4 quant-b-adapt=1": _avif(6, "4:4:4", **{"quant-b-adapt": "1"}),
    "avif speed 6 4:4:4 enable-cdef=0": _avif(6, "4:4:4", **{"enable-cdef": "0"}),
    "avif speed 6 4:4:4 loopfilter-control=0": _avif(6, "4:4:4", **{"loopfilter-control": "0"}),
    "avif speed 6 4:4:4 max-partition-size=16": _avif(6, "4:4:4", **{"max-partition-size": "16"}),
    "avif speed 6 4:4:4 enable-tx64=0": _avif(6, "4:4:4", **{"enable-tx64": "0"}),
    "avif speed 3 4:4:4": _avif(3, "4:4:4"),
    "avif speed 4 4:4:4": _avif(4, "4:4:4"),
    "avif speed 5 4:4:4": _avif(5, "4:4:4"),
    "avif speed 2 4:4:4": _avif(2, "4:4:4"),
    "webp method 4": variants.tuned(variants.CODECS["webp"], options={"method": 4}),
    "webp method 6": variants.tuned(variants.CODECS["webp"], options={"method": 6}),
}
"""The settings tried (`--only` picks some by the end of their label), in this order: the slowest last."""


def tune_one(job: tuple[Path, Path]) -> list[dict[str, object]]:
    """For one train picture at each tuned target: the function's JPEG, then each setting's lowest passing quality on
    the whole image (an exact walk from the JPEG's quality), its bytes and encode time."""
    from handler.image import decode, intake

    path, _ = job
    data = path.read_bytes()
    image = intake.open_image(data, 100_000_000)
    metadata = carried(image, "keep")[0]
    pixels = variants.upright(decode.decode(image), metadata)
    reference, rows = Reference(np.asarray(pixels.convert("RGB"))), []
    for target in _state.get("targets") or [80]:
        decision = optimize(data, Settings(target=target), model_module.load())
        if decision.result.outcome != "optimized":
            continue
        for label, codec in _chosen(TUNE_SETTINGS):
            if codec.options.get("speed", 6) < 6 and pixels.width * pixels.height > variants.LARGE_PIXELS:
                continue  # slower than speed 6 only fits the timeout on smaller pictures
            spent: list[float] = []

            def score(quality: int, codec=codec, spent=spent) -> float:
                out, seconds = timed(codec.encode, pixels, quality, metadata)
                spent.append(seconds)
                return reference.score(np.asarray(Image.open(io.BytesIO(out)).convert("RGB")))

            start = codec.start(decision.result.quality, target)
            quality = variants.lowest(score, start, search.Bounds(1, 100), target) or 100
            size = len(codec.encode(pixels, quality, metadata))
            rows.append({"name": path.name, "target": target, "setting": label,
                         "jpeg_quality": decision.result.quality, "quality": quality,
                         "ratio": size / len(decision.data), "seconds": statistics.mean(spent),
                         "megapixels": pixels.width * pixels.height / 1e6})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # a long run's rows as they come
    return rows


def _chosen(settings: dict[str, variants.Codec]) -> list[tuple[str, variants.Codec]]:
    words = _state.get("only") or []
    return [(label, codec) for label, codec in settings.items() if not words or any(label.endswith(w) for w in words)]


_state: dict[str, list] = {}


def _line(group: list[dict[str, object]]) -> str:
    """The least-squares line from the JPEG's quality to the variant's, and its mean absolute error in steps
    against that of the median offset."""
    x = np.array([r["jpeg_quality"] for r in group], float)
    y = np.array([r["quality"] for r in group], float)
    if len(group) < 3 or np.ptp(x) == 0:
        return "-"
    slope, offset = np.polyfit(x, y, 1)
    median = statistics.median(y - x)
    return (f"{slope:.2f} q {offset:+.1f} (off by {np.abs(y - slope * x - offset).mean():.1f} steps; "
            f"the median offset by {np.abs(y - x - median).mean():.1f})")


def _across(group: list[dict[str, object]]) -> str:
    """One mapping for every target: variant quality = a + JPEG quality + b (target - 80) by least squares, and its
    mean absolute error in steps against that of the median offset at 80 alone."""
    x = np.array([r["jpeg_quality"] for r in group], float)
    t = np.array([r["target"] for r in group], float) - 80
    y = np.array([r["quality"] for r in group], float)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([np.ones_like(t), t]), y - x, rcond=None)
    at_80 = statistics.median((y - x)[t == 0]) if (t == 0).any() else float("nan")
    return (f"{a:+.1f} + JPEG q {b:+.2f} (target - 80) (off by {np.abs(y - x - a - b * t).mean():.1f} steps; "
            f"80's median offset everywhere by {np.abs(y - x - at_80).mean():.1f})")


TUNING = "formats-tuning.md"
BASES = {"avif": "avif speed 6 4:4:4", "webp": "webp method 6"}
"""Each format's setting as the function encodes pictures up to LARGE_PIXELS, which every other is compared with."""
PAIRED = ("avif speed 6 4:2:0", BASES["avif"])
"""The chroma pair whose better member per picture the tuning also reports (an oracle's choice, both encoded)."""


def _best_of_pair(group: list[dict[str, object]]) -> str:
    ratios: dict[str, dict[str, float]] = {}
    for r in group:
        if r["setting"] in PAIRED:
            ratios.setdefault(str(r["name"]), {})[str(r["setting"])] = float(r["ratio"])
    best = [min(found.values()) for found in ratios.values() if len(found) == len(PAIRED)]
    if not best:
        return ""
    chose = sum(found[PAIRED[0]] < found[PAIRED[1]] for found in ratios.values() if len(found) == len(PAIRED))
    return (f"The better of {' and '.join(PAIRED)} per picture: {statistics.median(best):.3f}x (median, mean "
            f"{statistics.mean(best):.3f}x; {PAIRED[0]} the better on {chose}/{len(best)}).")


def _against_base(group: list[dict[str, object]], rows: list[dict[str, object]]) -> str:
    """The median over the group's pictures of its bytes against its format's BASES setting on the same picture."""
    base = BASES[str(group[0]["setting"]).split()[0]]
    of_base = {r["name"]: float(r["ratio"]) for r in rows if r["setting"] == base and r["target"] == group[0]["target"]}
    pairs = [float(r["ratio"]) / of_base[r["name"]] for r in group if r["name"] in of_base]
    return f"{statistics.median(pairs):.3f}x ({len(pairs)})" if pairs else "-"


def _tune_table(rows: list[dict[str, object]], target: int) -> list[str]:
    lines = [f"Target {target}:", "", "| setting | pictures | bytes vs JPEG output (median) | mean of the ratios "
             "| bytes vs its format's base setting, same pictures (median) "
             "| encode s per MP (median) | variant quality = a + JPEG quality (median a) | least-squares line |",
             "|---|---|---|---|---|---|---|---|"]
    for label, _ in _chosen(TUNE_SETTINGS):
        group = [r for r in rows if r["setting"] == label and r["target"] == target]
        if group:
            lines.append(f"| {label} | {len(group)} | {statistics.median(r['ratio'] for r in group):.3f}x "
                         f"| {statistics.mean(r['ratio'] for r in group):.3f}x | {_against_base(group, rows)} "
                         f"| {statistics.median(r['seconds'] / r['megapixels'] for r in group):.2f} "
                         f"| {statistics.median(r['quality'] - r['jpeg_quality'] for r in group):+.0f} "
                         f"| {_line(group)} |")
    pair = _best_of_pair([r for r in rows if r["target"] == target])
    return [*lines, "", *([pair, ""] if pair else [])]


def tune(args) -> None:
    _state["only"], _state["targets"] = args.only, args.targets
    rows, drawn = on_train_draw(args, tune_one)
    tables = [line for target in args.targets for line in _tune_table(rows, target)]
    across = [f"- {label}: {_across([r for r in rows if r['setting'] == label])}"
              for label, _ in _chosen(TUNE_SETTINGS)] if len(args.targets) > 1 else []
    command = (f"python -m bench.formats --tune --pictures {args.pictures}"
               f"{' --targets ' + ' '.join(map(str, args.targets)) if args.targets != [80] else ''}"
               f"{' --only ' + ' '.join(repr(w) for w in args.only) if args.only else ''}"
               f"{' --results ' + args.results if args.results != TUNING else ''}")
    text = ["# Variant encoder settings (train split)", "",
            f"Command: `{command}` ({drawn} train pictures drawn; {len({r['name'] for r in rows})} optimized). Each "
            "setting at its lowest quality reaching the target on the whole image (this project's SSIMULACRA2), "
            "against the function's JPEG output at that target.", "", *tables,
            *(["One line across the targets (least squares over every picture and target):", "", *across, ""]
              if across else [])]
    publish(f"train/{args.results}", "\n".join(text))


def _median_ratio(top: list[int], bottom: list[int]) -> float:
    return statistics.median(a / b for a, b in zip(top, bottom, strict=True))


def against_oracle(_args) -> None:
    """The held-out AVIF variants (formats-rows.csv) against the oracle's JPEG of bench.quality (quality-rows.csv:
    Pillow's encoder at the lowest quality reaching the target, what issue 26 measured AVIF against) on the same
    pictures: how much of the gap to the JPEG output comes from the JPEG output having got smaller than that.
    Writes bench/results/formats-vs-oracle.md."""
    import posixpath

    with (RESULTS / "quality-rows.csv").open() as file:
        oracle = {(posixpath.basename(r["name"]), r["target"]): int(r["bytes_out"])
                  for r in csv.DictReader(file) if r["method"] == "oracle"}
    with (RESULTS / "formats-rows.csv").open() as file:
        rows = [r for r in csv.DictReader(file)
                if r["format"] == "avif" and r["written"] == "True" and r["key_holds"] == "JPEG"]
    lines = ["| target | pictures | AVIF vs JPEG output (median) | AVIF vs oracle JPEG (median) "
             "| JPEG output vs oracle JPEG (median) | JPEG output vs oracle JPEG (all bytes) |",
             "|---|---|---|---|---|---|"]
    for target in PRESETS:
        group = [r for r in rows if int(r["target"]) == target and (r["name"], r["target"]) in oracle]
        if not group:
            continue
        of_oracle = [oracle[r["name"], r["target"]] for r in group]
        avif, jpeg = [int(r["bytes"]) for r in group], [int(r["output_bytes"]) for r in group]
        lines.append(f"| {target} | {len(group)} | {_median_ratio(avif, jpeg):.3f}x "
                     f"| {_median_ratio(avif, of_oracle):.3f}x | {_median_ratio(jpeg, of_oracle):.3f}x "
                     f"| {sum(jpeg) / sum(of_oracle):.3f}x |")
    text = ["# AVIF variants against the oracle's JPEG (held-out split)", "",
            "Command: `python -m bench.formats --against-oracle`, from bench/results/formats-rows.csv (`python -m "
            "bench.formats`) and bench/results/quality-rows.csv (`python -m bench.quality`), the pictures where the "
            "function wrote an AVIF. The oracle's JPEG (training/oracle.py): Pillow's encoder with the standard "
            "(Annex K) tables at the lowest quality reaching the target on the whole image, the kind of JPEG issue 26 "
            "measured AVIF against (0.699x on 12 photos of up to 0.5 MP).",
            "", *lines, ""]
    publish("formats-vs-oracle.md", "\n".join(text))


def main(argv: list[str] | None = None) -> None:
    parser = corpus_arguments(__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="choose encoder settings on the train split")
    parser.add_argument("--against-oracle", action="store_true",
                        help="the held-out AVIF rows against bench.quality's oracle JPEG (from both CSVs)")
    parser.add_argument("--pictures", type=int, default=24, help="with --tune: how many train pictures")
    parser.add_argument("--only", nargs="*", help="with --tune: only the settings whose label ends with one of these")
    parser.add_argument("--targets", nargs="*", type=int, default=[80], choices=PRESETS,
                        help="with --tune: the presets to tune at (default 80)")
    parser.add_argument("--results", default=TUNING,
                        help=f"with --tune: the file under bench/results/train/ (default {TUNING})")
    args = parser.parse_args(argv)
    (tune if args.tune else against_oracle if args.against_oracle else held_out)(args)


if __name__ == "__main__":
    main()
