"""Agreement and speed of the project's SSIMULACRA2, the numpy code (handler/quality/ssim2.py) and the C kernel
(handler/quality/native, what the search uses), against the PyPI `ssimulacra2` reference.

    python -m bench.ssim2_agreement [--corpus ../shared/corpus] [--pairs 50] [--max-megapixels 4] [--repeat 3]

Picks images deterministically (sorted paths, every k-th), compresses each with
Pillow at a quality cycling through 40, 45, ..., 95, and scores the pair both
ways. Both sides start from the same two files, decoded the same way: the
reference takes file paths and does ``Image.open(path).convert("RGB")``, so
ours is timed doing exactly that too. "candidate only" is ours scoring a
decoded JPEG against a prepared ``Reference``: the per-quality cost when many
qualities are scored against one original, as labelling does; the kernel's is
timed the same way.

Then, on photo-like images of 1 and 12 MP (a fixture photo upscaled, with grain),
the time of one score against a prepared original, numpy against the kernel (on
its AVX2 path where the CPU has it, and on its baseline path), with one Pillow
JPEG encode + decode for scale: the fastest of --repeat runs (wall time, so the
least disturbed by other load on the machine).

BLAS is limited to one thread (handler/__init__.py, before numpy loads) unless
OPENBLAS_NUM_THREADS is set, so that every side uses one core. The kernel must be
built (`make native`). Writes bench/results/ssim2_agreement.md (--output).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image
from ssimulacra2 import compute_ssimulacra2

from handler.quality import native
from handler.quality.ssim2 import Reference, score

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
RESULT = ROOT / "bench" / "results" / "ssim2_agreement.md"
QUALITIES = tuple(range(40, 96, 5))
PHOTO = ROOT / "tests" / "fixtures" / "photos" / "HP_PhotoSmart_735.png"
SPEED_SIZES = ((1224, 816), (4000, 3000))
"""The photo-like images timed per score: 1 MP and 12 MP (the 12 MP photo of issue 24 and bench.runtime)."""

T = TypeVar("T")


@dataclass
class Pair:
    name: str
    size: tuple[int, int]
    quality: int
    reference: float
    ours: float
    reference_wall: float
    ours_wall: float
    reference_cpu: float
    ours_cpu: float
    candidate_wall: float
    native: float
    native_candidate_wall: float

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6

    @property
    def difference(self) -> float:
        return self.ours - self.reference

    @property
    def native_difference(self) -> float:
        return self.native - self.reference


@dataclass
class Pool:
    usable: list[Path]
    too_large: list[str]
    unreadable: list[str]


def timed(function: Callable[..., T], *args) -> tuple[T, float, float]:
    """The value, wall seconds and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def decode(path: Path) -> np.ndarray:
    """As the reference decodes its inputs."""
    return np.asarray(Image.open(path).convert("RGB"))


def ours_from_files(original: Path, distorted: Path) -> float:
    return score(decode(original), decode(distorted))


def pool(corpus: Path, max_megapixels: float) -> Pool:
    """Every image file under ``corpus`` that decodes, split from those too large or unreadable."""
    result = Pool([], [], [])
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        name = str(path.relative_to(corpus))
        try:
            with Image.open(path) as image:
                width, height = image.size
                if max_megapixels and width * height > max_megapixels * 1e6:
                    result.too_large.append(f"{name} ({width}x{height})")
                    continue
                image.convert("RGB")  # decodes fully: truncated files fail here, not mid-run
        except Exception:  # noqa: BLE001 - any file Pillow cannot decode is simply not a candidate
            if path.suffix.lower() not in (".md", ".txt"):
                result.unreadable.append(name)
            continue
        result.usable.append(path)
    return result


def pick(paths: list[Path], count: int) -> list[Path]:
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def measure(path: Path, corpus: Path, quality: int, workdir: Path) -> Pair:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    distorted = workdir / "distorted.jpg"
    rgb.save(distorted, "JPEG", quality=quality)

    reference, reference_wall, reference_cpu = timed(compute_ssimulacra2, str(path), str(distorted))
    ours, ours_wall, ours_cpu = timed(ours_from_files, path, distorted)
    prepared, candidate = Reference(np.asarray(rgb)), decode(distorted)
    _, candidate_wall, _ = timed(prepared.score, candidate)
    del prepared
    prepared = native.Reference(np.asarray(rgb))
    native_score, native_candidate_wall, _ = timed(prepared.score, candidate)
    return Pair(str(path.relative_to(corpus)), rgb.size, quality, reference, ours,
                reference_wall, ours_wall, reference_cpu, ours_cpu, candidate_wall, native_score,
                native_candidate_wall)


def table(pairs: list[Pair]) -> list[str]:
    lines = [
        ("| image | size | MP | q | reference | ours | diff | reference s | ours s | speedup | candidate only s "
         "| native | native diff | native candidate only s |"),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in pairs:
        lines.append(
            f"| {p.name} | {p.size[0]}x{p.size[1]} | {p.megapixels:.2f} | {p.quality} | {p.reference:.4f} "
            f"| {p.ours:.4f} | {p.difference:+.5f} | {p.reference_wall:.3f} | {p.ours_wall:.3f} "
            f"| {p.reference_wall / p.ours_wall:.1f}x | {p.candidate_wall:.3f} "
            f"| {p.native:.4f} | {p.native_difference:+.5f} | {p.native_candidate_wall:.4f} |"
        )
    return lines


def summary(pairs: list[Pair], images: Pool, args: argparse.Namespace) -> list[str]:
    worst = max(pairs, key=lambda p: abs(p.difference))
    one_to_two = [p for p in pairs if 1.0 <= p.megapixels <= 2.0]

    def median_speedup(items: list[Pair], attribute: str = "ours_wall") -> str:
        if not items:
            return "n/a"
        return f"{statistics.median(p.reference_wall / getattr(p, attribute) for p in items):.1f}x"

    return [
        (f"- pairs: {len(pairs)} ({sum(p.megapixels for p in pairs):.1f} MP in all, "
         f"{min(p.megapixels for p in pairs):.2f} to {max(p.megapixels for p in pairs):.2f} MP each)"),
        f"- max |difference|: {abs(worst.difference):.5f} ({worst.name}, q{worst.quality})",
        f"- mean |difference|: {statistics.fmean(abs(p.difference) for p in pairs):.5f}",
        (f"- native kernel: max |difference| from the reference {max(abs(p.native_difference) for p in pairs):.5f}, "
         f"from the numpy code {max(abs(p.native - p.ours) for p in pairs):.5f}; candidate only, median "
         f"{statistics.median(p.candidate_wall / p.native_candidate_wall for p in pairs):.1f}x faster than numpy "
         f"(summed: {sum(p.candidate_wall for p in pairs) / sum(p.native_candidate_wall for p in pairs):.1f}x)"),
        (f"- median speedup, files to score (wall): {median_speedup(pairs)}; "
         f"on the {len(one_to_two)} pairs of 1-2 MP: {median_speedup(one_to_two)}; "
         f"from the summed times: {sum(p.reference_wall for p in pairs) / sum(p.ours_wall for p in pairs):.1f}x"),
        (f"- median speedup, CPU time: "
         f"{statistics.median(p.reference_cpu / p.ours_cpu for p in pairs):.1f}x"),
        (f"- median speedup, candidate only against a prepared Reference (wall): "
         f"{median_speedup(pairs, 'candidate_wall')}; on 1-2 MP: {median_speedup(one_to_two, 'candidate_wall')}"),
        (f"- seconds per megapixel (wall, summed): reference "
         f"{sum(p.reference_wall for p in pairs) / sum(p.megapixels for p in pairs):.2f}, ours "
         f"{sum(p.ours_wall for p in pairs) / sum(p.megapixels for p in pairs):.3f}, candidate only "
         f"{sum(p.candidate_wall for p in pairs) / sum(p.megapixels for p in pairs):.3f}"),
        (f"- images left out: {len(images.too_large)} over {args.max_megapixels} MP (to bound the reference's "
         f"time and memory), {len(images.unreadable)} that Pillow cannot decode"),
    ]


SIZE_BANDS = ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, float("inf")))


def by_size(pairs: list[Pair]) -> list[str]:
    """Speedup by image size: fixed costs (decoding, Python overhead) weigh most on small images."""
    lines = [
        "| MP | pairs | median speedup | median speedup, candidate only | max abs diff |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for low, high in SIZE_BANDS:
        band = [p for p in pairs if low <= p.megapixels < high]
        if band:
            lines.append(
                f"| {low:g}-{high:g} | {len(band)} "
                f"| {statistics.median(p.reference_wall / p.ours_wall for p in band):.1f}x "
                f"| {statistics.median(p.reference_wall / p.candidate_wall for p in band):.1f}x "
                f"| {max(abs(p.difference) for p in band):.5f} |"
            )
    return lines


def load() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def photo_like(width: int, height: int) -> np.ndarray:
    """A fixture photo upscaled to width x height, with grain so that it is not unnaturally smooth."""
    image = Image.open(PHOTO).convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    grain = np.random.default_rng(0).normal(0, 3, (height, width, 3))
    return np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8)


def jpeg_bytes(rgb: np.ndarray, quality: int, optimize: bool = False) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, optimize=optimize)
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def best_of(repeat: int, function: Callable[[], object]) -> float:
    """The fastest of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def speed(width: int, height: int, repeat: int) -> str:
    """One table row: per-score times of numpy and the kernel (both paths) on a photo-like image, at q80."""
    original = photo_like(width, height)
    data = jpeg_bytes(original, 80, optimize=True)
    distorted = decoded(data)
    prepared = Reference(original)
    numpy_score = prepared.score(distorted)
    numpy_time = best_of(repeat, lambda: prepared.score(distorted))
    del prepared
    prepare_time = best_of(repeat, lambda: native.Reference(original))
    prepared = native.Reference(original)
    native_score = prepared.score(distorted)
    path = native.get_path()
    times = {}
    for name, code in (("baseline", native.BASELINE), ("avx2", native.AVX2)):
        times[name] = best_of(repeat, lambda: prepared.score(distorted)) if native.set_path(code) == code else None
    native.set_path(path)
    native_time = times["avx2"] or times["baseline"]
    encode_decode = best_of(repeat, lambda: jpeg_bytes(original, 80, optimize=True)) + best_of(
        repeat, lambda: decoded(data))
    avx2 = f"{times['avx2'] * 1000:.0f}" if times["avx2"] else "n/a"
    return (f"| {width}x{height} | {width * height / 1e6:.1f} | {numpy_time * 1000:.0f} | {avx2} "
            f"| {times['baseline'] * 1000:.0f} | {numpy_time / native_time:.1f}x | {prepare_time * 1000:.0f} "
            f"| {encode_decode * 1000:.0f} | {native_time / encode_decode:.2f} | {numpy_time / encode_decode:.2f} "
            f"| {abs(native_score - numpy_score):.1e} |")


def speeds(repeat: int) -> list[str]:
    paths = {native.BASELINE: "baseline x86-64", native.AVX2: "AVX2+FMA"}
    return [
        (f"Milliseconds per score against a prepared original (the fastest of {repeat} runs, wall time, one "
         f"thread), JPEG q80 of a photo-like image; the kernel runs its {paths[native.get_path()]} path by "
         "default. 'encode + decode': one Pillow JPEG encode at q80 (optimize) and one decode of it. On a shared "
         "machine the times vary with the load (see the load average above)."),
        "",
        ("| size | MP | numpy ms | native AVX2 ms | native baseline ms | native speed-up | native prepare ms "
         "| encode + decode ms | native / (encode + decode) | numpy / (encode + decode) | abs(native - numpy) |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(speed(width, height, repeat) for width, height in SPEED_SIZES),
    ]


def report(pairs: list[Pair], images: Pool, args: argparse.Namespace, speeds: list[str]) -> str:
    command = "python -m bench.ssim2_agreement " + " ".join(sys.argv[1:])
    lines = [
        "# SSIMULACRA2: handler/quality/ssim2.py and the native kernel against the PyPI reference",
        "",
        (f"`{command.strip()}` on {platform.machine()} ({os.cpu_count()} CPUs, load average {load()} at the "
         f"end), Python {platform.python_version()}, "
         f"ssimulacra2 {version('ssimulacra2')}, numpy {np.__version__}, Pillow {version('Pillow')}, "
         f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}. "
         f"{len(pairs)} of {len(images.usable)} usable images (every k-th in sorted order), JPEG by Pillow at "
         f"qualities cycling {QUALITIES[0]}..{QUALITIES[-1]}. Times are wall seconds from the two files to the score; "
         "'candidate only' scores a decoded JPEG against an already prepared original; 'ours' is the numpy "
         "code, 'native' the C kernel the search uses (handler.quality.metric)."),
        "",
        "## Time per score: numpy against the native kernel",
        "",
        *speeds,
        "",
        "## Summary",
        "",
        *(summary(pairs, images, args) if pairs else ["- no pairs (--pairs 0)"]),
        "",
        *(by_size(pairs) if pairs else []),
        "",
        "## Pairs",
        "",
        *table(pairs),
    ]
    if images.too_large:
        lines += ["", f"Left out, over {args.max_megapixels} MP: " + ", ".join(images.too_large)]
    if images.unreadable:
        lines += ["", "Left out, not decodable by Pillow: " + ", ".join(images.unreadable)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--pairs", type=int, default=50,
                        help="corpus images scored both ways (0: only the timings at 1 and 12 MP)")
    parser.add_argument("--max-megapixels", type=float, default=4.0,
                        help="leave out larger images (0: none); the reference is slow and memory-hungry on them")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing at 1 and 12 MP (the fastest counts)")
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    if not native.available():
        raise SystemExit(f"the SSIMULACRA2 kernel is not loaded ({native.unavailable_reason()}): run make native")

    corpus = args.corpus.resolve()
    images = pool(corpus, args.max_megapixels) if args.pairs > 0 else Pool([], [], [])
    chosen = pick(images.usable, args.pairs) if args.pairs > 0 else []
    pairs = []
    with tempfile.TemporaryDirectory() as workdir:
        for index, path in enumerate(chosen):
            pair = measure(path, corpus, QUALITIES[index % len(QUALITIES)], Path(workdir))
            pairs.append(pair)
            print(f"[{index + 1}/{len(chosen)}] {pair.name} q{pair.quality}: {pair.reference:.4f} vs {pair.ours:.4f} "
                  f"({pair.difference:+.5f}), native {pair.native:.4f}, {pair.reference_wall:.2f}s vs "
                  f"{pair.ours_wall:.3f}s", file=sys.stderr)

    timings = speeds(args.repeat)
    text = report(pairs, images, args, timings)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
