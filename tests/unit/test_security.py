"""Security checks: the template against AWS's serverless rules, and logs that never carry content or secrets.

The rules are cfn-lint-serverless (a cfn-lint plugin: `cfn-lint --append-rules cfn_lint_serverless.rules`).
checkov was the first choice, but the checkov of today (3.3.x) pins boto3/botocore 1.35, older than the
boto3 1.43 this project pins, and the only checkov that installs beside it is 2.0.708, from 2022.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import boto3
import pytest
from PIL.PngImagePlugin import PngInfo

from handler.aws import s3_event, wiring
from handler.aws.storage import Storage
from handler.result import Result
from handler.settings import Locations, Settings
from scripts.s3events import put_event, put_record
from tests.conftest import PHOTOS, encoded, log_lines, photo_like

ROOT = Path(__file__).resolve().parents[2]
CFN_LINT = Path(sys.executable).with_name("cfn-lint")

NOT_APPLICABLE = {
    "ES6000": "FailedEventsQueue is itself the on-failure destination of the S3-triggered function: a redrive "
    "policy on a dead-letter queue would only move the same failed events to yet another queue",
    "WS1000": "X-Ray tracing: each function makes one S3 read and one write per record and logs every record as "
    "one JSON line with its outcome; traces would add cost and xray permissions and answer no open question",
    "WS2002": "X-Ray tracing of the API stage: as WS1000, the one call behind it is logged by the function",
}
"""Rules that do not apply to this stack, each with the reason. Everything else must pass."""

OPEN = {
    "ES2000": "API stage without access logs: no record of who called POST /optimize or GET /quality. "
    "Access logging needs the account-wide API Gateway CloudWatch role, which a stack should not set for "
    "the whole account; left to the deployer",
}
"""Real findings in template.yaml, reported to its owner with the fix; each test turns red once it is fixed,
so that its entry is removed from here."""


def serverless_findings() -> dict[str, str]:
    """Rule id -> first message, for every serverless rule the template breaks."""
    skip = ",".join(NOT_APPLICABLE)
    command = [str(CFN_LINT), "--append-rules", "cfn_lint_serverless.rules", "--format", "parseable",
               "--ignore-checks", skip, "--", str(ROOT / "template.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert done.returncode in (0, 2, 4, 6, 8, 10, 12, 14), done.stderr  # bit flags for error/warning/info
    findings = {}
    for line in done.stdout.splitlines():
        match = re.match(r"^[^:]+:\d+:\d+:\d+:\d+:([EWI]\S+):(.*)$", line)
        if match:
            findings.setdefault(match.group(1), match.group(2))
    return findings


@pytest.fixture(scope="module")
def findings() -> dict[str, str]:
    return serverless_findings()


@pytest.mark.slow
def test_the_template_breaks_no_serverless_rule_beyond_the_documented_ones(findings):
    assert {rule: message for rule, message in findings.items() if rule not in OPEN} == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    "rule", [pytest.param(rule, marks=pytest.mark.xfail(strict=True, reason=why)) for rule, why in OPEN.items()]
)
def test_the_template_passes_the_serverless_rule(findings, rule):
    assert rule not in findings, findings.get(rule)


# ------------------------------------------------------------------------------------------------- logs
SECRET_TEXT = "CONFIDENTIAL-CONTENT-7f3a9c"
ACCESS_KEY = "AKIAOPTIMALIMAGETEST"
SECRET_KEY = "sEcReT/KeY+for/the-log-test/0123456789ab"
LOG_FIELDS = {f.name for f in fields(Result)} | {"event", "bucket", "key", "output_key", "transient"} | {
    "level", "location", "message", "timestamp", "service", "cold_start", "correlation_id", "request_id",
    "function_name"}  # Powertools' own keys, and an invocation's


def text_chunk(text: str) -> PngInfo:
    info = PngInfo()
    info.add_text("Comment", text)
    return info


def uploads() -> dict[str, bytes]:
    """An optimized photo, a kept PNG, a rejected text and a damaged JPEG, each carrying SECRET_TEXT."""
    marker = SECRET_TEXT.encode()
    photo = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    return {
        "photo.jpg": photo[:2] + b"\xff\xfe" + (len(marker) + 2).to_bytes(2, "big") + marker + photo[2:],  # COM
        "tiny.png": encoded(photo_like(8, 8), "PNG", pnginfo=text_chunk(SECRET_TEXT)),
        "notes.txt": b"meeting notes: " + marker * 10,
        "cut.jpg": encoded(photo_like(), quality=95, comment=marker)[:3000],
    }


def fragments(data: bytes) -> list[str]:
    """How object bytes could show up in a text log: base64, hex, or Python's escaped repr."""
    found = []
    for start in range(0, max(1, len(data) - 24), max(1, len(data) // 8)):
        window = data[start : start + 24]
        found += [base64.b64encode(window).decode(), window.hex(), repr(window)[2:-1]]
    return found


def test_logs_carry_no_object_content_and_no_credentials(s3_url, buckets):
    source, output = buckets
    s3 = boto3.client("s3")
    records = [put_record(source, key, len(data), s3.put_object(Bucket=source, Key=key, Body=data)["ETag"])
               for key, data in uploads().items()]
    records.append(put_record(source, "never-uploaded.jpg", 1, "0"))
    client = boto3.client("s3", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    built = wiring.build(Settings(), Locations(upload_bucket=source, output_bucket=output))
    app = replace(built, storage=Storage(client))
    with log_lines(logging.DEBUG) as lines:  # every line, at every level
        outcomes = [r["outcome"] for r in s3_event.handle(app, put_event(*records))["results"]]
    assert outcomes == ["optimized", "original-kept", "rejected", "rejected", "failed"]

    log = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    assert len(lines) == len(records)
    assert all(set(line) <= LOG_FIELDS for line in lines), [set(line) - LOG_FIELDS for line in lines]
    for secret in (SECRET_TEXT, ACCESS_KEY, SECRET_KEY, "Signature=", "Authorization"):
        assert secret not in log
    for data in uploads().values():
        assert not [f for f in fragments(data) if f in log]
