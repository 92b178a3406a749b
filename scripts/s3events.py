"""S3 ObjectCreated events in the shapes AWS delivers them: notifications straight or carried by SQS or SNS,
and EventBridge events (see events/)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote_plus

from scripts.s3server import REGION


def encode_key(key: str) -> str:
    """S3 URL-encodes keys in notifications as a form would: spaces as '+', non-ASCII as %XX."""
    return quote_plus(key, safe="/")


def put_record(bucket: str, key: str, size: int, etag: str, sequencer: str = "0A1B2C3D4E5F678901") -> dict:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": "EXAMPLE123456789",
            "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "optimal-image-upload",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": encode_key(key), "size": size, "eTag": etag.strip('"'), "sequencer": sequencer},
        },
    }


def put_event(*records: dict) -> dict:
    return {"Records": list(records)}


def sqs_record(body: dict | str, message_id: str = "059f36b4-87a3-44ab-83d2-661975830a7d") -> dict:
    """An SQS record as Lambda's SQS event source delivers it, with `body` (JSON-encoded if not a string)."""
    return {
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:optimal-image-uploads",
        "awsRegion": REGION,
    }


def sns_envelope(message: dict) -> dict:
    """An SNS notification as SNS sends it on (to SQS without raw delivery; inside Lambda's SNS record)."""
    return {
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": f"arn:aws:sns:{REGION}:123456789012:optimal-image-uploads",
        "Subject": "Amazon S3 Notification",
        "Message": json.dumps(message),
        "Timestamp": "1970-01-01T00:00:00.000Z",
    }


def sns_record(message: dict) -> dict:
    """An SNS record as Lambda's SNS trigger delivers it."""
    return {
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"arn:aws:sns:{REGION}:123456789012:optimal-image-uploads:2bcfbf39",
        "EventSource": "aws:sns",
        "Sns": sns_envelope(message),
    }


def eventbridge_event(detail_type: str, bucket: str, key: str, etag: str = "0123456789abcdef0123456789abcdef",
                      sequencer: str = "617f08299329d189") -> dict:
    """S3's event on EventBridge, as a rule delivers it to Lambda or SQS; its key is not URL-encoded. `etag`:
    the ETag S3 gave the upload (the function reads that version only)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 678, "etag": etag.strip('"'), "sequencer": sequencer},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }
