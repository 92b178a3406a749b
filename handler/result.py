"""The record of what happened to one input: its field names are the tag keys, log keys and JSON keys."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

OPTIMIZED = "optimized"
ORIGINAL_KEPT = "original-kept"
REJECTED = "rejected"

JPEG = "image/jpeg"
OCTET_STREAM = "application/octet-stream"
ATTACHMENT = "attachment"

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def jpeg_name(name: str) -> str:
    """`name` (a file's path or an S3 key) as an optimized output's, which is a JPEG whatever the input was: its
    suffix replaced by .jpg (x.png -> x.jpg, x -> x.jpg), kept where it already says JPEG (x.JPEG), so that tools
    that trust a name's suffix read it right."""
    stem, suffix = posixpath.splitext(name)
    return name if suffix.lower() in JPEG_SUFFIXES else stem + ".jpg"


@dataclass(frozen=True)
class Variant:
    """A variant written beside the JPEG (FORMATS): its format (the key's suffix: KEY.avif), the quality it was
    encoded at, its SSIMULACRA2 score against the original, and its size."""

    format: str
    quality: int
    score: float
    bytes: int


@dataclass(frozen=True)
class Skipped:
    """A variant FORMATS asks for that was not written beside the output, and why: `not-smaller` (it reached the
    target in `bytes`, no fewer than the output's: the JPEG, or the upload kept as it came), `target-unreachable`
    (no quality shown to reach it) or `too-small` (under search.MIN_SIDE a side, which SSIMULACRA2 cannot score as
    it is)."""

    format: str
    reason: str
    bytes: int | None = None


@dataclass(frozen=True)
class Result:
    """What happened to one input, and the Content-Type and Content-Disposition of what is published for it
    (content_disposition None: the upload's own, if any, is kept)."""

    outcome: str
    reason: str
    detail: str
    target: int
    model_version: str
    bytes_in: int
    bytes_out: int
    quality: int | None = None
    predicted_quality: int | None = None
    score: float | None = None
    subsampling: str | None = None
    tables: str | None = None
    bpp: float | None = None
    source_quality: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    whole_image_checks: int | None = None
    """Encodings the search scored on the whole image (0 unchecked): what the time mostly went on."""
    content_type: str | None = None
    content_disposition: str | None = None
    variants: tuple[Variant, ...] = ()
    """The variants written beside the output, smallest first (none unless FORMATS asks, the output is optimized or
    the upload kept as `not-smaller` or `target-unreachable`, and a variant reaching the target is smaller than it)."""
    variants_skipped: tuple[Skipped, ...] = ()
    """The variants FORMATS asks for that the output did not get, each with its reason."""

    @property
    def saving(self) -> float:
        return 1 - self.bytes_out / self.bytes_in if self.bytes_in else 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def of_variant(self, output: Output) -> Result:
        """The record of a variant beside this output, for its own tags and headers: optimized and verified on the
        whole image (whether the output is a JPEG or the upload kept), its quality, score, size and type; no JPEG
        tables or subsampling, no Content-Disposition of the upload's; the list of variants left to the output's
        record."""
        variant = output.variant
        detail = (f"{variant.format} quality {variant.quality} scores {variant.score}, "
                  f"{self.bytes_in} -> {variant.bytes} bytes")
        return replace(self, outcome=OPTIMIZED, reason="verified", detail=detail, quality=variant.quality,
                       score=variant.score, bytes_out=len(output.data), tables=None, subsampling=None,
                       content_type=output.content_type, content_disposition=None, variants=(),
                       variants_skipped=())

    def tags(self) -> dict[str, str]:
        """The S3 object tags (at most 10; values within S3's allowed characters). `tables` says what `quality`
        scales: the same number means other quantisation with other tables. `variants`, the tenth, only where
        variants were written: each one's format and bytes ("avif:51234 webp:60211"; S3 allows no comma); their
        quality and score are in the record."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "quality": "" if self.quality is None else str(self.quality),
            "tables": self.tables or "",
            "target": str(self.target),
            "bpp": "" if self.bpp is None else f"{self.bpp:.3f}",
            "bytes_in": str(self.bytes_in),
            "bytes_out": str(self.bytes_out),
            "model_version": self.model_version,
            **({"variants": " ".join(f"{v.format}:{v.bytes}" for v in self.variants)} if self.variants else {}),
        }


@dataclass(frozen=True)
class Output:
    """A variant's bytes and the Content-Type to publish them under, beside the JPEG, at KEY + `suffix`."""

    variant: Variant
    content_type: str
    data: bytes

    @property
    def suffix(self) -> str:
        return "." + self.variant.format


@dataclass(frozen=True)
class Decision:
    """The core's answer: the bytes to publish (the input's own where that is better), why, and the variants to
    publish beside them (FORMATS; the record lists them too). Unpacks as (data, result), as it did before variants."""

    data: bytes
    result: Result
    variants: tuple[Output, ...] = ()

    def __iter__(self) -> Iterator[object]:
        return iter((self.data, self.result))
