"""AV1 encoders at equal SSIMULACRA2 (train split, issue 26): `python -m bench.av1_encoders`, in .venv-enc
(`make .venv-enc/.installed` makes it).

Whether an AV1 encoder other than the one Pillow bundles, or a higher bit depth, would bring the AVIF variant nearer
the 0.70x of the JPEG output that issue 26 asks. For each picture of the train draw that the function optimizes at
the target (METADATA=strip, as no encoder here writes metadata), each encoder at its own lowest setting whose
whole-image SSIMULACRA2 (handler.quality.metric, the output decoded by Pillow) reaches the target; its bytes against
Pillow's encoder on the same picture and against the function's JPEG output. Every encoder is given the upright
picture cropped to even sides (4:2:0 needs them), scored against that crop. Encoders:

- pillow: the function's AVIF settings (variants.CODECS, speed 6 at every size): Pillow's libavif and libaom, 8-bit;
- libavif 8-bit, libavif 10-bit: imagecodecs' libavif and libaom, speed 6, 4:4:4 (8-bit shows the two builds agree,
  so 10-bit against it is the bit depth alone);
- svt-av1: SVT-AV1 through PyAV's FFmpeg, tune 3 (IQ, its still-image tuning), preset 4, 10-bit 4:2:0 (the main
  profile's only chroma format), swept by CRF.

Writes bench/results/train/av1-encoders.md. imagecodecs and av are in requirements-enc.txt only: benchmark
references, never dependencies of the function.
"""

from __future__ import annotations

import io
import os
import statistics
from pathlib import Path

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration on every encode otherwise

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench import on_train_draw, publish, train_arguments  # noqa: E402
from bench.formats import timed, upright_original  # noqa: E402
from handler.core import optimize  # noqa: E402
from handler.image.metadata import NONE  # noqa: E402
from handler.quality import model as model_module  # noqa: E402
from handler.quality import search, variants  # noqa: E402
from handler.quality.metric import Reference  # noqa: E402
from handler.settings import Settings  # noqa: E402

TARGET = 80
"""The goal's target."""

CRF = search.Bounds(1, 63)
"""SVT-AV1's CRF scale, searched as 64 - CRF so that higher is better, as a quality is."""


def pillow(rgb: np.ndarray, quality: int) -> bytes:
    codec = variants.CODECS["avif"]
    return codec.encode(Image.fromarray(rgb), quality, NONE)


def libavif(bits: int):
    def encode(rgb: np.ndarray, quality: int) -> bytes:
        import imagecodecs  # in .venv-enc only, as av below; the function's own environment can still --help

        wide = rgb.astype(np.uint16)
        data = rgb if bits == 8 else (wide << (bits - 8)) | (wide >> (16 - bits))  # full scale, as libavif widens
        return imagecodecs.avif_encode(data, level=quality, speed=6, bitspersample=bits, pixelformat="444",
                                       numthreads=1)
    return encode


def svt_av1(rgb: np.ndarray, quality: int) -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="avif") as container:
        stream = container.add_stream("libsvtav1", rate=1)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p10le"
        stream.options = {"crf": str(64 - quality), "preset": "4", "svtav1-params": "tune=3"}
        context = stream.codec_context
        context.color_range, context.colorspace, context.color_primaries, context.color_trc = 2, 1, 1, 13
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p10le", dst_colorspace=1, dst_color_range=2)  # BT.709 full range, as the stream says
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return out.getvalue()


QUALITY = search.Bounds(1, 100)
ENCODERS = {"pillow": (pillow, QUALITY, -16), "libavif 8-bit": (libavif(8), QUALITY, -16),
            "libavif 10-bit": (libavif(10), QUALITY, -16), "svt-av1": (svt_av1, CRF, -45)}
"""Each encoder, its scale and where its search starts: that much from the JPEG's quality (the function's AVIF
offset at 80; SVT-AV1's CRF was about 45 below the JPEG's quality, as 64 - CRF, on the first pictures tried)."""


def measure(job: tuple[Path, Path]) -> list[dict[str, object]]:
    path, _ = job
    data = path.read_bytes()
    decision = optimize(data, Settings(target=TARGET, metadata="strip"), model_module.load())
    if decision.result.outcome != "optimized":
        return []
    upright = upright_original(data)[0].convert("RGB")
    rgb = np.ascontiguousarray(np.asarray(upright)[: upright.height & ~1, : upright.width & ~1])
    reference, rows = Reference(rgb), []
    for name, (encode, bounds, offset) in ENCODERS.items():
        spent: list[float] = []
        sizes: dict[int, int] = {}

        def score(quality: int, encode=encode, spent=spent, sizes=sizes) -> float:
            out, seconds = timed(encode, rgb, quality)
            spent.append(seconds)
            sizes[quality] = len(out)
            return reference.score(np.asarray(Image.open(io.BytesIO(out)).convert("RGB")))

        quality = variants.lowest(score, bounds.clamp(decision.result.quality + offset), bounds, TARGET)
        if quality is not None:  # the search scored it, so its size is known
            rows.append({"name": path.name, "encoder": name, "quality": quality, "bytes": sizes[quality],
                         "jpeg_bytes": len(decision.data), "seconds_per_mp": statistics.median(spent) / rgb.size * 3e6})
    return rows


def table(rows: list[dict[str, object]]) -> list[str]:
    base = {r["name"]: r["bytes"] for r in rows if r["encoder"] == "pillow"}
    lines = ["| encoder | pictures reaching 80 | bytes vs pillow, same pictures (median) | mean of those ratios "
             "| bytes vs the JPEG output (median) | encode s per MP (median) |", "|---|---|---|---|---|---|"]
    for name in ENCODERS:
        group = [r for r in rows if r["encoder"] == name]
        paired = [r["bytes"] / base[r["name"]] for r in group if r["name"] in base]
        lines.append(f"| {name} | {len(group)} | {statistics.median(paired):.3f}x | {statistics.mean(paired):.3f}x "
                     f"| {statistics.median(r['bytes'] / r['jpeg_bytes'] for r in group):.3f}x "
                     f"| {statistics.median(r['seconds_per_mp'] for r in group):.2f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = train_arguments(__doc__.splitlines()[0])
    parser.set_defaults(pictures=24)
    args = parser.parse_args(argv)
    rows, drawn = on_train_draw(args, measure)
    import av
    import imagecodecs

    versions = f"imagecodecs {imagecodecs.__version__} ({imagecodecs.avif_version()}), av {av.__version__}"
    text = ["# AV1 encoders at equal SSIMULACRA2 (train split, target 80)", "",
            f"Command: `python -m bench.av1_encoders --pictures {args.pictures}` in .venv-enc ({versions}): {drawn} "
            f"train pictures drawn, {len({r['name'] for r in rows})} optimized. Each encoder at its own lowest "
            "setting reaching 80 on the whole image, no metadata; the JPEG output with METADATA=strip. Settings: "
            "the module docstring (bench/av1_encoders.py).", "", *table(rows), ""]
    publish("train/av1-encoders.md", "\n".join(text))


if __name__ == "__main__":
    main()
