"""Which upload an output was made from, and whether an event's upload is older than the one an output holds.

S3 does not deliver events in order: two uploads of one key seconds apart may be processed in either order.
An event names the version it is about (eTag, versionId) and its place in the key's history (sequencer); the
output records the upload's ETag and the sequencer in its user metadata, so that an older upload's event never
replaces a newer one's output.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_ETAG = "optimal-image-source-etag"
"""User metadata on an output: the ETag of the upload it was made from."""
SEQUENCER = "optimal-image-sequencer"
"""User metadata on an output: the sequencer of the event it was made for (absent where none was given)."""
VARIANT = "optimal-image-variant"
"""User metadata on a variant (KEY.avif, KEY.webp): its format, which the key's suffix must match for the object to be
taken as this function's variant of KEY, and so removed when KEY's next upload gets none (pipeline.retire). An
output of an upload that is itself named KEY.avif never carries it."""
VARIANTS = "optimal-image-variants"
"""User metadata on an output: the formats of the variants written beside it ("avif webp"); absent where none were.
A later upload's run learns from it, where its write read the output it replaces, which variants may be left over
even where its own FORMATS lists none."""
RECORDED = (SOURCE_ETAG, SEQUENCER, VARIANT, VARIANTS)


@dataclass(frozen=True)
class SourceVersion:
    """The version of an upload an event names; empty fields where the event has none. Batch tasks and API
    requests name none: they read the current version and write unconditionally (no sequencer to order by)."""

    etag: str = ""
    version_id: str = ""
    sequencer: str = ""

    def read_params(self) -> dict[str, str]:
        """GetObject's parameters that read this version or fail: IfMatch on the eTag, so that an upload
        replaced since the event answers 412 (a newer upload exists, whose own event makes the output); the
        versionId only where there is no eTag (it would read an old version that is no longer current)."""
        if self.etag:
            return {"IfMatch": f'"{self.etag.strip(chr(34))}"'}
        return {"VersionId": self.version_id} if self.version_id else {}


def sequence_key(sequencer: str) -> str:
    """A sequencer made comparable: S3's sequencers are hexadecimal strings of varying length, compared after
    left-padding the shorter with zeros (notification-content-structure, "sequencer", in the S3 user guide:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html)."""
    return sequencer.upper().rjust(64, "0")


def is_older(sequencer: str, stored: str) -> bool:
    """True where an event with `sequencer` happened before the one whose output holds `stored`: its output
    must not replace that one. False where either is unknown (an output written by a batch job, an API call or
    an earlier release; an event without a sequencer), and for the same event again (a retry rewrites)."""
    if not sequencer or not stored:
        return False
    return sequence_key(sequencer) < sequence_key(stored)


def recorded(version: SourceVersion, etag: str) -> dict[str, str]:
    """The user metadata an output carries about its upload: the ETag read, and the event's sequencer."""
    metadata = {SOURCE_ETAG: etag.strip('"')} if etag else {}
    return {**metadata, SEQUENCER: version.sequencer} if version.sequencer else metadata


def listed(metadata: dict[str, str]) -> tuple[str, ...]:
    """The variant formats an output's VARIANTS metadata names."""
    return tuple(metadata.get(VARIANTS, "").split())
