"""Every domain error, in one place. Each OptimalImageError carries a stable `reason` code that ends up in tags,
logs and answers; what the edges make of them (HTTP statuses, Batch result codes) is theirs to say."""

from __future__ import annotations


class OptimalImageError(Exception):
    """Base of every error the function raises on purpose. `transient`: a later retry may succeed."""

    transient = False

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Rejected(OptimalImageError):
    """The input cannot be processed as an image (deterministic: retrying cannot help)."""


class KeepOriginal(OptimalImageError):
    """JPEG cannot hold this image faithfully; the original is the right output."""


class StorageError(OptimalImageError):
    """S3 refused or failed a request; `transient` says whether a later retry may succeed."""

    def __init__(self, reason: str, detail: str, transient: bool) -> None:
        super().__init__(reason, detail)
        self.transient = transient


class OutOfTime(OptimalImageError):
    """Too little of the invocation's time is left to start another object; a retry will do it."""

    transient = True


class ConfigError(ValueError):
    """A setting holds a value the function cannot run with: from the environment, or for one call (a request's,
    a batch job's or an upload's target)."""


class ModelError(ValueError):
    """The model file is missing, of another format, or has no entry for a target."""
