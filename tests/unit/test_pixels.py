"""handler/image/pixels.py: Pillow's pixels handed to numpy without a copy, and candidates decoded into one block."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from handler.image import pixels
from tests.unit.test_native import _content


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_a_view_of_an_image_in_one_block_shares_its_memory() -> None:
    image = Image.fromarray(_content("random", 50, 70, seed=1))  # small: its rows lie in one block
    view = pixels.view(image)
    assert np.array_equal(view, np.asarray(image))
    assert view.strides == (4 * 70, 4, 1) and not view.flags.owndata and not view.flags.writeable
    image.putpixel((3, 2), (1, 2, 3))  # the view shows the image's memory, not a copy of it
    assert tuple(view[2, 3]) == (1, 2, 3)


def test_the_view_outlives_the_image_object() -> None:
    original = _content("smooth", 40, 30, seed=2)
    view = pixels.view(Image.fromarray(original))
    assert np.array_equal(view, original)


def test_an_image_in_several_blocks_is_copied() -> None:
    block_size = Image.core.get_block_size()
    Image.core.set_block_size(4096)  # rows of 4 * 700 bytes: one row a block
    try:
        image = Image.fromarray(_content("random", 20, 700, seed=3))
    finally:
        Image.core.set_block_size(block_size)
    view = pixels.view(image)
    assert np.array_equal(view, np.asarray(image))
    image.putpixel((3, 2), (1, 2, 3))  # a copy: the image's later changes do not show
    assert tuple(view[2, 3]) != (1, 2, 3)


def test_only_rgb_images_are_viewed() -> None:
    with pytest.raises(ValueError, match="mode L"):
        pixels.view(Image.new("L", (4, 4)))


def test_candidates_decode_into_one_block_with_the_pixels_of_a_plain_decode() -> None:
    original = _content("random", 64, 48, seed=4)
    first = pixels.decode_into(_jpeg(original, 30), None)
    block = first.im
    assert block.isblock()
    for quality in (50, 90):
        data = _jpeg(original, quality)
        again = pixels.decode_into(data, block)
        assert again.im is block
        assert np.array_equal(pixels.view(again), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_a_block_of_another_size_or_mode_is_not_reused() -> None:
    block = pixels.decode_into(_jpeg(_content("random", 64, 48, seed=5), 80), None).im
    other = pixels.decode_into(_jpeg(_content("random", 48, 64, seed=5), 80), block)
    assert other.im is not block and other.size == (64, 48)
    grey = io.BytesIO()
    Image.new("L", (48, 64), 128).save(grey, "JPEG")
    assert pixels.decode_into(grey.getvalue(), block).mode == "L"
