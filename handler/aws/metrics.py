"""CloudWatch metrics in the Embedded Metric Format (AWS Lambda Powertools): one document per object handled,
written to the function's log, from which CloudWatch makes the metrics: no API call, no extra permission.

Every metric has the dimensions service, outcome and reason, so that one query gives uploads by outcome and
reason and another the bytes saved across all of them. An optimized upload with FORMATS asking for variants also
writes one document per variant format, with the dimension format besides (outcome written or skipped; reason
verified, or the skip's: result.Skipped). Set POWERTOOLS_METRICS_DISABLED=true to write none (the local run does)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from handler.log import SERVICE

NAMESPACE = "optimal-image"
"""The CloudWatch namespace (template.yaml's alarms and dashboard read it)."""


def handled(record: Mapping[str, object], seconds: float) -> None:
    """The metrics of one object's record (a Result's fields, or a failure's outcome and reason), `seconds` its
    time: Uploads (count), BytesIn, BytesOut, BytesSaved, Quality, WholeImageChecks, MillisecondsPerMegapixel,
    each where the record has what it needs."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_dimension("outcome", str(record.get("outcome")))
    metrics.add_dimension("reason", str(record.get("reason")))
    metrics.add_metric("Uploads", MetricUnit.Count, 1)
    for name, value, unit in _values(record, seconds):
        metrics.add_metric(name, unit, value)
    metrics.flush_metrics()
    if isinstance(output_bytes := record.get("bytes_out"), int) and output_bytes > 0:
        for variant in _variants(record):
            _variant(variant, output_bytes)


WRITTEN, SKIPPED, VERIFIED = "written", "skipped", "verified"


def _variants(record: Mapping[str, object]) -> list[dict[str, object]]:
    """The record's variants as (format, outcome, reason, bytes): those written, then those skipped."""
    written = [{"format": v["format"], "outcome": WRITTEN, "reason": VERIFIED, "bytes": v["bytes"]}
               for v in record.get("variants") or ()]
    skipped = [{"format": v["format"], "outcome": SKIPPED, "reason": v["reason"], "bytes": v.get("bytes")}
               for v in record.get("variants_skipped") or ()]
    return written + skipped


def _variant(variant: Mapping[str, object], output_bytes: int) -> None:
    """One variant's metrics: Variants (count), and where its bytes are known VariantBytesRatio (its bytes over the
    output's: the JPEG, or the upload kept) and, written, VariantBytesSaved (the output's bytes less
    its own)."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for name in ("format", "outcome", "reason"):
        metrics.add_dimension(name, str(variant[name]))
    metrics.add_metric("Variants", MetricUnit.Count, 1)
    if isinstance(size := variant["bytes"], int):
        metrics.add_metric("VariantBytesRatio", MetricUnit.NoUnit, size / output_bytes)
        if variant["outcome"] == WRITTEN:
            metrics.add_metric("VariantBytesSaved", MetricUnit.Bytes, output_bytes - size)
    metrics.flush_metrics()


def _values(record: Mapping[str, object], seconds: float) -> list[tuple[str, float, MetricUnit]]:
    found: list[tuple[str, float, MetricUnit]] = []
    if isinstance(bytes_in := record.get("bytes_in"), int) and isinstance(bytes_out := record.get("bytes_out"), int):
        found += [("BytesIn", bytes_in, MetricUnit.Bytes), ("BytesOut", bytes_out, MetricUnit.Bytes),
                  ("BytesSaved", bytes_in - bytes_out, MetricUnit.Bytes)]
    if isinstance(quality := record.get("quality"), int):
        found.append(("Quality", quality, MetricUnit.NoUnit))
    if isinstance(checks := record.get("whole_image_checks"), int):
        found.append(("WholeImageChecks", checks, MetricUnit.Count))
    if isinstance(width := record.get("width"), int) and isinstance(height := record.get("height"), int):
        found.append(("MillisecondsPerMegapixel", 1000 * seconds / max(width * height / 1e6, 1e-6),
                      MetricUnit.Milliseconds))
    return found
