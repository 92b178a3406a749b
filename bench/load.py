"""Load benchmark, not a CI test: `python -m bench.load` (about two minutes on 2 cores).

Starts a moto S3 server on loopback, uploads --uploads objects (--distinct photo-like images made by code,
of varied sizes and formats, reused under many keys), then pushes one S3 event per upload through
s3_event.handle with --workers processes, each with its own App as a Lambda container has. Then checks the
output bucket: one output per upload, none lost, none written twice (the bucket is versioned), each tagged
with an outcome and with bytes_out equal to its size. Reports throughput and the slowest image, and writes
bench/results/load.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import boto3

from bench import publish
from scripts.images import encoded, photo_like
from scripts.s3events import put_event, put_record
from scripts.s3server import moto_server, point_boto3_at

UPLOAD, OUTPUT = "load-upload", "load-output"

_worker: dict[str, object] = {}


@dataclass(frozen=True)
class Timed:
    key: str
    seconds: float
    outcome: str
    reason: str


def distinct_images(count: int) -> list[tuple[str, bytes]]:
    """(description, bytes) of `count` photo-like images from 120x90 to about 1500x1100, mostly JPEG."""
    made = []
    for i in range(count):
        width, height = 120 + 73 * i, 90 + 53 * i
        fmt = "PNG" if i % 5 == 4 else "JPEG"
        options = {} if fmt == "PNG" else {"quality": 80 + i % 18}
        made.append((f"{width}x{height} {fmt}", encoded(photo_like(width, height, seed=i), fmt, **options)))
    return made


def upload_all(images: list[tuple[str, bytes]], uploads: int) -> tuple[list[dict], dict[str, str]]:
    """Put `uploads` objects (image i % len(images) under key i); returns their S3 records and descriptions."""
    s3 = boto3.client("s3")

    def put(i: int) -> tuple[dict, str, str]:
        description, data = images[i % len(images)]
        key = f"load/{i:04d}.{'png' if description.endswith('PNG') else 'jpg'}"
        etag = s3.put_object(Bucket=UPLOAD, Key=key, Body=data)["ETag"]
        return put_record(UPLOAD, key, len(data), etag), key, description

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(put, range(uploads)))
    return [record for record, _, _ in done], {key: description for _, key, description in done}


def _start_worker() -> None:
    from handler.aws import wiring
    from handler.settings import Locations, Settings

    _worker["app"] = wiring.build(Settings(), Locations(upload_bucket=UPLOAD, output_bucket=OUTPUT))


def _handle(record: dict) -> Timed:
    from handler.aws import s3_event

    start = time.perf_counter()
    (result,) = s3_event.handle(_worker["app"], put_event(record))["results"]
    return Timed(result["key"], time.perf_counter() - start, result["outcome"], result.get("reason", ""))


def push(records: list[dict], workers: int) -> tuple[list[Timed], float]:
    """Every record as its own event, spread over `workers` processes; returns the timings and the wall time."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker) as pool:
        list(pool.map(time.sleep, [0.5] * workers))  # starts every worker (imports, model) before the clock
        start = time.perf_counter()
        timed = list(pool.map(_handle, records, chunksize=4))
        return timed, time.perf_counter() - start


def check_outputs(keys: list[str]) -> list[str]:
    """What is wrong with the output bucket, as sentences; empty when every upload has exactly one good output."""
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=OUTPUT)
    written = [v["Key"] for page in pages for v in page.get("Versions", [])]
    problems = []
    if lost := set(keys) - set(written):
        problems.append(f"{len(lost)} uploads have no output, e.g. {sorted(lost)[:3]}")
    if extra := set(written) - set(keys):
        problems.append(f"{len(extra)} outputs match no upload, e.g. {sorted(extra)[:3]}")
    if (twice := len(written) - len(set(written))) > 0:
        problems.append(f"{twice} outputs were written more than once")

    def tag_problem(key: str) -> str | None:
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=OUTPUT, Key=key)["TagSet"]}
        size = s3.head_object(Bucket=OUTPUT, Key=key)["ContentLength"]
        if not tags.get("outcome") or tags.get("bytes_out") != str(size):
            return f"{key}: tags {tags} for {size} bytes"
        return None

    with ThreadPoolExecutor(8) as pool:
        problems += [p for p in pool.map(tag_problem, sorted(set(written) & set(keys))) if p]
    return problems


def report(args: argparse.Namespace, timed: list[Timed], wall: float, described: dict[str, str],
           problems: list[str]) -> str:
    seconds = sorted(t.seconds for t in timed)
    p95 = seconds[int(0.95 * (len(seconds) - 1))]
    slowest = max(timed, key=lambda t: t.seconds)
    outcomes = Counter(f"{t.outcome} ({t.reason})" for t in timed)
    command = (f"python -m bench.load --uploads {args.uploads} --distinct {args.distinct} --workers {args.workers}"
               f" --blas-threads {args.blas_threads}")
    lines = [
        f"# Load: {args.uploads:,} uploads through the S3 handler",
        "",
        (f"Command: `{command}` on {os.cpu_count()} cores; moto S3 server on loopback; one event per upload;"
         " VERIFY on, TARGET 80."),
        "",
        "| figure | value |", "|---|---|",
        f"| events handled | {len(timed)} |",
        f"| wall time | {wall:.1f} s |",
        f"| throughput | {len(timed) / wall:.2f} images/s |",
        f"| per image: median / p95 | {statistics.median(seconds):.3f} s / {p95:.3f} s |",
        (f"| slowest image | {slowest.seconds:.3f} s: {slowest.key} ({described[slowest.key]}; {slowest.outcome},"
         f" {slowest.reason}) |"),
        f"| outputs checked | {'all correct' if not problems else f'{len(problems)} problems'} |",
        "",
        "| outcome (reason) | images |", "|---|---|",
        *(f"| {name} | {count} |" for name, count in sorted(outcomes.items())),
        "",
        "Checks: every upload has exactly one output (output bucket versioned: no key written twice, none",
        "missing, none extra); every output is tagged with an outcome, and its bytes_out tag equals its size.",
        *(f"- PROBLEM: {p}" for p in problems[:20]),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="OpenBLAS threads per worker: more than cores / workers oversubscribes (measured: half "
                             "the throughput with 2 workers x 2 threads on 2 cores)")
    args = parser.parse_args(argv)
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)  # inherited by the workers, read at numpy import
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the workers' per-image log lines would bury the report
    with moto_server() as url:
        point_boto3_at(url)
        s3 = boto3.client("s3")
        for bucket in (UPLOAD, OUTPUT):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=OUTPUT, VersioningConfiguration={"Status": "Enabled"})
        records, described = upload_all(distinct_images(args.distinct), args.uploads)
        timed, wall = push(records, args.workers)
        problems = check_outputs(list(described))
    text = report(args, timed, wall, described, problems)
    publish("load.md", text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
