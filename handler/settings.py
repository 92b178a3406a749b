"""Settings, read once from the environment (the names template.yaml sets) into frozen objects: what shapes an
output (Settings) apart from where the AWS shell reads and writes (Locations)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from handler.errors import ConfigError

PRESETS = (70, 80, 85, 90)
"""SSIMULACRA2 targets offered: 70 high, 80 very high (default), 85 excellent, 90 visually lossless."""

TARGET_METADATA = "optimal-image-target"
"""The S3 user metadata key (header x-amz-meta-optimal-image-target) by which an upload asks for its own target;
named after the marker (handler.image.jpeg.MARKER) so that it cannot be taken for an uploader's own `target`."""

FORMATS = ("jpeg", "avif", "webp")
"""What FORMATS may list. The JPEG is always made (it is the output at the upload's key): `jpeg` alone is the default;
`avif` and `webp` add variants beside it, each verified at the same target (handler.quality.variants)."""
JPEG_ONLY = ("jpeg",)


def formats(value: str, name: str = "FORMATS") -> tuple[str, ...]:
    """A comma-separated FORMATS value as a tuple in FORMATS order; refused where it names another format or leaves
    out jpeg (the object at the upload's key is always the JPEG; variants only sit beside it)."""
    words = {word.strip().lower() for word in value.split(",") if word.strip()}
    if not words <= set(FORMATS) or "jpeg" not in words:
        raise ConfigError(f"{name}={value!r}: must list jpeg and any of avif, webp (comma-separated)")
    return tuple(f for f in FORMATS if f in words)


BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _boolean(name: str, value: str) -> bool:
    """A switch's value; anything else is refused, so that a typo cannot turn VERIFY off unnoticed."""
    try:
        return BOOLEANS[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"{name}={value!r}: must be true or false") from None


def preset(value: object, name: str = "target") -> int:
    """`value` as one of the PRESETS; `name` is where it came from, for the error."""
    if str(value).strip() not in {str(p) for p in PRESETS}:
        raise ConfigError(f"{name}={value!r}: must be one of {', '.join(map(str, PRESETS))}")
    return int(str(value))


@dataclass(frozen=True)
class Settings:
    """Everything that shapes an output: the same settings give the same bytes."""

    target: int = 80
    min_quality: int = 50
    max_quality: int = 100
    verify: bool = True
    metadata: str = "keep"
    max_input_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 50_000_000
    formats: tuple[str, ...] = JPEG_ONLY
    """The JPEG, and the variants to make beside it (FORMATS)."""

    def __post_init__(self) -> None:
        if self.target not in PRESETS:
            raise ConfigError(f"TARGET={self.target}: must be one of {PRESETS}")
        if not 1 <= self.min_quality <= self.max_quality <= 100:
            raise ConfigError(
                f"MIN_QUALITY={self.min_quality}, MAX_QUALITY={self.max_quality}: need 1 <= min <= max <= 100"
            )
        if self.metadata not in ("keep", "strip"):
            raise ConfigError(f"METADATA={self.metadata!r}: must be 'keep' or 'strip'")
        formats(",".join(self.formats))

    def for_call(self, target: int | None, metadata: Mapping[str, str]) -> Settings:
        """These settings at one call's target: the caller's choice (`target`, an API request's or a batch job's),
        else the one the upload asks for in its S3 user metadata (TARGET_METADATA), else the configured one."""
        if target is None and TARGET_METADATA in metadata:
            target = preset(metadata[TARGET_METADATA], f"x-amz-meta-{TARGET_METADATA}")
        return self if target is None else replace(self, target=target)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()

        def get(name: str, default: object) -> str:
            return env.get(name, "") or str(default)

        try:
            return cls(
                target=int(get("TARGET", defaults.target)),
                min_quality=int(get("MIN_QUALITY", defaults.min_quality)),
                max_quality=int(get("MAX_QUALITY", defaults.max_quality)),
                verify=_boolean("VERIFY", get("VERIFY", defaults.verify)),
                metadata=get("METADATA", defaults.metadata),
                max_input_bytes=int(get("MAX_INPUT_BYTES", defaults.max_input_bytes)),
                max_pixels=int(get("MAX_PIXELS", defaults.max_pixels)),
                formats=formats(get("FORMATS", ",".join(defaults.formats))),
            )
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"bad number in environment: {exc}") from exc


OUTPUT_SUFFIXES = ("keep", "format")


@dataclass(frozen=True)
class Locations:
    """Where the AWS shell reads uploads and writes outputs."""

    upload_bucket: str = ""
    output_bucket: str = ""
    output_prefix: str = ""
    output_suffix: str = "keep"
    """keep: an output has its upload's key (a drop-in replacement; its Content-Type says JPEG); format: an
    optimized output's key is named as a JPEG's (x.png -> x.jpg), for tools that trust a key's suffix."""

    def __post_init__(self) -> None:
        if self.output_suffix not in OUTPUT_SUFFIXES:
            raise ConfigError(f"OUTPUT_SUFFIX={self.output_suffix!r}: must be 'keep' or 'format'")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Locations:
        env = os.environ if env is None else env
        return cls(env.get("UPLOAD_BUCKET", ""), env.get("OUTPUT_BUCKET", ""), env.get("OUTPUT_PREFIX", ""),
                   env.get("OUTPUT_SUFFIX", "") or "keep")
