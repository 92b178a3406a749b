"""S3 ObjectCreated:Put events in the shape AWS delivers them (see events/s3-put.json)."""

from __future__ import annotations

import datetime as dt
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
