"""Settings, read once from the environment (the names template.yaml sets) into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

PRESETS = (70, 80, 85, 90)
"""SSIMULACRA2 targets offered: 70 high, 80 very high (default), 85 excellent, 90 visually lossless."""


TARGET_METADATA = "optimal-image-target"
"""The S3 user metadata key (header x-amz-meta-optimal-image-target) by which an upload asks for its own target;
named after the marker (probe.MARKER) so that it cannot be taken for an uploader's own `target`."""


class ConfigError(ValueError):
    """A setting holds a value the function cannot run with: from the environment, or for one call (a request's,
    a batch job's or an upload's target)."""


BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _boolean(name: str, value: str) -> bool:
    """A switch's value; anything else is refused, so that a typo cannot turn VERIFY off unnoticed."""
    try:
        return BOOLEANS[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"{name}={value!r}: must be true or false") from None


@dataclass(frozen=True)
class Settings:
    """Everything the core and the shells need to know, in one typed place."""

    target: int = 80
    min_quality: int = 50
    max_quality: int = 100
    verify: bool = True
    metadata: str = "keep"
    max_input_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 50_000_000
    upload_bucket: str = ""
    output_bucket: str = ""
    output_prefix: str = ""
    target_chosen: bool = False
    """The caller chose `target` for this call (`at_target`): an upload's own TARGET_METADATA then does not apply."""

    def __post_init__(self) -> None:
        if self.target not in PRESETS:
            raise ConfigError(f"TARGET={self.target}: must be one of {PRESETS}")
        if not 1 <= self.min_quality <= self.max_quality <= 100:
            raise ConfigError(
                f"MIN_QUALITY={self.min_quality}, MAX_QUALITY={self.max_quality}: need 1 <= min <= max <= 100"
            )
        if self.metadata not in ("keep", "strip"):
            raise ConfigError(f"METADATA={self.metadata!r}: must be 'keep' or 'strip'")

    def at_target(self, value: object, name: str = "target") -> Settings:
        """These settings with another of the PRESETS as the target: a batch job's or an API request's choice.
        `name` is where the value came from, for the error."""
        if str(value).strip() not in {str(preset) for preset in PRESETS}:
            raise ConfigError(f"{name}={value!r}: must be one of {', '.join(map(str, PRESETS))}")
        return replace(self, target=int(str(value)), target_chosen=True)

    def for_upload(self, metadata: Mapping[str, str]) -> Settings:
        """These settings at the target an upload asks for in its S3 user metadata (TARGET_METADATA), unless the
        caller chose one: the uploader picks the preset per object, an API request or batch job overrides it."""
        if self.target_chosen or TARGET_METADATA not in metadata:
            return self
        return self.at_target(metadata[TARGET_METADATA], f"x-amz-meta-{TARGET_METADATA}")

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
                upload_bucket=env.get("UPLOAD_BUCKET", ""),
                output_bucket=env.get("OUTPUT_BUCKET", ""),
                output_prefix=env.get("OUTPUT_PREFIX", ""),
            )
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"bad number in environment: {exc}") from exc
