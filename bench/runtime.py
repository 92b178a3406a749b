"""Runtime budget of the Lambda package: `python -m bench.runtime` (part of `make bench`).

Builds the function package exactly as `sam build` does (build.mk), then measures
- its unzipped size, and pillow-heif's share of it,
- cold start: a fresh Python 3.12 process importing the S3 entry point (imports, settings, S3
  client, model load), from the package as built (no .pyc for our own code, as on Lambda),
- peak memory and time to optimize 12, 24 and 48 MP photos, each in a fresh process; the 48 MP one
  also with sensor-like grain, which makes every encoding larger and the walk longer, a 48 MP picture
  that takes the verifier's longest path (STRIPES), and a
  49.9 MP opaque RGBA PNG (RGBA_PNG, the memory worst case).
Writes bench/results/runtime.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import publish
from scripts.images import colour_detail_between_the_tiles

ROOT = Path(__file__).resolve().parent.parent


def python312() -> str:
    """A Python 3.12 that runs, as build.mk finds it (scripts/python312.sh)."""
    found = subprocess.run([str(ROOT / "scripts" / "python312.sh")], capture_output=True, text=True, check=False)
    if not found.stdout.strip():
        raise SystemExit("bench.runtime needs Python 3.12, the Lambda runtime's version (pyenv install 3.12)")
    return found.stdout.strip()


PY312 = python312()

COLD_START = """
import time
t0 = time.perf_counter()
import handler.aws.s3_event
print(time.perf_counter() - t0)
"""

MAKE_PHOTO = """
import sys
import numpy as np
from PIL import Image
width, height, grain = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
photo = Image.open(sys.argv[1]).convert("RGB").resize((width, height), Image.LANCZOS)
if grain:
    pixels, noise = np.array(photo), np.random.default_rng(0)
    for top in range(0, height, 256):
        band = pixels[top : top + 256]
        band[:] = np.clip(band + noise.normal(0, grain, band.shape), 0, 255)
    photo = Image.fromarray(pixels)
if sys.argv[5].endswith(".png"):  # fully opaque RGBA: the largest source buffer the core converts from
    photo.convert("RGBA").save(sys.argv[5], "PNG", compress_level=1)
else:
    photo.save(sys.argv[5], "JPEG", quality=92)
print(sys.argv[5])
"""

OPTIMIZE = """
import io, resource, sys, time
from PIL import Image
from handler.aws.wiring import app
from handler.core import optimize
from handler.image.encode import encode
from handler.image.metadata import NONE
with open(sys.argv[1], "rb") as f:
    data = f.read()
t0 = time.perf_counter()
out, result = optimize(data, app().settings, app().model)
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
image = Image.open(io.BytesIO(data))
encode(image.convert("RGB") if image.mode not in ("RGB", "L") else image, 80, "4:2:0", NONE)
baseline = time.perf_counter() - t0
print(elapsed, peak / 1024, len(data), len(out), result.outcome, result.quality, baseline)
"""
"""The upload is made in one process and optimized in another, so that the peak memory is the function's
alone, as on Lambda, where the upload arrives as bytes."""


def build(dest: Path) -> None:
    env = {**os.environ, "ARTIFACTS_DIR": str(dest), "LAMBDA_PYTHON": PY312}
    subprocess.run(["make", "-s", "build-OptimizeFunction"], cwd=ROOT, env=env, check=True)


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def runtime_boto3(dest: Path) -> None:
    """boto3 as the python3.12 runtime provides it: beside the package, not in it."""
    subprocess.run([PY312, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(dest),
                    "boto3==1.43.11"], check=True)


def lambda_env(package: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{package}:{package.parent / 'runtime'}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "UPLOAD_BUCKET": "upload",
        "OUTPUT_BUCKET": "output",
    }


def run_in_package(package: Path, code: str, *args: str) -> str:
    done = subprocess.run([PY312, "-c", code, *args], cwd=tempfile.gettempdir(), env=lambda_env(package),
                          check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


PHOTOS = (((4032, 3024), 0), ((6000, 4000), 0), ((8064, 6048), 0), ((8064, 6048), 6))
"""(size, grain): 12 MP (a phone), 24 MP (a camera; near the largest size confirmed on the whole image, see
handler.quality.search.CONFIRM_MAX_PIXELS) and 48 MP (a phone's full-resolution mode, near MAX_PIXELS; confirmed on a
mosaic of large tiles). The upscaled photo is smooth; grain (Gaussian, standard deviation in 8-bit levels)
makes the last one as costly as a noisy phone photo."""


STRIPES = (8064, 6048)
"""The size of `colour_detail_between_the_tiles` (tests/conftest.py), saved as a JPEG at quality 95 in 4:4:4:
the mosaic passes in 4:2:0, the check on large tiles fails in 4:2:0 up to the highest quality and is redone
in 4:4:4 (handler.quality.search.either_confirmed), the longest path through the verifier."""


RGBA_PNG = (7072, 7056)
"""An opaque RGBA PNG just under MAX_PIXELS (49.9 MP): the worst case for memory found so far (issue 23), as the
core holds the 4-byte-a-pixel source besides its RGB conversion until the source is closed."""


def photo_name(size: tuple[int, int], grain: float) -> str:
    return f"{size[0] * size[1] / 1e6:.0f} MP JPEG" + (f" with grain ({grain:g} levels)" if grain else "")


def photo_lines(name: str, coding: str, elapsed: str, peak: str, bytes_in: str, bytes_out: str, outcome: str,
                quality: str, baseline: str) -> list[str]:
    ratio = float(elapsed) / float(baseline)
    return [
        (f"| {name} ({coding}, {int(bytes_in) / 1e6:.1f} MB): time to optimize | {float(elapsed):.2f} s "
         f"({ratio:.1f}x one decode + encode at q80, {float(baseline):.2f} s) | - |"),
        f"| {name}: peak memory of the process | {float(peak):.0f} MB | MemorySize in template.yaml |",
        f"| {name}: result | {outcome}, quality {quality}, {int(bytes_out) / 1e6:.1f} MB | - |",
    ]


MEMORY_GB = 1769 / 1024
"""template.yaml's MemorySize, in the GB that Lambda bills by."""
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
"""x86_64 prices in us-east-1, first tier (arm64 is 20% less a GB-second): https://aws.amazon.com/lambda/pricing/"""
S3_GET, S3_PUT = 0.0004 / 1000, 0.005 / 1000
"""S3 Standard request prices in us-east-1 (one GetObject, one PutObject per upload): https://aws.amazon.com/s3/pricing/"""


def cost_line(seconds: float, photos: int = 1_000_000) -> str:
    """What `photos` uploads of this size cost at the measured time: Lambda compute and requests, S3 requests
    (storage and transfer are left out: they depend on how long outputs are kept and where they are read)."""
    compute = seconds * MEMORY_GB * LAMBDA_GB_SECOND * photos
    requests = LAMBDA_REQUEST * photos
    s3 = (S3_GET + S3_PUT) * photos
    return (f"| cost of {photos:,} such 12 MP photos at MemorySize 1769, x86_64, us-east-1: Lambda compute "
            f"${compute:,.2f} + invocations ${requests:,.2f} + S3 GET and PUT ${s3:,.2f} (at this machine's time; "
            f"Lambda's one vCPU may differ) | ${compute + requests + s3:,.2f} | - |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--photo", type=Path, default=ROOT / "tests/fixtures/photos/Kodak_DC240.jpg",
                        help="photo upscaled to each size of PHOTOS for the time and memory figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "OptimizeFunction"
        build(package)
        runtime_boto3(Path(tmp) / "runtime")
        size = size_mb(package)
        heif = sum(size_mb(part) for part in package.glob("pillow_heif*") if part.is_dir())
        starts = [float(run_in_package(package, COLD_START)) for _ in range(args.runs)]
        big = {}
        for side, grain in PHOTOS:
            upload = run_in_package(package, MAKE_PHOTO, str(args.photo), *map(str, side), str(grain),
                                    str(Path(tmp) / "upload.jpg"))
            big[photo_name(side, grain)] = ["q92", *run_in_package(package, OPTIMIZE, upload).split()]
        upload = Path(tmp) / "upload.jpg"
        colour_detail_between_the_tiles(*STRIPES).save(upload, "JPEG", quality=95, subsampling=0)
        stripes = f"{STRIPES[0] * STRIPES[1] / 1e6:.0f} MP JPEG, colour detail between the tiles"
        big[stripes] = ["q95 4:4:4", *run_in_package(package, OPTIMIZE, str(upload)).split()]
        upload = run_in_package(package, MAKE_PHOTO, str(args.photo), *map(str, RGBA_PNG), "0",
                                str(Path(tmp) / "upload.png"))
        rgba = f"{RGBA_PNG[0] * RGBA_PNG[1] / 1e6:.1f} MP opaque RGBA PNG"
        big[rgba] = ["compress level 1", *run_in_package(package, OPTIMIZE, upload).split()]
    lines = [
        "# Runtime budget", "",
        f"Command: `{Path(sys.executable).name} -m bench.runtime` (Python 3.12 at {PY312}, package built by build.mk)",
        "",
        "| figure | value | budget |", "|---|---|---|",
        f"| package size, unzipped | {size:.1f} MB | <= 150 MB (Lambda allows 250) |",
        f"| of which pillow-heif (the HEIC reader, with its libheif and libde265) | {heif:.1f} MB | - |",
        (f"| cold start: imports + settings + S3 client + model, median of {args.runs} fresh processes "
         f"| {statistics.median(starts):.2f} s (min {min(starts):.2f}, max {max(starts):.2f}) | <= 1.0 s |"),
        *(line for name, figures in big.items() for line in photo_lines(name, *figures)),
        cost_line(float(big[photo_name(*PHOTOS[0])][1])),
        "",
    ]
    publish("runtime.md", "\n".join(lines))


if __name__ == "__main__":
    main()
