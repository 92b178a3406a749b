"""JPEG encoders at equal SSIMULACRA2 on the train split (issue 27): `make tune` (`python -m bench.encoders`).

For each picture of the train draw and each target, every encoder is searched to its own lowest quality whose
whole-image SSIMULACRA2 (handler.quality.metric, outputs decoded by Pillow) reaches the target, with the oracle's
search (training/oracle.py). Encoders:

- oracle: Pillow (libjpeg-turbo), libjpeg's tables, 4:2:0, sequential: what every benchmark states bytes against;
- current: the function's encoder, Pillow with the tables policy of handler/image/encode.py (Robidoux's tables in
  4:2:0 below 90), the smaller of 4:2:0 and 4:4:4, progressive where smaller (encode.leaner);
- mozjpeg 4:2:0 / 4:4:4 / best: libvips' jpegsave (pyvips with pyvips-binary, which links mozjpeg) with trellis
  quantisation, overshoot deringing, optimised progressive scans and quant_table 3 (Robidoux's tables);
- jpegli: pyjpegli at its defaults (RGB in, its own subsampling and adaptive quantisation);
- current + mozjpeg, current + jpegli: per picture, the smaller of the two;
- best: per picture, the smallest of current, mozjpeg and jpegli.

Then the time of one encode at 1 MP and 12 MP, the import time and the unzipped size of each package's manylinux
x86_64 cp312 wheels. Encoders whose package is missing are left out (`make tune` runs this in .venv-enc, which has
them: requirements-enc.txt). Writes bench/results/train/encoders.md; never run on the test split.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # one thread, as Pillow and the other workers: a fair time

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench import on_train_draw, publish, train_arguments  # noqa: E402
from handler.image.encode import encode, tables_for  # noqa: E402
from handler.image.jpeg import ANNEX_K  # noqa: E402
from handler.image.metadata import NONE  # noqa: E402
from handler.quality.metric import Reference  # noqa: E402
from handler.settings import PRESETS  # noqa: E402
from training import corpus  # noqa: E402
from training.oracle import Scored  # noqa: E402

try:
    import pyvips
except (ImportError, OSError):
    pyvips = None
try:
    import pyjpegli
except ImportError:
    pyjpegli = None

MOZJPEG = {"optimize_coding": True, "trellis_quant": True, "overshoot_deringing": True, "optimize_scans": True,
           "interlace": True, "quant_table": 3, "keep": "none"}
"""jpegsave options of the mozjpeg candidate (quant_table 3: N. Robidoux's tables, mozjpeg's default)."""


def mozjpeg(pixels: Image.Image, quality: int, subsampling: str) -> bytes:
    image = pyvips.Image.new_from_array(np.asarray(pixels), interpretation="b-w" if pixels.mode == "L" else "srgb")
    return image.jpegsave_buffer(Q=quality, subsample_mode="on" if subsampling == "4:2:0" else "off", **MOZJPEG)


def jpegli(pixels: Image.Image, quality: int) -> bytes:
    rgb = pixels.convert("RGB")
    return pyjpegli.encode(rgb.tobytes(), rgb.width, rgb.height, quality)


def pillow(pixels: Image.Image, quality: int, subsampling: str, tables: str = ANNEX_K) -> bytes:
    return encode(pixels, quality, subsampling, NONE, tables=tables)


def candidates() -> list[str]:
    return ["oracle", "current"] + (["mozjpeg 4:2:0", "mozjpeg 4:4:4", "mozjpeg"] if pyvips else []) + (
        ["jpegli"] if pyjpegli else []) + [f"current + {n}" for n in PAIRS if n != "best" and n in _present()] + (
        ["best"] if pyvips or pyjpegli else [])


PAIRS = ("mozjpeg", "jpegli")
"""Per-picture choices of two: the current encoder or one candidate, whichever is smaller."""


def _present() -> set[str]:
    return ({"mozjpeg"} if pyvips else set()) | ({"jpegli"} if pyjpegli else set())


def _current(item: corpus.Item, reference: Reference, codings: tuple[str, ...]) -> dict[int, tuple[int, int] | None]:
    """target -> (quality, bytes) of the function's encoder: per subsampling its tables by policy, the smaller
    coding, progressive where smaller."""
    curves: dict[tuple[str, str], Scored] = {}
    found: dict[int, tuple[int, int] | None] = {}
    for target in PRESETS:
        best = None
        for subsampling in codings:
            tables = tables_for(subsampling, target)
            key = (subsampling, tables)
            if key not in curves:
                curves[key] = Scored(lambda q, s=subsampling, t=tables: pillow(item.pixels, q, s, t), reference)
            hit = curves[key].lowest(target)
            if hit is not None:
                progressive = len(encode(item.pixels, hit[0], subsampling, NONE, progressive=True, tables=tables))
                hit = (hit[0], min(hit[1], progressive))
                best = hit if best is None or hit[1] < best[1] else best
        found[target] = best
    return found


def measure(job: tuple[Path, Path]) -> list[dict[str, object]]:
    """One row per target: each candidate's (quality, bytes) at its lowest quality reaching it, or None."""
    path, corpus_dir = job
    item = corpus.load(path, corpus_dir)
    if item is None:
        return []
    reference = Reference(np.asarray(item.pixels.convert("RGB")))
    codings = ("4:2:0",) if item.pixels.mode == "L" else ("4:2:0", "4:4:4")
    curves = {"oracle": Scored(lambda q: pillow(item.pixels, q, "4:2:0"), reference)}
    if pyvips:
        for subsampling in codings:
            curves[f"mozjpeg {subsampling}"] = Scored(lambda q, s=subsampling: mozjpeg(item.pixels, q, s), reference)
    if pyjpegli:
        curves["jpegli"] = Scored(lambda q: jpegli(item.pixels, q), reference)
    current = _current(item, reference, codings)
    rows = []
    for target in PRESETS:
        row: dict[str, object] = {"name": item.name, "target": target, "pixels": item.pixels.width * item.pixels.height,
                                  "current": current[target]}
        row.update({name: curve.lowest(target) for name, curve in curves.items()})
        mozjpegs = [row[f"mozjpeg {s}"] for s in codings if pyvips and row[f"mozjpeg {s}"]]
        if pyvips:
            row["mozjpeg"] = min(mozjpegs, key=lambda hit: hit[1]) if mozjpegs else None
            row.setdefault("mozjpeg 4:4:4", None)
        for name in PAIRS:
            if name in _present():
                pair = [row[n] for n in ("current", name) if row.get(n)]
                row[f"current + {name}"] = min(pair, key=lambda hit: hit[1]) if pair else None
        found = [row[name] for name in ("current", "mozjpeg", "jpegli") if row.get(name)]
        row["best"] = min(found, key=lambda hit: hit[1]) if found else None
        row["winner"] = min((name for name in ("current", "mozjpeg", "jpegli") if row.get(name)),
                            key=lambda name: row[name][1], default=None)
        rows.append(row)
    return rows


def table(rows: list[dict[str, object]]) -> list[str]:
    names = candidates()
    lines = ["| target | pictures | " + " | ".join(f"{n}: vs current / vs oracle" for n in names[1:])
             + " | pictures won: current / mozjpeg / jpegli |", "|---|---|" + "---|" * len(names)]
    for target in PRESETS:
        group = [r for r in rows if r["target"] == target and all(r.get(n) for n in names if n != "mozjpeg 4:4:4")]
        if not group:
            lines.append(f"| {target} | 0 |" + " - |" * len(names))
            continue
        total = {n: sum(r[n][1] for r in group) for n in names if n != "mozjpeg 4:4:4"}
        group444 = [r for r in group if r.get("mozjpeg 4:4:4")]
        cells = []
        for n in names[1:]:
            if n == "mozjpeg 4:4:4":  # greyscale pictures have no 4:4:4 coding: over the colour ones
                size = sum(r[n][1] for r in group444)
                cur, ora = (sum(r[m][1] for r in group444) for m in ("current", "oracle"))
                cells.append(f"{size / cur:.3f} / {size / ora:.3f}" if group444 else "-")
            else:
                cells.append(f"{total[n] / total['current']:.3f} / {total[n] / total['oracle']:.3f}")
        won = [sum(r["winner"] == n for r in group) for n in ("current", "mozjpeg", "jpegli")]
        lines.append(f"| {target} | {len(group)} | " + " | ".join(cells) + " | " + " / ".join(map(str, won)) + " |")
    return lines


def qualities(rows: list[dict[str, object]]) -> list[str]:
    names = [n for n in candidates() if n != "best" and not n.startswith("current + ")]
    lines = ["| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for target in PRESETS:
        cells = []
        for n in names:
            found = [r[n][0] for r in rows if r["target"] == target and r.get(n)]
            cells.append(f"{statistics.median(found):g}" if found else "-")
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return lines


def _photo(path: Path, megapixels: float) -> Image.Image:
    image = Image.open(path).convert("RGB")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def timings(photo: Path, repeats: int = 3) -> list[str]:
    """Median seconds of one encode at quality 80, 4:2:0 where the encoder takes it, at 1 and 12 MP."""
    encoders: dict[str, Callable[[Image.Image], bytes]] = {
        "Pillow, optimized Huffman, sequential (current, oracle)": lambda p: pillow(p, 80, "4:2:0"),
        "Pillow, progressive (current's second encode)":
            lambda p: encode(p, 80, "4:2:0", NONE, progressive=True),
    }
    if pyvips:
        encoders["mozjpeg 4:2:0 (trellis, deringing, optimised scans)"] = lambda p: mozjpeg(p, 80, "4:2:0")
        encoders["mozjpeg 4:2:0, trellis, sequential"] = lambda p: pyvips.Image.new_from_array(
            np.asarray(p)).jpegsave_buffer(Q=80, optimize_coding=True, trellis_quant=True, quant_table=3,
                                           keep="none")
    if pyjpegli:
        encoders["jpegli"] = lambda p: jpegli(p, 80)
    sizes = (1, 12)
    pictures = {mp: _photo(photo, mp) for mp in sizes}
    lines = ["| encoder | " + " | ".join(f"s at {mp} MP" for mp in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for name, encoder in encoders.items():
        cells = []
        for mp in sizes:
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                encoder(pictures[mp])
                times.append(time.perf_counter() - start)
            cells.append(f"{statistics.median(times):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


IMPORTS = {
    "Pillow (current)": "from PIL import Image; import io; Image.new('RGB', (8, 8)).save(io.BytesIO(), 'JPEG')",
    "pyvips + pyvips-binary": "import pyvips; pyvips.Image.black(8, 8, bands=3).jpegsave_buffer()",
    "pyjpegli": "import pyjpegli; pyjpegli.encode(bytes(192), 8, 8)",
}
"""Cold start: the import and a first 8x8 encode (which loads libvips and its modules)."""
WHEELS = {"Pillow (current)": ["pillow"], "pyvips + pyvips-binary": ["pyvips", "pyvips-binary"],
          "pyjpegli": ["pyjpegli"]}


def import_seconds(statement: str, repeats: int = 5) -> float | None:
    """Median seconds of `statement` in a fresh interpreter (after `import numpy`, which the function loads first)."""
    code = f"import numpy, time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode:
            return None
        times.append(float(done.stdout))
    return statistics.median(times)


def wheels(packages: list[str], arch: str) -> tuple[int, list[str]] | None:
    """Unzipped bytes of the wheels `pip download` picks for manylinux_2_28 (or older) on `arch`, cp312
    (dependencies included), and their file names; None where some package has no such wheel."""
    with tempfile.TemporaryDirectory() as where:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--platform",
                               f"manylinux_2_28_{arch}", "--platform", f"manylinux2014_{arch}", "--python-version",
                               "3.12", "-d", where, *packages],
                              capture_output=True, text=True)
        if done.returncode:
            return None
        found = sorted(Path(where).glob("*.whl"))
        return sum(i.file_size for w in found for i in zipfile.ZipFile(w).infolist()), [w.name for w in found]


def packages() -> list[str]:
    lines = ["| package | import + first encode, s (after numpy) | unzipped wheels, manylinux_2_28 x86_64 cp312 "
             "| aarch64 wheel | wheels |", "|---|---|---|---|---|"]
    for name, statement in IMPORTS.items():
        seconds = import_seconds(statement)
        x86, arm = (wheels(WHEELS[name], arch) for arch in ("x86_64", "aarch64"))
        size = f"{x86[0] / 1e6:.1f} MB" if x86 else "no wheel"
        lines.append(f"| {name} | {'-' if seconds is None else f'{seconds:.3f}'} | {size} | "
                     f"{'yes' if arm else 'no'} | {', '.join(x86[1]) if x86 else '-'} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = train_arguments(__doc__)
    parser.add_argument("--no-cost", action="store_true", help="skip the timings, import times and wheel sizes")
    args = parser.parse_args(argv)
    rows, drawn = on_train_draw(args, measure)
    pictures = len({r["name"] for r in rows})
    command = " ".join(["python -m bench.encoders", f"--pictures {args.pictures}"]
                       + ([f"--limit {args.limit}"] if args.limit else []) + [f"--jobs {args.jobs}"])
    head = ["# JPEG encoders at equal SSIMULACRA2 (train split)", "",
            f"Command: `make tune` (`{command}`, in .venv-enc): {drawn} train pictures drawn, {pictures} recompressed. "
            "Each encoder at its own lowest quality whose whole-image SSIMULACRA2 reaches the target (oracle search, "
            "outputs decoded by Pillow, no metadata); total bytes over the pictures where every encoder reaches it, "
            "relative to the function's current encoder and to Pillow's plain oracle (libjpeg tables, 4:2:0, "
            "sequential). See the module docstring (bench/encoders.py) for each candidate's settings.", "",
            "## Bytes at equal score", ""]
    body = table(rows) + ["", "## Median lowest passing quality", ""] + qualities(rows)
    if not args.no_cost:
        photo = max((job for job in corpus.files(args.corpus) if job.suffix.lower() in (".jpg", ".jpeg")),
                    key=lambda p: p.stat().st_size)
        body += ["", f"## One encode, quality 80 (seconds, median of 3; {photo.name} resized, one thread)", ""]
        body += timings(photo)
        body += ["", "## Packages", ""] + packages()
    publish("train/encoders.md", "\n".join(head + body + [""]))


if __name__ == "__main__":
    main()
