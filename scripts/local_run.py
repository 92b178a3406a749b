"""The main job on a laptop, no Docker, no AWS account: `make run`.

Starts a moto S3 server on 127.0.0.1, creates the upload and output buckets, uploads the sample
photos (or --images DIR), sends the function one S3 ObjectCreated:Put event per upload, shaped as
AWS sends it (or, with --via, as SQS, SNS or EventBridge carries it), prints what it did, checks the
output tags, and stops the server.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# run as a script (python scripts/local_run.py), so the repository root is put on the path first
from scripts.s3events import eventbridge_event, put_event, put_record, sns_record, sqs_record  # noqa: E402
from scripts.s3server import moto_server, point_boto3_at  # noqa: E402

SAMPLES = ROOT / "tests" / "fixtures" / "photos"
UPLOAD, OUTPUT = "optimal-image-upload", "optimal-image-output"


VIAS = ("s3", "sqs", "sns", "eventbridge")


def delivered(via: str, key: str, size: int, etag: str) -> dict:
    """The event for one upload as `via` delivers it: S3's notification sent straight (as template.yaml wires
    it) or carried by SQS or SNS, or S3's event on EventBridge."""
    if via == "eventbridge":
        return eventbridge_event("Object Created", UPLOAD, key, etag)
    notification = put_event(put_record(UPLOAD, key, size, etag))
    carriers = {"sqs": sqs_record, "sns": sns_record}
    return {"Records": [carriers[via](notification)]} if via in carriers else notification


def files_in(images: Path) -> list[Path]:
    """The files to upload: every file below `images` but its notes (.md)."""
    return sorted(p for p in images.rglob("*") if p.is_file() and p.suffix.lower() != ".md")


def upload_all(s3, images: Path) -> list[tuple[str, int, str]]:
    uploads = []
    for path in files_in(images):
        key = "uploads/" + path.relative_to(images).as_posix()
        response = s3.put_object(Bucket=UPLOAD, Key=key, Body=path.read_bytes())
        uploads.append((key, path.stat().st_size, response["ETag"]))
    return uploads


def tags_of(s3, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=OUTPUT, Key=key)["TagSet"]}


def row(result: dict) -> str:
    saving = 1 - result["bytes_out"] / result["bytes_in"] if result.get("bytes_in") else 0
    quality = result.get("quality") or "-"
    bpp = f"{result['bpp']:.2f}" if result.get("bpp") is not None else "-"
    return (f"{result['key'][:44]:44} {bpp:>6} {quality!s:>7} {result.get('bytes_in', 0):>9} -> "
            f"{result.get('bytes_out', 0):>9} {saving:>7.1%}  {result['outcome']} {result.get('reason', '')}")


def check_tags(s3, result: dict) -> list[str]:
    """The tags on the output must say what the handler returned."""
    tags = tags_of(s3, result["output_key"])
    expected = {"outcome": result["outcome"], "bytes_out": str(result["bytes_out"]),
                "quality": "" if result.get("quality") is None else str(result["quality"])}
    return [
        f"{result['key']}: tag {k}={tags.get(k)!r}, expected {v!r}" for k, v in expected.items() if tags.get(k) != v
    ]


def run(images: Path, target: int | None, via: str) -> int:
    with moto_server() as url:
        point_boto3_at(url)
        os.environ.update(UPLOAD_BUCKET=UPLOAD, OUTPUT_BUCKET=OUTPUT)
        os.environ.setdefault("LOG_LEVEL", "WARNING")  # the table says it all; LOG_LEVEL=INFO shows the JSON log
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # and its metrics documents, false
        if target:
            os.environ["TARGET"] = str(target)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=UPLOAD)
        s3.create_bucket(Bucket=OUTPUT)
        uploads = upload_all(s3, images)
        from handler.aws import s3_event  # after the environment is set: it reads settings at import

        print(f"{'key':44} {'bpp':>6} {'quality':>7} {'bytes in':>9}    {'bytes out':>9} {'saving':>7}  outcome")
        problems, written = [], []
        for key, size, etag in uploads:
            (result,) = s3_event.lambda_handler(delivered(via, key, size, etag))["results"]
            print(row(result))
            problems += check_tags(s3, result) if result.get("output_key") else [f"{key}: no output"]
            written += [result["output_key"]] if result.get("output_key") else []
        total_in = sum(s3.head_object(Bucket=UPLOAD, Key=k)["ContentLength"] for k, _, _ in uploads)
        total_out = sum(s3.head_object(Bucket=OUTPUT, Key=k)["ContentLength"] for k in written)
        saved = 1 - total_out / total_in if total_in else 0.0
        print(f"\n{len(uploads)} uploads, {total_in} -> {total_out} bytes ({saved:.1%} saved)")
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    print("tags checked: " + ("all match" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=SAMPLES, help="folder of images to upload")
    parser.add_argument("--target", type=int, choices=(70, 80, 85, 90))
    parser.add_argument("--via", choices=VIAS, default="s3", help="how each event reaches the function (default s3)")
    args = parser.parse_args(argv)
    if not args.images.is_dir():
        parser.error(f"--images {args.images}: no such folder")  # exits with status 2
    if not files_in(args.images):
        parser.error(f"--images {args.images}: no files to upload in it (.md files are left out)")
    return run(args.images, args.target, args.via)


if __name__ == "__main__":
    sys.exit(main())
