"""What an output carries over from its source: the ICC profile and orientation always, and with METADATA=keep
all EXIF, XMP, the dpi, the comment and IPTC, each as far as a JPEG segment holds it."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from PIL import Image, TiffImagePlugin

from handler.image.failure import named
from handler.image.intake import SHOWN_PICTURE_FORMATS, frame_count
from handler.image.jpeg import marked_quality

ORIENTATION = 0x0112


@dataclass(frozen=True)
class Metadata:
    """The source's metadata as the JPEG writer takes it. `app13` holds the IPTC segments, which Pillow's writer
    has no option for: the encoder inserts them after the segments Pillow writes."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    comment: bytes | None = None
    app13: tuple[bytes, ...] = ()

    def save_options(self) -> dict[str, object]:
        """Pillow's JPEG save arguments. The comment is always given: Pillow's writer would otherwise fall back to
        the pixels' own info["comment"], and only the metadata may add one."""
        present = {name: getattr(self, name) for name in ("icc_profile", "exif", "xmp", "dpi")}
        return {"comment": self.comment or b"", **{name: value for name, value in present.items() if value}}


NONE = Metadata()
"""Nothing carried: what samples and oracle encodings are made with."""

SEGMENT_LIMITS = {"exif": 65533, "xmp": 65533 - 29, "comment": 65533}
"""What one JPEG marker segment holds for each (XMP loses 29 bytes to its namespace header). Pillow raises
on more; PNG, WebP and GIF sources can carry more. ICC profiles are split over several segments."""


_EXIF_ERRORS = (SyntaxError, OSError, struct.error, ValueError, TypeError, KeyError, OverflowError)
"""What Pillow raises for damaged EXIF: its reader on a bad header or IFD, its writer on a parsed value that
does not fit its declared type."""

EXIF_UNREADABLE = "the EXIF could not be read and is left out"
EXIF_UNWRITABLE = "the EXIF could not be rewritten and is left out; the orientation is kept"

RAW_PROFILE_EXIF = "Raw profile type exif"
"""The PNG text chunk in which ImageMagick (and tools built on it) carries EXIF: a line "exif", the length, then
the block in hex; it predates PNG's eXIf chunk and is still written."""


def _orientation_only(exif: Image.Exif) -> dict[str, object]:
    orientation = exif.get(ORIENTATION, 1)
    if not isinstance(orientation, int) or not 2 <= orientation <= 8:
        return {}
    minimal = Image.Exif()
    minimal[ORIENTATION] = orientation
    return {"exif": minimal.tobytes()}


def _all_exif(exif: Image.Exif) -> tuple[dict[str, object], list[str]]:
    """The whole EXIF block; nothing when it is damaged beyond rewriting (a parsed value that does not fit its
    declared type: the orientation is then kept alone), and a note that says so."""
    try:
        return ({"exif": exif.tobytes()} if exif else {}), []
    except _EXIF_ERRORS as exc:
        return {}, [f"{EXIF_UNWRITABLE} ({named(exc)})"]


def _finite_positive(value: object) -> bool:
    """A resolution value that is a number (Pillow gives int, float or a TIFF/EXIF IFDRational) above 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def _dpi(info: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    """The source's dpi where both values are finite and positive. A TIFF's resolution of 0/0 or 1/0 reads as NaN
    or infinity, which the JPEG writer cannot round: left out, with a note."""
    dpi = info.get("dpi")
    if not dpi:
        return {}, []
    if all(_finite_positive(v) for v in dpi):
        return {"dpi": dpi}, []
    return {}, [f"the resolution ({', '.join(map(str, dpi))} dpi) is invalid and left out"]


TIFF_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339, 347,
    530, 532, 700, 34377, 34675,
})  # fmt: skip
"""Tags of a TIFF's first IFD that describe the TIFF file itself (size, compression, strips and tiles, samples)
or hold what is carried separately (XMP, Photoshop, ICC): wrong or redundant in a JPEG's EXIF."""


def _source_exif(image: Image.Image) -> Image.Exif | None:
    """The EXIF the source really has; None when it is too damaged to read (the pixels may still be fine).

    Not getexif() as it is: that adds an orientation found only in the XMP, which browsers ignore on the
    source but would apply to the output's EXIF. A TIFF's EXIF is its first IFD, less its layout tags.
    """
    try:
        if isinstance(image, TiffImagePlugin.TiffImageFile):
            return _tiff_exif(image)
        exif = Image.Exif()
        if image.info.get("exif"):
            exif.load(image.info["exif"])
        elif isinstance(image.info.get(RAW_PROFILE_EXIF), str):
            exif.load(bytes.fromhex("".join(image.info[RAW_PROFILE_EXIF].split("\n")[3:])))
        return exif
    except _EXIF_ERRORS:
        return None


def _tiff_exif(image: TiffImagePlugin.TiffImageFile) -> Image.Exif:
    exif = image.getexif()
    for tag in TIFF_LAYOUT_TAGS | ({ORIENTATION} - set(image.tag_v2)):
        exif.pop(tag, None)
    return exif


PNG_TEXT_EXIF = {"Copyright": 0x8298, "Author": 0x013B}
"""PNG text keywords and the EXIF tags of the same meaning (Copyright, Artist)."""


def _everything(image: Image.Image, exif: Image.Exif) -> tuple[dict[str, object], list[str]]:
    """What METADATA=keep adds: all EXIF, the XMP, the dpi, the comment and a JPEG's APP13 (Photoshop's IPTC:
    the caption, credit and copyright of news and agency photos). A PNG's text chunks have no JPEG segment:
    its Comment (else Description) becomes the comment, its Copyright and Author the EXIF tags of those
    meanings where the EXIF has none."""
    info = image.info
    for keyword, tag in PNG_TEXT_EXIF.items():
        if info.get(keyword) and tag not in exif:
            exif[tag] = str(info[keyword])
    (exif_kept, exif_notes), (dpi, dpi_notes) = _all_exif(exif), _dpi(info)
    extra = {**exif_kept, **dpi, **({"xmp": info["xmp"]} if info.get("xmp") else {})}
    comment = info.get("comment") or info.get("Comment") or info.get("Description")
    comment = comment.encode() if isinstance(comment, str) else comment
    if comment and marked_quality(comment) is None:  # an earlier output's mark is not the user's comment
        extra["comment"] = comment
    app13 = tuple(filter(None, (_iptc_only(payload) for marker, payload in getattr(image, "applist", ())
                                if marker == "APP13")))
    return ({**extra, "app13": app13} if app13 else extra), exif_notes + dpi_notes


PHOTOSHOP = b"Photoshop 3.0\x00"
IPTC_RESOURCES = frozenset({0x0404, 0x0425})
"""The IPTC-NAA record and its digest. Photoshop's other resources in APP13 are editing state and a thumbnail
of the original pixels (4-5 KB on camera files), stale once the pixels are re-encoded."""


def _iptc_only(payload: bytes) -> bytes:
    """An APP13 payload reduced to its IPTC resources; b"" when it has none (or is not Photoshop's)."""
    if not payload.startswith(PHOTOSHOP):
        return b""
    kept, at = [], len(PHOTOSHOP)
    while at + 12 <= len(payload) and payload[at : at + 4] == b"8BIM":
        name_length = payload[at + 6] + 1
        size_at = at + 6 + name_length + name_length % 2  # the Pascal name is padded to an even length
        size = int.from_bytes(payload[size_at : size_at + 4], "big")
        end = size_at + 4 + size + size % 2
        if int.from_bytes(payload[at + 4 : at + 6], "big") in IPTC_RESOURCES:
            kept.append(payload[at:end])
        at = end
    return PHOTOSHOP + b"".join(kept) if kept else b""


def carried(image: Image.Image, keep: str) -> tuple[Metadata, str]:
    """The source's metadata that its output carries, and a note of what could not be ("" if none).

    The ICC profile and the EXIF orientation decide how the image displays, so they are kept even
    with keep='strip'; 'keep' also carries all EXIF, XMP and the comment, each as far as a JPEG
    segment holds it (an EXIF block too long for one keeps its orientation, as with 'strip'). EXIF too
    damaged to read is left out: a picture whose pixels decode is still worth optimizing.
    """
    info = image.info
    extra: dict[str, object] = {}
    if info.get("icc_profile"):
        extra["icc_profile"] = info["icc_profile"]
    exif = _source_exif(image)
    notes = [] if exif is not None else [EXIF_UNREADABLE]
    if image.format in SHOWN_PICTURE_FORMATS and (others := frame_count(image) - 1) > 0:
        notes.append(f"the {image.format}'s {others} other picture{'s' * (others > 1)} "
                     f"({SHOWN_PICTURE_FORMATS[image.format]}) left out")
    exif = Image.Exif() if exif is None else exif
    if keep == "keep":
        everything, more = _everything(image, exif)
        extra.update(everything)
        notes.extend(more)
    for name, limit in SEGMENT_LIMITS.items():
        if len(extra.get(name, b"")) > limit:
            notes.append(f"the {name} ({len(extra.pop(name))} bytes) is over one JPEG segment and left out")
    if "exif" not in extra:
        extra.update(_orientation_only(exif))
    return Metadata(**extra), "; ".join(notes)
