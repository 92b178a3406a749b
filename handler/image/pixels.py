"""A Pillow image's pixels as a numpy array without copying them, and decoding into a buffer kept for reuse.

``np.asarray(image)`` copies every pixel (Pillow's ``__array_interface__`` is ``tobytes()``), and a whole photo's
copy lands in fresh pages, so the copy costs more in page faults than in the copying: at 12 MP it costs about as
much as a decode (`python -m bench.check_cost`, bench/results/check_cost.md). Pillow exports an image held in one
block of memory through the Arrow C data interface without a copy; `view` reads that export.
"""

from __future__ import annotations

import ctypes
import io

import numpy as np
from PIL import Image


class _ArrowArray(ctypes.Structure):
    """The Arrow C data interface's ArrowArray (https://arrow.apache.org/docs/format/CDataInterface.html)."""


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64), ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))), ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p),
]

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype, _capsule_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]


def view(image: Image.Image) -> np.ndarray:
    """An RGB image's pixels, HxWx3 uint8: a read-only view of Pillow's own memory (4 bytes a pixel, the fourth
    unused) where Pillow holds the image in one block, else the copy ``np.asarray`` makes. The view keeps the
    memory alive (through the Arrow export), and shows what the image holds when it is read: a decode into the
    same block (`decode_into`) changes it."""
    if image.mode != "RGB":
        raise ValueError(f"view: expected an RGB image, got mode {image.mode}")
    try:
        _, exported = image.__arrow_c_array__()
    except ValueError:  # rows in more than one block: Pillow exports only contiguous images
        return np.asarray(image)
    array = _ArrowArray.from_address(_capsule_pointer(exported, b"arrow_array"))
    bytes_ = array.children[0].contents  # RGB is exported as a fixed-size list of 4 bytes a pixel
    memory = (ctypes.c_uint8 * (4 * image.width * image.height)).from_address(bytes_.buffers[1])
    memory._exported = exported  # released (and Pillow's memory with it) when the last view goes
    pixels = np.frombuffer(memory, np.uint8).reshape(image.height, image.width, 4)[:, :, :3]
    pixels.flags.writeable = False
    return pixels


def decode_into(encoded: bytes, block: Image.core.ImagingCore | None) -> Image.Image:
    """`encoded` decoded into `block` where it has the decoded image's mode and size, else into a new block of one
    piece (which the caller keeps, as ``image.im``, to pass back next time). Decoding candidates of one picture
    into one block touches no fresh memory after the first, and keeps the image viewable without a copy."""
    image = Image.open(io.BytesIO(encoded))
    if block is None or block.mode != image.mode or block.size != image.size:
        block = Image.core.new_block(image.mode, image.size)
    image.im = block  # ImageFile.load decodes into the memory an image already has
    image.load()
    return image
