"""Hostile and awkward uploads of issue 23, each built in memory by code (no file is read or shipped).

Each builder returns the bytes of one upload and its docstring names the defect it carries: what the image library
does with it, and so what the core must make of it. Used by tests/unit/test_bad_input.py and bench/fuzz.py.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

from tests.conftest import encoded, photo_like

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header_only(width: int, height: int, colour_type: int = 2) -> bytes:
    """A PNG that declares width x height (8-bit) and then holds one tiny, incomplete IDAT and IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)  # the first bytes of row 0 only
    return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# TIFF, written by hand so that every tag is exactly what the defect needs.
SHORT, LONG, RATIONAL = 3, 4, 5


def _tiff(pages: list[tuple[dict[int, tuple[int, list]], bytes]]) -> bytes:
    """A little-endian TIFF of `pages`: each ({tag: (type, values)}, strip bytes), one strip a page.
    StripOffsets (273) and StripByteCounts (279) are filled in; rationals are (numerator, denominator) pairs."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    first_ifd_at = 4
    for tags, strip in pages:
        strip_at = len(out)
        out += strip + b"\x00" * (len(strip) % 2)
        tags = {**tags, 273: (LONG, [strip_at]), 279: (LONG, [len(strip)])}
        ifd_at = len(out)
        struct.pack_into("<I", out, first_ifd_at, ifd_at)
        entries, extra = [], bytearray()
        extra_at = ifd_at + 2 + 12 * len(tags) + 4
        for tag in sorted(tags):
            kind, values = tags[tag]
            if kind == RATIONAL:
                payload = b"".join(struct.pack("<II", *pair) for pair in values)
            else:
                payload = b"".join(struct.pack("<H" if kind == SHORT else "<I", v) for v in values)
            if len(payload) <= 4:
                field = payload.ljust(4, b"\x00")
            else:
                field = struct.pack("<I", extra_at + len(extra))
                extra += payload + b"\x00" * (len(payload) % 2)
            entries.append(struct.pack("<HHI", tag, kind, len(values)) + field)
        out += struct.pack("<H", len(tags)) + b"".join(entries)
        first_ifd_at = len(out)  # this IFD's next-IFD offset, filled in by the next page
        out += b"\x00\x00\x00\x00" + extra
    return bytes(out)


def _tiff_rgb_tags(width: int, height: int, compression: int = 1) -> dict[int, tuple[int, list]]:
    return {
        256: (LONG, [width]), 257: (LONG, [height]), 258: (SHORT, [8, 8, 8]), 259: (SHORT, [compression]),
        262: (SHORT, [2]), 277: (SHORT, [3]), 278: (LONG, [height]), 284: (SHORT, [1]),
    }


# ------------------------------------------------------------------------------- point 1: escapes


def icns_bomb_in_load(side: int = 15000) -> bytes:
    """ICNS whose only icon (ic10, 512x512@2x: Image.open says 1024x1024, under any pixel cap) is a PNG declaring
    side x side. Pillow opens that PNG only inside load(), and its bomb check there raises DecompressionBombError
    (side*side > 2 x Image.MAX_IMAGE_PIXELS). Under 1 KB."""
    return _icns(b"ic10", _png_header_only(side, side, colour_type=6))


def _icns(kind: bytes, payload: bytes) -> bytes:
    entry = kind + struct.pack(">I", 8 + len(payload)) + payload
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


def _dds(pfflags: int, fourcc: bytes, dxgi: int | None = None, side: int = 16) -> bytes:
    """A DDS header (124 bytes after the magic) with the given pixel-format flags and FourCC, and some data."""
    header = struct.pack("<7I", 124, 0x1007, side, side, side * 4, 0, 0) + b"\x00" * 44  # size..reserved
    pixel_format = struct.pack("<2I4s5I", 32, pfflags, fourcc, 0, 0, 0, 0, 0)
    header += pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0)
    dx10 = b"" if dxgi is None else struct.pack("<5I", dxgi, 3, 0, 1, 0)
    return b"DDS " + header + dx10 + b"\x00" * (side * side)


def dds_unimplemented_fourcc() -> bytes:
    """DDS with FourCC 'ATC ' (Qualcomm ATC, unimplemented): Image.open raises NotImplementedError."""
    return _dds(0x4, b"ATC ")


def dds_unimplemented_dxgi() -> bytes:
    """DDS DX10 header naming DXGI format 10 (R16G16B16A16_FLOAT, unimplemented): NotImplementedError."""
    return _dds(0x4, b"DX10", dxgi=10)


def dds_unknown_pixel_flags() -> bytes:
    """DDS whose pixel-format flags name none of RGB, luminance, palette or FourCC (0x200 = DDPF_YUV)."""
    return _dds(0x200, b"\x00\x00\x00\x00")


def tiff_resolution_nan(numerator: int = 0) -> bytes:
    """A valid 24x16 RGB TIFF whose XResolution and YResolution are numerator/0 (0/0 or 1/0): Pillow's
    IFDRational makes them NaN, so info['dpi'] is (nan, nan) and a JPEG save with dpi= fails on round(nan)."""
    width, height = 24, 16
    tags = _tiff_rgb_tags(width, height)
    tags |= {282: (RATIONAL, [(numerator, 0)]), 283: (RATIONAL, [(numerator, 0)]), 296: (SHORT, [2])}
    return _tiff([(tags, np.asarray(photo_like(width, height)).tobytes())])


def _gif_blocks(gif: bytes) -> list[tuple[str, int, int]]:
    """(kind, start, end) of a GIF's blocks after its header and global colour table."""
    flags = gif[10]
    at = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    blocks = []
    while at < len(gif):
        kind = gif[at]
        start = at
        if kind == 0x3B:
            blocks.append(("trailer", start, at + 1))
            break
        if kind == 0x21:
            at += 2
        elif kind == 0x2C:
            local = gif[at + 9]
            at += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1  # descriptor, LCT, LZW size
        else:
            raise ValueError(f"unexpected GIF block {kind:#x} at {at}")
        while gif[at]:  # data sub-blocks
            at += 1 + gif[at]
        at += 1
        blocks.append(("image" if kind == 0x2C else "extension", start, at))
    return blocks


def gif_cut_after_second_descriptor(frames: int = 3) -> bytes:
    """An animated GIF of `frames` frames cut right after the 10 bytes of its second frame's image descriptor."""
    images = [photo_like(48, 32, seed).quantize(64) for seed in range(frames)]
    gif = encoded(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    descriptors = [start for kind, start, _ in _gif_blocks(gif) if kind == "image"]
    return gif[: descriptors[1] + 10]


# ---------------------------------------------------------------------------- point 2: scan bomb


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _bits_to_bytes(bits: str) -> bytes:
    """Entropy-coded bits, padded with 1s to a byte, with 0xFF stuffed as JPEG requires."""
    bits += "1" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return data.replace(b"\xff", b"\xff\x00")


def progressive_scan_bomb(repeats: int = 3000, side: int = 7000, dc_scan: bool = False, refine: bool = True) -> bytes:
    """A greyscale progressive JPEG declaring side x side whose one AC scan (bands 1-63, all blocks an end-of-band
    run) is repeated `repeats` times. Each scan is ~50 bytes yet makes libjpeg visit every block once more:
    the decode time grows linearly with `repeats` at a near-constant file size per scan.

    refine: the repeated scan is an AC refinement scan (Ah=1, Al=0): in an end-of-band run libjpeg still walks
    the band's 63 coefficients of each block, so each scan costs several times a first scan (Ah=0).
    dc_scan: also code a DC scan first (one bit a block: ~96 KB at 7000x7000). Without it libjpeg only warns
    (JWRN_BOGUS_PROGRESSION) and decodes grey; with it the file is a spec-conforming progression."""
    blocks = ((side + 7) // 8) ** 2
    dqt = _segment(0xDB, b"\x00" + b"\x01" * 64)
    sof2 = _segment(0xC2, struct.pack(">BHHB", 8, side, side, 1) + bytes([1, 0x11, 0]))
    counts = lambda lengths: bytes(lengths + [0] * (16 - len(lengths)))  # noqa: E731
    dht_dc = _segment(0xC4, b"\x00" + counts([1]) + b"\x00")  # symbol 0 (DC diff 0): code "0"
    eob_symbols = bytes(n << 4 for n in range(15))  # EOB0..EOB14, codes 0000..1110
    dht_ac = _segment(0xC4, b"\x10" + counts([0, 0, 0, 15]) + eob_symbols)
    bits, left = [], blocks
    while left:
        run = min(left, 32767)
        n = run.bit_length() - 1
        bits.append(format(n, "04b") + (format(run - (1 << n), f"0{n}b") if n else ""))
        left -= run
    ac_scan = _segment(0xDA, bytes([1, 1, 0x00, 1, 63, 0x10 if refine else 0x00])) + _bits_to_bytes("".join(bits))
    dc = _segment(0xDA, bytes([1, 1, 0x00, 0, 0, 0x00])) + _bits_to_bytes("0" * blocks) if dc_scan else b""
    return b"\xff\xd8" + dqt + sof2 + dht_dc + dht_ac + dc + ac_scan * repeats + b"\xff\xd9"


# ----------------------------------------------------------------- point 9: valid but unsupported


def eps_needs_ghostscript() -> bytes:
    """A valid EPS: Pillow identifies it, and needs Ghostscript (absent on Lambda) to render it."""
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n%%EndComments\n"
        b"newpath 0 0 moveto 64 48 lineto 2 setlinewidth stroke\nshowpage\n%%EOF\n"
    )


def wmf_placeable() -> bytes:
    """A valid placeable Windows Metafile (an empty drawing, 2x1 inch): Pillow reads its header (WMF stub)
    but renders it only with a registered handler (Windows' drawwmf)."""
    bbox = (0, 0, 2880, 1440)
    head = struct.pack("<IH4hHI", 0x9AC6CDD7, 0, *bbox, 1440, 0)
    checksum = 0
    for (word,) in struct.iter_unpack("<H", head):
        checksum ^= word
    eof = struct.pack("<IH", 3, 0)  # META_EOF record: size 3 words, function 0
    metaheader = struct.pack("<HHHIHIH", 1, 9, 0x0300, (18 + len(eof)) // 2, 0, 3, 0)
    return head + struct.pack("<H", checksum) + metaheader + eof


def emf_minimal() -> bytes:
    """A valid Enhanced Metafile (header and EOF records only): as WMF, identified but not renderable."""
    header_size, eof = 88, struct.pack("<5I", 14, 20, 0, 16, 20)
    total = header_size + len(eof)
    header = (
        struct.pack("<II", 1, header_size)
        + struct.pack("<4i", 0, 0, 199, 99)  # bounds (device units)
        + struct.pack("<4i", 0, 0, 5291, 2645)  # frame (0.01 mm)
        + b" EMF"
        + struct.pack("<IIIHH", 0x10000, total, 2, 1, 0)  # version, bytes, records, handles, reserved
        + struct.pack("<III", 0, 0, 0)  # nDescription, offDescription, nPalEntries
        + struct.pack("<2i2i", 1920, 1080, 508, 286)  # device px, millimeters
    )
    assert len(header) == header_size
    return header + eof


def tiff_webp_compressed() -> bytes:
    """A 24x16 RGB TIFF whose one strip is WebP-compressed (Compression 50001), as libtiff and GDAL write it.
    Decodable only where libtiff was built with libwebp."""
    width, height = 24, 16
    strip = encoded(photo_like(width, height), "WEBP", lossless=True)
    return _tiff([(_tiff_rgb_tags(width, height, compression=50001), strip)])


def bmp_unsupported_bitfields(width: int = 16, height: int = 8) -> bytes:
    """A 16-bit BITFIELDS BMP with RGB444 masks (0xF00, 0xF0, 0xF): valid, but not one of Pillow's layouts."""
    row = (width * 2 + 3) & ~3
    pixels = bytes(row * height)
    offset = 14 + 40 + 12
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 16, 3, len(pixels), 2835, 2835, 0, 0)
    masks = struct.pack("<3I", 0xF00, 0xF0, 0xF)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + masks + pixels


def tiff_multipage(pages: int = 3) -> bytes:
    """A multi-page TIFF (a scanned document): pages of the same size, not an animation."""
    images = [photo_like(64, 48, seed) for seed in range(pages)]
    return encoded(images[0], "TIFF", save_all=True, append_images=images[1:])


def psd_layered(width: int = 32, height: int = 24, layers: int = 2) -> bytes:
    """An RGB PSD with `layers` raw-coded layers and its flattened composite: Pillow reports each layer as a
    frame (n_frames == layers)."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    planes = np.asarray(photo_like(width, height)).transpose(2, 0, 1)  # R, G, B planes
    records, channel_data = b"", b""
    for number in range(layers):
        data = [b"\x00\x00" + bytes(plane.tobytes()) for plane in planes]  # compression 0 + raw
        records += struct.pack(">4iH", 0, 0, height, width, 3)
        records += b"".join(struct.pack(">hI", channel, len(d)) for channel, d in enumerate(data))
        name = f"layer {number}".encode()
        pascal = bytes([len(name)]) + name
        pascal += b"\x00" * (-len(pascal) % 4)
        extra = struct.pack(">II", 0, 0) + pascal
        records += b"8BIMnorm" + bytes([255, 0, 0, 0]) + struct.pack(">I", len(extra)) + extra
        channel_data += b"".join(data)
    layer_info = struct.pack(">h", layers) + records + channel_data
    layer_info += b"\x00" * (len(layer_info) % 2)
    layer_block = struct.pack(">I", len(layer_info)) + layer_info + struct.pack(">I", 0)  # + global mask info
    body = struct.pack(">I", 0) + struct.pack(">I", 0)  # colour mode data, image resources
    body += struct.pack(">I", len(layer_block)) + layer_block
    body += b"\x00\x00" + planes.tobytes()  # composite, raw
    return header + body


def tiff_signed_16bit(width: int = 32, height: int = 24) -> bytes:
    """A greyscale TIFF of signed 16-bit samples (SampleFormat 2), as scientific and DEM software write."""
    values = (np.linspace(-20000, 20000, width * height).reshape(height, width)).astype("<i2")
    tags = {
        256: (LONG, [width]), 257: (LONG, [height]), 258: (SHORT, [16]), 259: (SHORT, [1]), 262: (SHORT, [1]),
        277: (SHORT, [1]), 278: (LONG, [height]), 284: (SHORT, [1]), 339: (SHORT, [2]),
    }
    return _tiff([(tags, values.tobytes())])


def png_raw_profile_exif(compressed: bool = True) -> bytes:
    """A PNG whose EXIF (Make, Artist, Copyright) is carried as ImageMagick does: a zTXt (or tEXt) chunk
    'Raw profile type exif' holding '\\nexif\\n<length>\\n' and the hex of 'Exif\\0\\0' + TIFF, 72 digits a line."""
    exif = Image.Exif()
    exif[0x010F] = "HostileCam"
    exif[0x013B] = "A. Photographer"
    exif[0x8298] = "(c) A. Photographer"
    block = b"Exif\x00\x00" + exif.tobytes()
    digits = block.hex()
    text = f"\nexif\n{len(block):8d}\n" + "\n".join(digits[i : i + 72] for i in range(0, len(digits), 72)) + "\n"
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", text, zip=compressed)
    return encoded(photo_like(160, 120), "PNG", pnginfo=info)


# ------------------------------------------------------------------------------------- point 10


def png_95_megapixels_header(side: int = 9750) -> bytes:
    """A PNG declaring 9750x9750 (95.06 MP, over Pillow's 89.48 MP warning, under 2x that), header and a stub
    IDAT only: with MAX_PIXELS=200000000 it should pass the pixel checks and fail later as truncated."""
    return _png_header_only(side, side)
