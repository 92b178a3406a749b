"""The lossless recoder (handler.image.recode, native/recode.c) and the final step that uses it (encode.leaner): the
published answer decodes to the pixels the search verified, keeps its metadata segments and tables, is never larger
than the encoding it came from, and the function works without the library."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from handler.core import optimize
from handler.image import encode as px
from handler.image import jpegli, recode
from handler.image.jpeg import ANNEX_K
from handler.image.metadata import NONE, carried
from handler.quality import search
from handler.result import OPTIMIZED
from tests.conftest import PHOTOS, grey_photo, photo_like
from tests.unit.test_jpegli import KODAK, camera_jpeg, segments

SONY = Image.open(PHOTOS / "Sony_Cybershot_(6).jpg").convert("RGB")
"""A camera photo whose answers code in fewer bytes progressively."""


def pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)))


@pytest.fixture
def without_library():
    """The function as deployed where the library did not build or load."""
    assert not recode.load(PHOTOS / "missing" / "_recode.so")
    yield
    assert recode.load()


ENCODINGS = {
    "Pillow 4:2:0": lambda: px.encode(SONY, 75, "4:2:0", NONE),
    "Pillow 4:4:4": lambda: px.encode(SONY, 90, "4:4:4", NONE),
    "Pillow greyscale": lambda: px.encode(grey_photo().convert("L"), 80, "4:2:0", NONE),
    "jpegli": lambda: px.encode(KODAK, 70, "4:2:0", NONE, tables=jpegli.JPEGLI),
}


@pytest.mark.parametrize("script", [px.PROGRESSIVE_SCRIPT, recode.SEQUENTIAL], ids=["progressive", "sequential"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_recoded_jpeg_decodes_to_the_same_pixels_with_the_same_tables(encoding, script):
    coded = ENCODINGS[encoding]()
    recoded = recode.recoded(coded, script)
    before, after = Image.open(io.BytesIO(coded)), Image.open(io.BytesIO(recoded))
    assert np.array_equal(np.asarray(after), np.asarray(before))
    assert after.quantization == before.quantization and after.mode == before.mode
    assert bool(after.info.get("progressive")) is bool(script)


def test_a_jpegli_answer_is_recoded_into_fewer_bytes_keeping_every_segment_in_order():
    """pyjpegli writes standard Huffman tables and sequential scans; what own_mark reads (the tables, the segments)
    is unchanged."""
    metadata, _ = carried(Image.open(io.BytesIO(camera_jpeg(95))), "keep")
    coded = px.encode(KODAK, 80, "4:2:0", metadata, tables=jpegli.JPEGLI)
    leaner = px.leaner(coded, jpegli.JPEGLI)
    assert len(leaner) < 0.97 * len(coded) and Image.open(io.BytesIO(leaner)).info.get("progressive")
    assert segments(leaner) == segments(coded) and len(segments(coded)) >= 5
    assert np.array_equal(pixels(leaner), pixels(coded))
    assert Image.open(io.BytesIO(leaner)).quantization == jpegli.tables(80)


def test_progressive_scans_are_kept_only_where_smaller():
    """A small noisy picture's answer (over PROGRESSIVE_MIN_BYTES) pays more in scans' headers than their end-of-block
    runs save: every block keeps most of its coefficients."""
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8))
    for image, subsampling, progressive_wins in ((SONY, "4:2:0", True), (SONY, "4:4:4", True),
                                                  (noise, "4:4:4", False)):
        coded = px.encode(image, 90, subsampling, NONE)
        assert len(coded) >= px.PROGRESSIVE_MIN_BYTES
        chosen = px.leaner(coded, ANNEX_K)
        assert (chosen is not coded) is progressive_wins and len(chosen) <= len(coded)
        assert np.array_equal(pixels(chosen), pixels(coded))


def test_a_small_pillow_answer_is_published_as_coded(monkeypatch):
    """Pillow's answers have optimized tables already; under PROGRESSIVE_MIN_BYTES progressive scans seldom pay, so
    nothing is tried."""
    monkeypatch.setattr(recode, "recoded", lambda *args: pytest.fail("recoded"))
    coded = px.encode(photo_like(64, 48), 75, "4:2:0", NONE)
    assert len(coded) < px.PROGRESSIVE_MIN_BYTES
    assert px.leaner(coded, ANNEX_K) is coded


def test_a_small_jpegli_answer_gets_optimized_tables_in_one_sequential_scan():
    small = KODAK.resize((64, 48))
    coded = px.encode(small, 70, "4:2:0", NONE, tables=jpegli.JPEGLI)
    assert len(coded) < px.PROGRESSIVE_MIN_BYTES
    leaner = px.leaner(coded, jpegli.JPEGLI)
    assert len(leaner) < len(coded) and not Image.open(io.BytesIO(leaner)).info.get("progressive")
    assert np.array_equal(pixels(leaner), pixels(coded))


def test_what_libjpeg_refuses_is_an_error_saying_why_and_the_answer_stays_as_coded():
    coded = ENCODINGS["jpegli"]()
    with pytest.raises(recode.RecodeError, match="Not a JPEG file"):
        recode.recoded(b"\x89PNG\r\n\x1a\n not a jpeg", px.PROGRESSIVE_SCRIPT)
    with pytest.raises(recode.RecodeError, match="Premature end"):  # a libjpeg warning: corrupt coefficients
        recode.recoded(coded[: len(coded) // 2], px.PROGRESSIVE_SCRIPT)
    with pytest.raises(recode.RecodeError, match="coefficient 3 out"):  # luma's AC coefficients 3-63 never sent
        recode.recoded(coded, ((recode.ALL, 0, 0, 0, 0), (0, 1, 2, 0, 0), (1, 1, 63, 0, 0), (2, 1, 63, 0, 0)))
    truncated = coded[: len(coded) // 2]
    assert px.leaner(truncated, jpegli.JPEGLI) is truncated


def test_with_recoding_off_an_answer_is_published_as_coded(monkeypatch):
    monkeypatch.setattr(recode, "ENABLED", False)
    coded = ENCODINGS["jpegli"]()
    assert px.leaner(coded, jpegli.JPEGLI) is coded
    assert search.weighed(coded, jpegli.JPEGLI) == len(coded)


def test_without_the_library_the_function_publishes_what_it_verified(without_library, settings, fixed_model):
    assert not recode.available() and "_recode.so" in recode.unavailable_reason()
    with pytest.raises(RuntimeError, match="make native"):
        recode.recoded(ENCODINGS["jpegli"](), px.PROGRESSIVE_SCRIPT)
    out, result = optimize((PHOTOS / "Sony_Cybershot_(6).jpg").read_bytes(), settings, fixed_model)
    assert result.outcome == OPTIMIZED and not Image.open(io.BytesIO(out)).info.get("progressive")


def test_the_recoder_drives_the_libjpeg_pillow_decodes_with():
    """The pixels verified are decoded by Pillow's libjpeg; the recoder reads and writes with the same one."""
    assert recode.available() and "pillow.libs" in (recode.libjpeg_path() or "")


def test_corrupt_input_is_refused_or_recoded_never_a_crash():
    """The recoder only sees this function's own encodings, but libjpeg's errors must come back as values, whatever
    the bytes: each mutation of an encoding is refused with a reason or recoded into a JPEG Pillow opens."""
    coded = px.encode(KODAK.resize((96, 64)), 80, "4:2:0", NONE, tables=jpegli.JPEGLI)
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(300):
        mutated = bytearray(coded)
        for at in rng.integers(2, len(coded), rng.integers(1, 8)):
            mutated[at] = rng.integers(0, 256)
        try:
            out = recode.recoded(bytes(mutated), px.PROGRESSIVE_SCRIPT)
        except recode.RecodeError as error:
            refused += 1
            assert str(error)
        else:
            Image.open(io.BytesIO(out)).load()
    assert 0 < refused < 300


SUCCESSIVE = ((0, 0, 0, 0, 1), (1, 0, 0, 0, 1), (2, 0, 0, 0, 1), (0, 1, 1, 0, 0), (0, 2, 63, 0, 2), (1, 1, 63, 0, 1),
              (2, 1, 63, 0, 1), (0, 2, 63, 2, 1), (0, 2, 63, 1, 0), (1, 1, 63, 1, 0), (2, 1, 63, 1, 0),
              (0, 0, 0, 1, 0), (1, 0, 0, 1, 0), (2, 0, 0, 1, 0))
"""One-component scans with what PROGRESSIVE_SCRIPT has not: DC coefficients sent bit by bit, two refinement steps
of the same band, a one-coefficient band."""
INTERLEAVED = ((recode.ALL, 0, 0, 0, 0), (0, 1, 63, 0, 0), (1, 1, 63, 0, 0), (2, 1, 63, 0, 0))
"""A DC scan of every component, which the library leaves to libjpeg to code."""


def flat_grey() -> Image.Image:
    """Over 0x7FFF blocks whose AC coefficients are all zero: end-of-band runs reach their limit."""
    return Image.new("L", (1536, 1536), 128)


def fine_grain() -> Image.Image:
    """Low-amplitude noise at a high quality: most AC coefficients are small and many blocks code differently."""
    rng = np.random.default_rng(1)
    return Image.fromarray((128 + rng.normal(0, 3, (256, 384, 3))).clip(0, 255).astype(np.uint8))


def one_frequency() -> Image.Image:
    """Every block one large horizontal frequency and nothing else: a refinement scan sends each block a correction
    bit and no new coefficient, so end-of-band runs are cut where their buffered correction bits would overflow."""
    column = np.arange(512) % 8
    row = 128 + 100 * np.cos((2 * column + 1) * 3 * np.pi / 16)
    return Image.fromarray(np.tile(row, (512, 1)).round().astype(np.uint8))


SYNTHETIC = {
    "flat": lambda: px.encode(flat_grey(), 90, "4:2:0", NONE),
    "fine grain": lambda: px.encode(fine_grain(), 95, "4:4:4", NONE),
    "one frequency": lambda: px.encode(one_frequency(), 95, "4:2:0", NONE),
}


@pytest.mark.parametrize("script", [px.PROGRESSIVE_SCRIPT, SUCCESSIVE, INTERLEAVED],
                         ids=["shipped", "successive", "interleaved"])
@pytest.mark.parametrize("encoding", [*ENCODINGS, *SYNTHETIC])
def test_the_recoder_codes_scans_byte_for_byte_as_libjpeg_does(encoding, script):
    """The library codes one-component scans itself (all of a component's scans in one pass over its coefficients) and
    lets libjpeg write the rest of the file: the same file libjpeg writes when it codes every scan itself."""
    coded = {**ENCODINGS, **SYNTHETIC}[encoding]()
    own = recode.recoded(coded, script)
    assert own == recode.recoded(coded, script, own_coding=False)
    assert np.array_equal(pixels(own), pixels(coded))
