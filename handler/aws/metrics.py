"""CloudWatch metrics in the Embedded Metric Format (AWS Lambda Powertools): one document per object handled,
written to the function's log, from which CloudWatch makes the metrics: no API call, no extra permission.

Every metric has the dimensions service, outcome and reason, so that one query gives uploads by outcome and
reason and another the bytes saved across all of them. Set POWERTOOLS_METRICS_DISABLED=true to write none (the
local run does)."""

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
